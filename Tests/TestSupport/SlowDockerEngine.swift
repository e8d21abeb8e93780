import ExtensionSDK
import Foundation
import Synchronization

/// The REAL Docker engine behind a proxy that answers some requests late
/// (Tests/fakes/docker/slow_engine.py): every request reaches the engine at once and takes
/// effect, but the answer to the first `late` requests matching `match` ("METHOD /path?query")
/// is held back `delay` — a busy engine, as a client that stopped waiting sees it.
public final class SlowDockerEngine: Sendable {
    /// The proxy's Unix socket: use `unix://` + this as the Docker endpoint.
    public let socket: String
    let process: ChildProcess
    let directory: TemporaryDirectory
    private let heldBack = Mutex<[String]>([])

    private let answered = Mutex<[String]>([])

    /// The requests whose answers were held back so far.
    public var heldBackRequests: [String] { heldBack.withLock { $0 } }

    /// The held-back requests whose answers have gone out since.
    public var lateAnswers: [String] { answered.withLock { $0 } }

    public static func start(match: String, delay: Duration, late: Int = 1) async throws -> SlowDockerEngine {
        let dir = try TemporaryDirectory()
        let socket = dir.path + "/docker.sock"
        let script = BuiltProducts.repositoryRoot.appendingPathComponent("Tests/fakes/docker/slow_engine.py").path
        let child = try ChildProcess.spawn(
            "python3",
            arguments: [
                script, "--listen", socket, "--match", match, "--delay", "\(delay.components.seconds)", "--late", "\(late)",
            ])
        child.closeStdin()
        let engine = SlowDockerEngine(socket: socket, process: child, directory: dir)
        let out = child.stdoutFD
        let err = child.stderrFD
        Thread { LineReader.readLoop(fd: out, maxLineBytes: 1 << 20) { _ in } }.start()
        Thread {
            LineReader.readLoop(fd: err, maxLineBytes: 1 << 20) { event in
                guard case .line(let line) = event else { return }
                let text = String(decoding: line, as: UTF8.self)
                if text.hasPrefix("holding back the answer to ") { engine.heldBack.withLock { $0.append(text) } }
                if text.hasPrefix("answering late ") { engine.answered.withLock { $0.append(text) } }
                FileHandle.standardError.write(Data(("slow-engine: " + text + "\n").utf8))
            }
        }.start()
        for _ in 0..<200 {
            if FileManager.default.fileExists(atPath: socket) { return engine }
            if child.exitStatus != nil { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        _ = await child.terminate(grace: .seconds(1))
        throw SlowDockerEngineFailed(description: "the slow-engine proxy (python3 \(script)) did not start")
    }

    init(socket: String, process: ChildProcess, directory: TemporaryDirectory) {
        self.socket = socket
        self.process = process
        self.directory = directory
    }

    public func stop() async { _ = await process.terminate(grace: .seconds(3)) }
}

public struct SlowDockerEngineFailed: Error, CustomStringConvertible {
    public var description: String
}
