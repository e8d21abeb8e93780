import ExtensionSDK
import Foundation

/// A FAKE Nomad agent (Tests/fakes/nomad/fake_nomad.py: the Nomad HTTP API v1 as its public
/// documentation describes it, one node, task commands run as local processes) on a free port,
/// owned by the test that starts it. Nomad itself cannot run here.
public final class FakeNomad: Sendable {
    public let port: Int
    public let address: String
    let process: ChildProcess
    let directory: TemporaryDirectory

    /// Starts the fake. `arguments` are the fake's own options (`--acl-token T`, `--tls-cert C
    /// --tls-key K`, `--node-meta k=v`, `--memory-mb N`).
    public static func start(_ arguments: [String] = [], tls: Bool = false) async throws -> FakeNomad {
        let dir = try TemporaryDirectory()
        let portFile = dir.path + "/port"
        let script = BuiltProducts.repositoryRoot.appendingPathComponent("Tests/fakes/nomad/fake_nomad.py").path
        let child = try ChildProcess.spawn(
            "python3", arguments: [script, "--port-file", portFile, "--data-dir", dir.path + "/data"] + arguments)
        child.closeStdin()
        let out = child.stdoutFD
        let err = child.stderrFD
        Thread { LineReader.readLoop(fd: out, maxLineBytes: 1 << 20) { _ in } }.start()
        Thread {
            LineReader.readLoop(fd: err, maxLineBytes: 1 << 20) { event in
                if case .line(let line) = event { FileHandle.standardError.write(Data("fake-nomad: ".utf8 + line + [0x0A])) }
            }
        }.start()
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let port = Int(text) {
                return FakeNomad(port: port, scheme: tls ? "https" : "http", process: child, directory: dir)
            }
            if child.exitStatus != nil { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        _ = await child.terminate(grace: .seconds(1))
        throw FakeNomadFailed(description: "the fake Nomad (python3 \(script)) did not start")
    }

    init(port: Int, scheme: String, process: ChildProcess, directory: TemporaryDirectory) {
        self.port = port
        self.address = "\(scheme)://127.0.0.1:\(port)"
        self.process = process
        self.directory = directory
    }

    /// A fake-only control (`/fake/faults`, `/fake/node/lose`, `/fake/requests`), over plain HTTP.
    @discardableResult
    public func control(_ method: String, _ path: String, body: JSONValue? = nil) async throws -> HTTPResponse {
        try await SimpleHTTPClient(endpoint: .tcp(host: "127.0.0.1", port: port)).send(
            method, path: path, headers: body == nil ? [:] : ["Content-Type": "application/json"], body: body.map { $0.serialized() },
            timeout: .seconds(10))
    }

    /// Every request the fake saw: method, path, query, body.
    public func requests() async throws -> [JSONValue] {
        try JSONParser().parse(try await control("GET", "/fake/requests").body).arrayValue ?? []
    }

    public func stop() async { _ = await process.terminate(grace: .seconds(3)) }

    public struct FakeNomadFailed: Error, CustomStringConvertible {
        public var description: String
    }
}
