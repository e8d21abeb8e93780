import ExtensionSDK
import Foundation
import GoferHost
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A client sending a body the server refuses hears why instead of hanging (slow clients:
/// ``SlowClientTests``).
@Suite(.serialized)
struct ConnectionHygieneTests {
    @Test(.timeLimit(.minutes(2))) func aBodyTheServerRefusesGetsItsAnswerNotAHang() async throws {
        let h = try await ServerHarness { $0.connectionLimits.bodyTimeout = .seconds(5) }
        return try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            // 12 MB: far over the API's body limit; the server answers 413 before reading it all.
            let huge = JSONValue.object(["config": .string(String(repeating: "x", count: 12 << 20))])
            let client = try h.client(port: port)
            let start = ContinuousClock.now
            do {
                let _: ApplyResult = try await client.call("POST", "/api/namespaces/default/pipelines", body: huge)
                Issue.record("a 12 MB body was accepted")
            } catch let error as APIError {
                print("a 12 MB body: \(error.status) \(error.message) after \(ContinuousClock.now - start)")
                // The server's 413 — or, when the server's close (with the rest unread) reset the
                // connection before the client read the answer (a loaded machine), the client's
                // own word for it. Either way an answer, not the hang this test is about.
                #expect(
                    (error.status == 413 && error.code == "too_large") || error.message.contains("(a body over its size limit?)"),
                    "\(error)")
            }
            // The CLI checks a config's size before sending it: the 10 MB file that hung it fails at once.
            let file = h.dir.path + "/big.yaml"
            try Data(("id: big\ntasks: [{ id: t, run: x }]\n# " + String(repeating: "x", count: 10 << 20) + "\n").utf8).write(to: URL(fileURLWithPath: file))
            let apply = try await ChildProcess.run(
                BuiltProducts.path("gofer"), arguments: ["pipeline", "apply", file, "--host", "127.0.0.1:\(port)"],
                environment: ["GOFER_TOKEN": h.adminToken, "PATH": "/usr/bin:/bin"], timeout: .seconds(60))
            #expect(apply.status == .exited(1), "\(apply.status)")
            #expect(String(decoding: apply.stderr, as: UTF8.self).contains("the limit is 1048576 bytes"), "\(String(decoding: apply.stderr, as: UTF8.self))")
        }
    }
}
