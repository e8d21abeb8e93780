import ExtensionSDK
import Foundation
import GoferHost
import TestSupport
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Kill -9 the server at random moments while runs of a DAG with random sleeps execute on real
/// Docker; restart it each time; then check the invariants. The seed is printed (and can be set
/// with GOFER_SOAK_SEED) so a failure reproduces. Bounded: 6 runs, 3 kills, about a minute.
struct CrashSoakTests {
    struct SeededRandom: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// A child process of `parent` whose command name starts with `name`.
    static func child(of parent: Int32, named name: String) -> Int32? {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
            else { continue }
            let comm = stat[stat.index(after: open)..<close]
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 2, Int32(fields[1]) == parent, comm.hasPrefix(name.prefix(15)) { return pid }
        }
        return nil
    }

    /// The server process of the soak, whichever one is current, so a failure can stop it.
    final class CurrentServer: Sendable {
        let process = Mutex<RecoveryTests.ServerProcess?>(nil)
        func set(_ server: RecoveryTests.ServerProcess) { process.withLock { $0 = server } }
    }

    /// Removes the task containers of a pipeline (a failed soak stops where it is).
    static func removeContainers(pipeline: String) async {
        let docker = SimpleHTTPClient(endpoint: .unix(path: "/var/run/docker.sock"))
        let filter = "{\"label\":[\"gofer.pipeline=\(pipeline)\"]}".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        guard let list = try? await docker.send("GET", path: "/v1.41/containers/json?all=1&filters=\(filter)"),
            let containers = (try? JSONParser().parse(list.body))?.arrayValue
        else { return }
        for c in containers {
            if let id = c["Id"]?.stringValue { _ = try? await docker.send("DELETE", path: "/v1.41/containers/\(id)?force=1&v=1") }
        }
    }

    @Test func serverKillsLoseNoRunAndStartNoTaskTwice() async throws {
        guard try await DockerAvailability.check() else { return }
        let seed = ProcessInfo.processInfo.environment["GOFER_SOAK_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...999_999)
        let pipeline = "soak-\(seed)-\(UUID().uuidString.prefix(4).lowercased())"
        let current = CurrentServer()
        do {
            try await soak(seed: seed, pipeline: pipeline, current: current)
        } catch {
            // A soak that fails half-way leaves nothing running: its server and its task containers go.
            if let server = current.process.withLock({ $0 }) { await server.kill9() }
            await Self.removeContainers(pipeline: pipeline)
            throw error
        }
    }

    func soak(seed: UInt64, pipeline: String, current: CurrentServer) async throws {
        print("crash soak: seed \(seed) (rerun with GOFER_SOAK_SEED=\(seed))")
        var rng = SeededRandom(state: seed)
        let dir = try TemporaryDirectory()
        let port = FreePort.next()
        func sleepFor() -> String { String(format: "%.1f", Double.random(in: 0.2...1.5, using: &rng)) }
        let tasks = [("a", [String]()), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"])]
        let config =
            "id: \(pipeline)\ntasks:\n"
            + tasks.map { id, deps in
                "  - { id: \(id), image: busybox:latest, depends_on: [\(deps.joined(separator: ", "))], command: [\"sh\", \"-c\", \"echo start-\(id); sleep \(sleepFor()); echo end-\(id)\"] }"
            }.joined(separator: "\n") + "\n"
        // What happened to each task execution's containers (create, start, destroy), from a live
        // event stream: dockerd keeps only a short history of events, which other tests'
        // containers can push out before the soak ends.
        let history = Mutex<[String: [String]]>([:])
        let docker = SimpleHTTPClient(endpoint: .unix(path: "/var/run/docker.sock"))
        let filter =
            "{\"type\":[\"container\"],\"event\":[\"create\",\"start\",\"destroy\"],\"label\":[\"gofer.pipeline=\(pipeline)\"]}"
        let watcher = Task {
            var pending: [UInt8] = []
            for try await event in docker.stream(
                "GET", path: "/v1.41/events?filters=" + (filter.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""), timeout: nil)
            {
                guard case .body(let bytes) = event else { continue }
                pending += bytes
                while let nl = pending.firstIndex(of: 0x0A) {
                    let line = Array(pending[..<nl])
                    pending.removeSubrange(...nl)
                    guard let e = try? JSONParser().parse(line), let attrs = e["Actor"]?["Attributes"],
                        let action = e["Action"]?.stringValue ?? e["status"]?.stringValue
                    else { continue }
                    let key = "\(attrs["gofer.run"]?.stringValue ?? "?")/\(attrs["gofer.task"]?.stringValue ?? "?")"
                    let container = e["Actor"]?["ID"]?.stringValue?.prefix(12) ?? "?"
                    history.withLock { $0[key, default: []].append("\(action) \(container)") }
                }
            }
        }
        defer { watcher.cancel() }
        try await Task.sleep(for: .milliseconds(300))  // the stream is open before the first container

        var server = try await RecoveryTests.ServerProcess(dataDir: dir.path, port: port)
        current.set(server)
        let _: ApplyResult = try await server.client.call("POST", "/api/namespaces/default/pipelines", body: ["config": .string(config)])
        var runs: [Int] = []
        let kills = 3
        for k in 0..<kills {
            for _ in 0..<2 {
                let r: Run = try await server.client.call("POST", "/api/namespaces/default/pipelines/\(pipeline)/runs", body: [:])
                runs.append(r.id)
            }
            try await Task.sleep(for: .milliseconds(Int64.random(in: 300...2500, using: &rng)))
            print("crash soak: kill -9 #\(k + 1)")
            await server.kill9()
            server = try await RecoveryTests.ServerProcess(dataDir: dir.path, port: port)
            current.set(server)
            // And the scheduler extension, under the restarted server.
            try await Task.sleep(for: .milliseconds(Int64.random(in: 200...1200, using: &rng)))
            if let ext = Self.child(of: server.process.pid, named: "gofer-scheduler") {
                print("crash soak: kill -9 of the scheduler extension (pid \(ext))")
                kill(ext, SIGKILL)
            }
        }
        let client = server.client
        var details: [RunDetail] = []
        for r in runs {
            var d: RunDetail = try await client.call("GET", "/api/namespaces/default/pipelines/\(pipeline)/runs/\(r)")
            for _ in 0..<1800 where !d.run.state.isTerminal {
                try await Task.sleep(for: .milliseconds(100))
                d = try await client.call("GET", "/api/namespaces/default/pipelines/\(pipeline)/runs/\(r)")
            }
            details.append(d)
        }
        await server.stop()

        // Every run reached a terminal state, and (nothing failed on its own) succeeded.
        for d in details {
            #expect(
                d.run.state == .succeeded,
                "seed \(seed), run \(d.run.id): \(d.run.state) \(String(describing: d.run.reason)) \(d.tasks.map { "\($0.task)=\($0.state) \($0.reason?.message ?? "")" }) containers: \(history.withLock { $0 }.filter { $0.key.hasPrefix("\(d.run.id)/") }.sorted { $0.key < $1.key })"
            )
            for t in d.tasks {
                // States match exit codes.
                #expect(
                    (t.state == .succeeded) == (t.exitCode == 0),
                    "run \(d.run.id) task \(t.task): \(t.state) exit \(String(describing: t.exitCode))")
                // Logs of finished tasks are complete (no loss, no duplicates after re-attach).
                let log =
                    (try? String(contentsOfFile: "\(dir.path)/logs/default/\(pipeline)/\(d.run.id)/\(t.task).log", encoding: .utf8)) ?? ""
                #expect(log == "start-\(t.task)\nend-\(t.task)\n", "run \(d.run.id) task \(t.task) log: \(log.debugDescription)")
            }
        }
        // Each task execution ran in exactly one container: started once (a container created and
        // dropped before it started never ran anything).
        try await Task.sleep(for: .milliseconds(300))  // the last events reach the watcher
        let seen = history.withLock { $0 }
        let started = seen.mapValues { $0.filter { $0.hasPrefix("start ") }.count }
        #expect(
            started.filter { $0.value > 0 }.count == runs.count * tasks.count,
            "seed \(seed): \(started.filter { $0.value > 0 }.count) task executions started containers, expected \(runs.count * tasks.count); containers: \(seen.sorted { $0.key < $1.key })"
        )
        #expect(
            started.values.allSatisfy { $0 <= 1 },
            "seed \(seed): a task execution ran in more than one container: \(seen.filter { (started[$0.key] ?? 0) > 1 })")
        // No container is left behind (removal is housekeeping after each task's end, which can trail
        // the run's end a little), and the database is intact.
        let left = try await DockerLeftovers.containers(label: "gofer.pipeline=\(pipeline)")
        #expect(left == "[]\n", "containers left: \(left.prefix(300))")
        if left != "[]\n" { await Self.removeContainers(pipeline: pipeline) }
        let store = try SQLStore(path: dir.path + "/gofer.sqlite")
        #expect(try await store.integrityCheck() == "ok")
        print(
            "crash soak: seed \(seed), \(runs.count) runs, \(kills) server kills + \(kills) extension kills, \(started.count) task executions, all invariants checked"
        )
    }
}
