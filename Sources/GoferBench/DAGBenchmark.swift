import ExtensionSDK
import Foundation
import GoferHost

/// A 10-task busybox DAG in waves of 4, 4 and 2, run by Gofer on each scheduler asked for
/// (Docker; Swarm when the engine is a Swarm manager), against a shell script doing the same
/// `docker run`s with the same parallelism — rounds alternate between them, in the same run.
struct DAGBenchmark {
    let rounds: Int
    /// Schedulers to time, by installed name (`docker`, `swarm`).
    let schedulers: [String]

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

    /// The same waves as Swarm jobs through the docker CLI, each waiting for its job to complete.
    static let swarmScript = """
        set -e
        wave() { for t in "$@"; do docker service create -q --detach=false --mode replicated-job --restart-condition none --name gofer-bench-$t busybox:latest echo $t >/dev/null 2>&1 & done; wait; for t in "$@"; do docker service rm gofer-bench-$t >/dev/null; done; }
        wave a1 a2 a3 a4
        wave b1 b2 b3 b4
        wave c1 c2
        """

    /// Removes the Swarm baseline's task containers: the engine removes a removed service's
    /// containers in the background, after the timed script (untimed, as Gofer's own removal is).
    static let swarmCleanup = """
        for i in $(seq 1 100); do
            left=$(docker ps -aq --filter label=com.docker.swarm.service.name | xargs -r docker inspect --format '{{.Id}} {{index .Config.Labels "com.docker.swarm.service.name"}}' | awk '$2 ~ /^gofer-bench-/ {print $1}')
            [ -z "$left" ] && exit 0
            [ "$i" -gt 30 ] && echo "$left" | xargs -r docker rm -f >/dev/null
            sleep 0.1
        done
        """

    func run() async throws {
        var servers: [(name: String, server: BenchServer)] = []
        do {
            for name in schedulers {
                let server = try await BenchServer.start { $0.scheduler = name }
                servers.append((name, server))
                try await server.apply(Self.pipeline, file: "bench-dag.yaml")
            }
            try await measure(servers)
        } catch {
            // Stopped before the error is reported: a failed benchmark leaves no server or data folder.
            for (_, server) in servers { await server.stop() }
            if schedulers.contains("swarm") { _ = try? await timeShell(Self.swarmCleanup) }
            throw error
        }
        for (_, server) in servers { await server.stop() }
        if schedulers.contains("swarm") { _ = try await timeShell(Self.swarmCleanup) }
    }

    func measure(_ servers: [(name: String, server: BenchServer)]) async throws {
        var times: [String: [Double]] = [:]
        var shell: [Double] = []
        var swarmShell: [Double] = []
        let withSwarm = schedulers.contains("swarm")
        // One warm-up of each, not counted.
        _ = try await timeShell(Self.script)
        if withSwarm {
            _ = try await timeShell(Self.swarmScript)
            _ = try await timeShell(Self.swarmCleanup)
        }
        for (_, server) in servers { _ = try await timeGofer(server) }
        for _ in 0..<rounds {
            shell.append(try await timeShell(Self.script))
            if withSwarm {
                swarmShell.append(try await timeShell(Self.swarmScript))
                _ = try await timeShell(Self.swarmCleanup)
            }
            for (name, server) in servers { times[name, default: []].append(try await timeGofer(server)) }
        }
        let sm = Stats.median(shell)
        print("gofer-bench dag: 10 busybox tasks in waves 4-4-2, \(rounds) rounds each, alternating, after one warm-up")
        print("  shell script (docker run, same parallelism)   \(Stats.spread(shell)) s")
        if withSwarm { print("  shell script (swarm jobs via the docker CLI)  \(Stats.spread(swarmShell)) s") }
        for (name, _) in servers {
            let t = times[name] ?? []
            print(
                "  gofer, \(name) scheduler".padding(toLength: 47, withPad: " ", startingAt: 0)
                    + "\(Stats.spread(t)) s   ratio to the script \(String(format: "%.2f", Stats.median(t) / sm))×")
        }
        if let docker = times["docker"], let swarm = times["swarm"] {
            print(
                String(
                    format: "  swarm / docker: %.2f×; gofer on swarm / swarm jobs via the CLI: %.2f×", Stats.median(swarm) / Stats.median(docker),
                    Stats.median(swarm) / Stats.median(swarmShell)))
        }
    }

    func timeGofer(_ bench: BenchServer) async throws -> Double {
        let start = ContinuousClock.now
        let done = try await bench.run("bench-dag")
        guard done.state == .succeeded else {
            throw ServerError("benchmark run \(done.id) \(done.state.rawValue): \(done.reason?.message ?? "")")
        }
        return Stats.seconds(ContinuousClock.now - start)
    }
}
