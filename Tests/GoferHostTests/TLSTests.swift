import ExtensionSDK
import Foundation
import GoferHost
import TestSupport
import Testing

/// The server speaking HTTPS itself (`tls_cert` / `tls_key`), and the CLI talking to it.
@Suite(.serialized)
struct TLSTests {
    /// A throwaway CA and a server certificate for 127.0.0.1 signed by it (openssl).
    static func certificates(in dir: String) async throws -> (ca: String, cert: String, key: String) {
        let script = """
            set -e
            cd "\(dir)"
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=gofer-test-ca 2>/dev/null
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext 2>/dev/null
            """
        let r = try await ChildProcess.run("/bin/sh", arguments: ["-c", script], environment: ProcessInfo.processInfo.environment)
        guard r.status == .exited(0) else { throw ServerError("openssl failed: \(String(decoding: r.stderr, as: UTF8.self))") }
        return (dir + "/ca.pem", dir + "/server.pem", dir + "/server.key")
    }

    @Test func theServerSpeaksHTTPSAndTheCLITrustsItsCA() async throws {
        let certs = try TemporaryDirectory()
        let (ca, cert, key) = try await Self.certificates(in: certs.path)
        let h = try await ServerHarness {
            $0.tlsCert = cert
            $0.tlsKey = key
        }
        return try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            #expect(h.server.taskAPIURL.hasPrefix("https://"), "tasks are told to use HTTPS: \(h.server.taskAPIURL)")
            let e2e = EndToEndTests()
            let env = ["GOFER_TOKEN": h.adminToken, "GOFER_CLI_CONFIG": h.dir.path + "/cli.json"]
            var (status, out) = try await e2e.gofer(["whoami", "--host", "https://127.0.0.1:\(port)", "--ca-cert", ca], env: env)
            #expect(status == .exited(0) && out.contains("admin"), "\(out)")
            (status, out) = try await e2e.gofer(["pipeline", "list", "--host", "https://127.0.0.1:\(port)"], env: env.merging(["GOFER_CA_CERT": ca]) { _, b in b })
            #expect(status == .exited(0), "\(out)")
            // An authority the CLI does not trust: refused, not silently accepted.
            (status, out) = try await e2e.gofer(["whoami", "--host", "https://127.0.0.1:\(port)"], env: env)
            #expect(status == .exited(1) && out.contains("cannot reach"), "\(out)")
            // Plain HTTP to the HTTPS port gets nothing useful.
            let plain = try? await SimpleHTTPClient(endpoint: .tcp(host: "127.0.0.1", port: port)).send(
                "GET", path: "/api/health", timeout: .seconds(2))
            #expect(plain == nil || plain?.status != 200)
        }
    }

    @Test func aHalfTLSConfigIsRefusedAtStart() throws {
        var s = ServerSettings()
        s.tlsCert = "/nonexistent.pem"
        #expect(throws: ServerSettings.Problem.self) { try s.validate() }
        s.tlsKey = "/nonexistent.key"
        #expect { try s.validate() } throws: { "\($0)".contains("cannot read /nonexistent.pem") }
    }
}
