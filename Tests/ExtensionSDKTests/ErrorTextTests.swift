import ExtensionSDK
import Foundation
import Testing

/// How errors read wherever they surface: one formatter, so an extension author's message, a
/// host's log line and a task's state reason say the same thing the same way.
struct ErrorTextTests {
    struct Settings: Decodable { var every: String }

    @Test func aProtocolErrorShowsItsDiagnosticsNotItsCodes() {
        let error = ProtocolError(.invalidParams, "bad settings", diagnostics: [Diagnostic(path: "/every", message: "shorter than 1s")])
        #expect(ErrorText.describe(error) == "bad settings (/every: shorter than 1s)")
    }

    @Test func aDecodingErrorNamesThePathThatWasWrong() throws {
        let missing = #expect(throws: DecodingError.self) { try JSONDecoder().decode([Settings].self, from: Data(#"[{"every": "5s"}, {}]"#.utf8)) }
        #expect(ErrorText.describe(try #require(missing)) == "at /1/every: required but missing")
        let wrongType = #expect(throws: DecodingError.self) { try JSONDecoder().decode(Settings.self, from: Data(#"{"every": 5}"#.utf8)) }
        #expect(ErrorText.describe(try #require(wrongType)).hasPrefix("at /every: expected String"))
    }

    @Test func aWrappingErrorSaysWhatFailedThenWhy() {
        let cause = ProtocolError(.unavailable, "connection refused")
        #expect(ErrorText.wrapping("Vault at http://vault:8200 is unreachable", cause) == "Vault at http://vault:8200 is unreachable: connection refused")
        #expect(ErrorText.wrapping("", cause) == "connection refused", "no dangling colon without a what")
        #expect(ErrorText.wrapping("nothing underneath", nil) == "nothing underneath")
        let thrown = ProtocolError(.unavailable, "Vault at http://vault:8200 is unreachable", cause: cause, retryable: true)
        #expect(thrown.message == "Vault at http://vault:8200 is unreachable: connection refused" && thrown.retryable && thrown.code == .unavailable)
    }
}

extension ErrorTextTests {
    @Test func aFileErrorReadsAsFoundationsSentence() {
        let missing = #expect(throws: (any Error).self) { try Data(contentsOf: URL(fileURLWithPath: "/nonexistent/gofer-\(UUID().uuidString)")) }
        let text = ErrorText.describe(missing ?? ProtocolError(.internalError, "no error"))
        #expect(text.contains("gofer-") || text.lowercased().contains("no such file"), "\(text)")
        #expect(!text.contains("Error Domain="), "not the NSError dump: \(text)")
    }
}
