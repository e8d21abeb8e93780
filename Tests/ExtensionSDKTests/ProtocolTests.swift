import ExtensionSDK
import Testing

struct ProtocolVersionTests {
    @Test func negotiatesHighestCommonMajorAtTheLowerMinor() {
        let mine = [ProtocolVersion(1, 3), ProtocolVersion(2, 1)]
        #expect(
            ProtocolVersion.negotiate(offered: [ProtocolVersion(2, 4), ProtocolVersion(1, 9)], supported: mine) == ProtocolVersion(2, 1))
        #expect(ProtocolVersion.negotiate(offered: [ProtocolVersion(1, 0)], supported: mine) == ProtocolVersion(1, 0))
        #expect(ProtocolVersion.negotiate(offered: [ProtocolVersion(3, 0)], supported: mine) == nil)
    }

    @Test(arguments: ["v1", "1", "1.0.0", "", "1.x", "-1.0", "+1.0"])
    func rejectsMalformedVersions(_ text: String) {
        #expect(ProtocolVersion(text) == nil)
    }
}

struct FrameTests {
    @Test func decodesRequestsNotificationsAndResponses() throws {
        guard case .request(.int(7), "health", let params) = try Frame.decode(Array(#"{"jsonrpc":"2.0","id":7,"method":"health"}"#.utf8))
        else {
            Issue.record("not a request")
            return
        }
        #expect(params == .emptyObject)
        guard case .notification("$/cancel", _) = try Frame.decode(Array(#"{"jsonrpc":"2.0","method":"$/cancel","params":{"id":1}}"#.utf8))
        else {
            Issue.record("not a notification")
            return
        }
        guard
            case .response(.string("e1"), .failure(let error)) = try Frame.decode(
                Array(
                    #"{"jsonrpc":"2.0","id":"e1","error":{"code":-32053,"message":"gone","data":{"reason":"NOT_FOUND","retryable":false}}}"#
                        .utf8))
        else {
            Issue.record("not an error response")
            return
        }
        #expect(error.code == .notFound && error.message == "gone")
    }

    @Test func framesAreSingleLinesThatRoundTrip() throws {
        let frame = Frame.request(id: .string("ü"), method: "x/y", params: ["text": "a\nb"])
        #expect(frame.last == 0x0A)
        #expect(frame.dropLast().contains(0x0A) == false)
        guard case .request(.string("ü"), "x/y", let params) = try Frame.decode(frame.dropLast()) else {
            Issue.record("round trip failed")
            return
        }
        #expect(params["text"] == "a\nb")
    }

    @Test func recoversTheIdOfAnOversizedFrame() {
        #expect(Frame.sniffID(in: Array(#"{"jsonrpc":"2.0","id": 42,"method":"#.utf8)) == .int(42))
        #expect(Frame.sniffID(in: Array(#"{"id":"abc","x":"#.utf8)) == .string("abc"))
        #expect(Frame.sniffID(in: Array(#"{"method":"x","params":{"pad":"aaaa"#.utf8)) == nil)
    }

    @Test func errorsCarryReasonRetryableAndDiagnostics() {
        let error = ProtocolError.invalidParams(diagnostics: [Diagnostic(path: "/image", message: "must not be empty")])
        #expect(error.json["data"]?["reason"] == "INVALID_PARAMS")
        #expect(error.json["data"]?["retryable"] == false)
        #expect(error.message.contains("/image"))
        #expect(ProtocolError(.unavailable, "daemon down").retryable)
    }
}

struct UtilityTests {
    @Test(arguments: [("90s", 90_000), ("5m", 300_000), ("1h30m", 5_400_000), ("250ms", 250), ("1.5s", 1500), ("0s", 0)])
    func parsesDurations(_ text: String, _ ms: Int64) {
        #expect(DurationText.parse(text) == .milliseconds(ms))
    }

    @Test(arguments: ["", "5", "m", "5x", "-5m", "5 m m"])
    func rejectsBadDurations(_ text: String) {
        #expect(DurationText.parse(text) == nil)
    }

    @Test func formatsDurations() {
        #expect(DurationText.format(.seconds(5400)) == "1h30m")
        #expect(DurationText.format(.milliseconds(250)) == "250ms")
    }

    @Test(arguments: ["../../etc/passwd", "a/../b", "/abs", "", "a\u{0}b", "a\nb", "a//b", "./a", String(repeating: "k", count: 513)])
    func refusesUnsafeSecretKeys(_ key: String) {
        #expect(!SecretKey.problems(key).isEmpty)
    }

    @Test func acceptsOrdinarySecretKeys() {
        #expect(SecretKey.problems("global/deploy-key").isEmpty)
        #expect(SecretKey.problems("pipeline/default/my-app/TOKEN").isEmpty)
    }
}
