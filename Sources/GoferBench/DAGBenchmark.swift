import ExtensionSDK
import Foundation
import GoferHost

/// A 10-task busybox DAG in waves of 4, 4 and 2, run by Gofer on Docker, against a shell script
/// doing the same `docker run`s with the same parallelism — alternating, in the same run.
struct DAGBenchmark {
    let rounds: Int

    static let pipeline = """
        id: bench-dag
        tasks:
        \((1...4).map { "  - { id: a\($0), image: busybox:latest, command: [\"echo\", \"a\($0)\"] }" }.joined(separator: "\n"))
        \((1...4).map { "  - { id: b\($0), image: busybox:latest, command: [\"echo\", \"b\($0)\"], depends_on: [a1, a2, a3, a4] }" }.joined(separator: "\n"))
        \((1...2).map { "  - { id: c\($0), image: busybox:latest, command: [\"echo\", \"c\($0)\"], depends_on: [b1, b2, b3, b4] }" }.joined(separator: "\n"))

        """

    static let script = """
        set -e
        for t in a1 a2 a3 a4; do docker run --rm busybox:latest echo $t >/dev/null & done; wait
        for t in b1 b2 b3 b4; do docker run --rm busybox:latest echo $t >/dev/null & done; wait
        for t in c1 c2; do docker run --rm busybox:latest echo $t >/dev/null & done; wait
        """

    func run() async throws {
        let dir = NSTemporaryDirectory() + "gofer-bench-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var settings = ServerSettings()
        try settings.set("data_dir", dir, source: "bench")
        try settings.set("log_level", "warning", source: "bench")
        let server = try await GoferServer(settings: settings)
        defer { Task { await server.stop() } }
        let config = try server.api.loader.load(Self.pipeline, file: "bench-dag.yaml")
        _ = try await server.store.apply(namespace: "default", config: config)

        var gofer: [Double] = []
        var shell: [Double] = []
        // One warm-up of each, not counted.
        _ = try await timeGofer(server)
        _ = try await timeShell(Self.script)
        for _ in 0..<rounds {
            shell.append(try await timeShell(Self.script))
            gofer.append(try await timeGofer(server))
        }
        let gm = Stats.median(gofer)
        let sm = Stats.median(shell)
        print("gofer-bench dag: 10 busybox tasks in waves 4-4-2, \(rounds) rounds each, alternating, after one warm-up")
        print(
            String(
                format: "  shell script (docker run, same parallelism)  median %.2f s   runs %@", sm,
                shell.map { String(format: "%.2f", $0) }.joined(separator: " ")))
        print(
            String(
                format: "  gofer (engine + Docker extension)            median %.2f s   runs %@", gm,
                gofer.map { String(format: "%.2f", $0) }.joined(separator: " ")))
        print(String(format: "  ratio gofer / script: %.2f× (goal ≤ 1.10×)", gm / sm))
    }

    func timeGofer(_ server: GoferServer) async throws -> Double {
        let start = ContinuousClock.now
        let run = try await server.engine.startRun(namespace: "default", pipeline: "bench-dag", initiator: .system)
        let done = try await server.engine.waitForRun(namespace: "default", pipeline: "bench-dag", run: run.id)
        guard done.state == .succeeded else {
            throw ServerError("benchmark run \(run.id) \(done.state.rawValue): \(done.reason?.message ?? "")")
        }
        return Stats.seconds(ContinuousClock.now - start)
    }
}
