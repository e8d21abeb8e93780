import Foundation
import TestSupport
import Testing

/// Errors keep their cause (a typed error's `cause`, `ProtocolError(…, cause:)`) and become text in
/// one place, `ErrorText` — never by interpolating an error where it is caught, which loses the
/// cause and reads as a Swift debug dump ("storageFull(path: …)", "Error Domain=…").
struct ErrorFlatteningTests {
    static let flattenings = [#"\(error)"#, "String(describing: error)", "error.localizedDescription"]

    @Test func noErrorIsFlattenedWhereItIsCaught() throws {
        let root = BuiltProducts.repositoryRoot
        var found: [String] = []
        for directory in ["Sources", "Extensions"] {
            guard let walker = FileManager.default.enumerator(at: root.appendingPathComponent(directory), includingPropertiesForKeys: nil) else {
                continue
            }
            for case let url as URL in walker where url.pathExtension == "swift" && url.lastPathComponent != "ErrorText.swift" {
                let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
                for (i, line) in lines.enumerated() where Self.flattenings.contains(where: line.contains) {
                    found.append("\(url.path.dropFirst(root.path.count + 1)):\(i + 1)")
                }
            }
        }
        #expect(
            found.isEmpty,
            "errors turned into text where they were caught (keep the cause: `SomeError(…, cause: error)`, `ProtocolError(code, \"what failed\", cause: error)`, or `ErrorText.wrapping(\"what failed\", error)` for a message): \(found)"
        )
    }
}
