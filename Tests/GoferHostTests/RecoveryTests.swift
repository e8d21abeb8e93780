import ExtensionSDK
import Foundation
import GoferHost
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `kill -9` of the server mid-run, then a restart on the same data directory, on real Docker.
@Suite(.serialized)
struct RecoveryTests {
    /// A `gofer service start` process. Its clients follow it: a restarted server may listen on
    /// another port (one taken meanwhile is retried with a fresh one).
    final class ServerProcess: Sendable {
        let process: ChildProcess
        let client: APIClient

        init(dataDir: String, port: Int, stopGrace: String = "1s", environment: [String: String] = [:]) async throws {
            var env = ProcessInfo.processInfo.environment.merging(environment) { _, given in given }
            env["GOFER_EXTENSIONS_DIR"] = BuiltProducts.directory
            env["GOFER_LOG_LEVEL"] = "warning"
            env["GOFER_TASK_TIMEOUT_MIN"] = "1s"
            env["GOFER_STOP_GRACE"] = stopGrace
            var port = port
            var failure = ""
            for _ in 0..<3 {
                let process = try ChildProcess.spawn(
                    BuiltProducts.path("gofer"), arguments: ["service", "start", "--data-dir", dataDir, "--listen", "127.0.0.1:\(port)"],
                    environment: env)
                process.closeStdin()
                let out = process.stdoutFD
                let err = process.stderrFD
                let stderr = Mutex<[String]>([])
                Thread { LineReader.readLoop(fd: out, maxLineBytes: 1 << 20) { _ in } }.start()
                Thread {
                    LineReader.readLoop(fd: err, maxLineBytes: 1 << 20) { event in
                        if case .line(let bytes) = event {
                            stderr.withLock { $0 = Array(($0 + [String(decoding: bytes, as: UTF8.self)]).suffix(20)) }
                        }
                    }
                }.start()
                let client = try APIClient(address: "127.0.0.1:\(port)")
                for _ in 0..<2400 {  // 120 s: a loaded machine (a hundred containers starting) starts slowly
                    if (try? await client.raw("GET", "/api/health")) != nil {
                        self.process = process
                        // The first start wrote an admin token before it began to listen.
                        let token = try String(contentsOfFile: AdminBootstrap.tokenFile(dataDir: dataDir), encoding: .utf8)
                        self.client = try APIClient(address: "127.0.0.1:\(port)", token: token.trimmingCharacters(in: .whitespacesAndNewlines))
                        return
                    }
                    if process.exitStatus != nil { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                _ = await process.terminate(grace: .seconds(2))
                try await Task.sleep(for: .milliseconds(100))  // the stderr reader's last lines
                failure = "exit \(String(describing: process.exitStatus)); stderr:\n" + stderr.withLock { $0.joined(separator: "\n") }
                guard failure.contains("cannot listen") else { break }
                port = FreePort.next()
            }
            throw ServerError("the server did not come up: \(failure)")
        }

        func kill9() async {
            kill(process.pid, SIGKILL)
            _ = await process.waitForExit()
        }

        func stop() async { _ = await process.terminate(grace: .seconds(5)) }
    }

    static func freePort() -> Int { FreePort.next() }

    func runDetail(_ c: APIClient, _ p: String, _ r: Int) async throws -> RunDetail {
        try await c.call("GET", "/api/namespaces/default/pipelines/\(p)/runs/\(r)")
    }

    func waitFor(_ c: APIClient, _ p: String, _ r: Int, _ done: (RunDetail) -> Bool) async throws -> RunDetail {
        for _ in 0..<2400 {
            let d = try await runDetail(c, p, r)
            if done(d) { return d }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await runDetail(c, p, r)
    }

    func docker(_ args: [String]) async throws {
        _ = try await ChildProcess.run("docker", arguments: args)
    }

    @Test func aRunningTaskIsReattachedAndEndsWithItsRealExitCodeAndWholeLog() async throws {
        guard try await DockerAvailability.check() else { return }
        try await Self.aRunningTaskSurvivesAKill9([:], pipeline: "survive")
    }

    /// The server is killed (SIGKILL) while a task runs on the scheduler `environment` selects;
    /// the restarted server finds the job and follows it to its real end, with its whole log once.
    static func aRunningTaskSurvivesAKill9(_ environment: [String: String], pipeline: String) async throws {
        let dir = try TemporaryDirectory()
        let port = freePort()
        let first = try await ServerProcess(dataDir: dir.path, port: port, environment: environment)
        let config =
            "id: \(pipeline)\ntasks:\n  - { id: slow, image: busybox:latest, command: [\"sh\", \"-c\", \"echo start; sleep 3; echo done; exit 3\"] }\n"
        let _: ApplyResult = try await first.client.call("POST", "/api/namespaces/default/pipelines", body: ["config": .string(config)])
        let run: Run = try await first.client.call("POST", "/api/namespaces/default/pipelines/\(pipeline)/runs", body: [:])
        let recovery = RecoveryTests()
        _ = try await recovery.waitFor(first.client, pipeline, run.id) { $0.tasks.first?.state == .running }
        try await Task.sleep(for: .milliseconds(500))
        await first.kill9()

        let server = try await ServerProcess(dataDir: dir.path, port: port, environment: environment)
        return try await stopping({ [server] in await server.stop() }) {
            let d = try await recovery.waitFor(server.client, pipeline, run.id) { $0.run.state.isTerminal }
            #expect(d.run.state == .failed, "\(d.run)")
            #expect(d.tasks[0].state == .failed && d.tasks[0].exitCode == 3 && d.tasks[0].reason?.kind == .exitCode, "\(d.tasks[0])")
            let log = try await server.client.raw("GET", "/api/namespaces/default/pipelines/\(pipeline)/runs/\(run.id)/tasks/slow/logs")
            #expect(String(decoding: log, as: UTF8.self) == "start\ndone\n", "the log is complete, without duplicates")
        }
    }

    @Test func exitedTasksAreHarvestedAndVanishedOnesMarkedOrphaned() async throws {
        guard try await DockerAvailability.check() else { return }
        let dir = try TemporaryDirectory()
        let port = Self.freePort()
        let first = try await ServerProcess(dataDir: dir.path, port: port)
        let config = """
            id: harvest
            tasks:
              - { id: quick, image: busybox:latest, command: ["sh", "-c", "sleep 1; exit 5"] }
              - { id: gone, image: busybox:latest, command: ["sleep", "30"] }
              - { id: after, image: busybox:latest, depends_on: { quick: any }, command: ["echo", "after"] }

            """
        let _: ApplyResult = try await first.client.call("POST", "/api/namespaces/default/pipelines", body: ["config": .string(config)])
        let run: Run = try await first.client.call("POST", "/api/namespaces/default/pipelines/harvest/runs", body: [:])
        let d0 = try await waitFor(first.client, "harvest", run.id) { d in
            d.tasks.filter { $0.state == .running && $0.handle != nil }.count == 2
        }
        await first.kill9()
        if let gone = d0.tasks.first(where: { $0.task == "gone" })?.handle { try await docker(["rm", "-f", gone]) }
        try await Task.sleep(for: .seconds(2))  // quick exits while the server is down
        let restartedAt = Date()

        let server = try await ServerProcess(dataDir: dir.path, port: port)
        return try await stopping({ [server] in await server.stop() }) {
            let d = try await waitFor(server.client, "harvest", run.id) { $0.run.state.isTerminal }
            let byID = Dictionary(uniqueKeysWithValues: d.tasks.map { ($0.task, $0) })
            #expect(byID["quick"]?.exitCode == 5 && byID["quick"]?.reason?.kind == .exitCode, "\(String(describing: byID["quick"]))")
            #expect((byID["quick"]?.endedAt ?? .distantFuture) < restartedAt, "the engine's finish time, not the restart's")
            #expect(byID["gone"]?.state == .failed && byID["gone"]?.reason?.kind == .orphaned, "\(String(describing: byID["gone"]))")
            #expect(byID["after"]?.state == .succeeded, "the DAG carries on after recovery")
            #expect(d.run.state == .failed)
        }
    }

    @Test func killingTheSchedulerExtensionMidRunLosesNothing() async throws {
        guard try await DockerAvailability.check() else { return }
        let h = try await ServerHarness(scheduler: "docker")
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(
                "id: ext-crash\ntasks:\n  - { id: t, image: busybox:latest, command: [\"sh\", \"-c\", \"echo a; sleep 3; echo b; exit 2\"] }\n")
            let run = try await h.server.engine.startRun(namespace: "default", pipeline: "ext-crash", initiator: .system)
            for _ in 0..<100 {
                if try await h.server.store.tasks(namespace: "default", pipeline: "ext-crash", run: run.id).first?.state == .running { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            try await Task.sleep(for: .milliseconds(500))
            guard case .running(let pid) = await h.server.supervisor.status else {
                Issue.record("the extension is not running")
                return
            }
            kill(pid, SIGKILL)
            let done = try await h.server.engine.waitForRun(namespace: "default", pipeline: "ext-crash", run: run.id)
            let task = try await h.server.store.tasks(namespace: "default", pipeline: "ext-crash", run: run.id)[0]
            #expect(await h.server.supervisor.restarts >= 1)
            #expect(done.state == .failed && task.exitCode == 2 && task.reason?.kind == .exitCode, "\(task)")
            #expect(h.log("ext-crash", run: run.id, task: "t") == "a\nb\n")
        }
    }

    @Test func aTaskWhoseDeadlinePassedWhileTheServerWasDownIsStoppedOnRestart() async throws {
        guard try await DockerAvailability.check() else { return }
        let dir = try TemporaryDirectory()
        let port = Self.freePort()
        let first = try await ServerProcess(dataDir: dir.path, port: port)
        let config = "id: late\ntasks:\n  - { id: sleeper, image: busybox:latest, command: [\"sleep\", \"300\"], timeout: 2s }\n"
        let _: ApplyResult = try await first.client.call("POST", "/api/namespaces/default/pipelines", body: ["config": .string(config)])
        let run: Run = try await first.client.call("POST", "/api/namespaces/default/pipelines/late/runs", body: [:])
        _ = try await waitFor(first.client, "late", run.id) { $0.tasks.first?.state == .running }
        await first.kill9()
        try await Task.sleep(for: .seconds(3))  // the 2 s deadline passes while no server runs

        let server = try await ServerProcess(dataDir: dir.path, port: port)
        return try await stopping({ [server] in await server.stop() }) {
            let start = ContinuousClock.now
            let d = try await waitFor(server.client, "late", run.id) { $0.run.state.isTerminal }
            #expect(ContinuousClock.now - start < .seconds(120), "stopped promptly, not after the 300 s sleep (the bound is loose for a loaded engine)")
            #expect(d.tasks[0].state == .failed && d.tasks[0].reason?.kind == .timeout, "\(d.tasks[0])")
        }
    }

    /// The server dies while a cancel is in progress (the task ignores SIGTERM, so it is still
    /// inside its grace period): the restarted server finishes the stop and the run ends cancelled
    /// with who and why, instead of the task running on to success.
    @Test func aCancelInProgressWhenTheServerDiesIsCarriedOutOnRestart() async throws {
        guard try await DockerAvailability.check() else { return }
        let dir = try TemporaryDirectory()
        let port = Self.freePort()
        let first = try await ServerProcess(dataDir: dir.path, port: port, stopGrace: "4s")
        // PID 1 in a container ignores SIGTERM unless it handles it: only SIGKILL ends this task.
        let config = "id: stubborn\ntasks:\n  - { id: sleeper, image: busybox:latest, command: [\"sleep\", \"300\"] }\n"
        let _: ApplyResult = try await first.client.call("POST", "/api/namespaces/default/pipelines", body: ["config": .string(config)])
        let run: Run = try await first.client.call("POST", "/api/namespaces/default/pipelines/stubborn/runs", body: [:])
        _ = try await waitFor(first.client, "stubborn", run.id) { $0.tasks.first?.state == .running }
        _ = try await first.client.raw(
            "POST", "/api/namespaces/default/pipelines/stubborn/runs/\(run.id)/cancel",
            body: ["reason": "wrong branch"])
        try await Task.sleep(for: .milliseconds(500))
        await first.kill9()

        let server = try await ServerProcess(dataDir: dir.path, port: port, stopGrace: "4s")
        return try await stopping({ [server] in await server.stop() }) {
            let start = ContinuousClock.now
            let d = try await waitFor(server.client, "stubborn", run.id) { $0.run.state.isTerminal }
            #expect(ContinuousClock.now - start < .seconds(120), "stopped within the grace period, not after the 300 s sleep (the bound is loose for a loaded engine)")
            #expect(d.run.state == .cancelled, "\(d.run)")
            #expect(
                d.run.reason?.kind == .cancelled && d.run.reason?.message.hasPrefix("cancelled by admin (first start) (tok_") == true
                    && d.run.reason?.message.hasSuffix("): wrong branch") == true,
                "\(String(describing: d.run.reason))")
            #expect(d.run.stopRequested?.kind == .cancelled)
            #expect(d.tasks[0].state == .cancelled, "\(d.tasks[0])")
        }
    }
}

/// A restart with many running tasks: every one is found again and ends with its real exit code.
/// Each running task holds a wait and a log stream on the scheduler connection; none of them may
/// fail because of Gofer's own limits.
@Suite(.serialized)
struct ManyRunningTasksRecoveryTests {
    @Test(.timeLimit(.minutes(10))) func aRestartWith100RunningTasksReattachesThemAll() async throws {
        guard try await DockerAvailability.check() else { return }
        let dir = try TemporaryDirectory()
        let port = FreePort.next()
        let env = ["GOFER_MAX_CONCURRENT_TASKS": "128"]
        let first = try await RecoveryTests.ServerProcess(dataDir: dir.path, port: port, environment: env)
        var yaml = "id: many\ntasks:\n"
        // Each task runs until the test signals it, then exits with its own code: how long 100
        // containers take to start on a loaded engine does not decide whether one ends early.
        for i in 0..<100 {
            yaml += "  - { id: t\(i), image: busybox:latest, command: [\"sh\", \"-c\", \"trap 'exit \(i % 3)' USR1; echo t\(i); while :; do sleep 1; done\"] }\n"
        }
        let _: ApplyResult = try await first.client.call("POST", "/api/namespaces/default/pipelines", body: ["config": .string(yaml)])
        let run: Run = try await first.client.call("POST", "/api/namespaces/default/pipelines/many/runs", body: [:])
        // Starting 100 containers takes a while on a small or busy machine: up to five minutes.
        var before = try await RecoveryTests().runDetail(first.client, "many", run.id)
        for _ in 0..<3000 {
            if before.tasks.filter({ $0.state == .running && $0.handle != nil }).count == 100 || before.tasks.contains(where: { $0.state.isTerminal }) {
                break
            }
            try await Task.sleep(for: .milliseconds(100))
            before = try await RecoveryTests().runDetail(first.client, "many", run.id)
        }
        #expect(before.tasks.filter { $0.state == .running }.count == 100, "\(before.tasks.map { "\($0.task) \($0.state) \($0.reason?.message ?? "")" })")
        // This run's containers, by handle: what other runs on the same engine left is not ours to count.
        let handles = Set(before.tasks.compactMap(\.handle))
        return try await stopping({ _ = try? await ChildProcess.run("docker", arguments: ["rm", "-f"] + handles.sorted(), timeout: .seconds(300)) }) {
            func ours(_ arguments: [String]) async throws -> [String] {
                let ps = try await ChildProcess.run("docker", arguments: ["ps", "-q", "--no-trunc"] + arguments)
                return String(decoding: ps.stdout, as: UTF8.self).split(separator: "\n").map(String.init).filter(handles.contains)
            }
            await first.kill9()

            let server = try await RecoveryTests.ServerProcess(dataDir: dir.path, port: port, environment: env)
            try await stopping({ [server] in await server.stop() }) {
                // Give the new server a moment to pick the tasks up while they still run, then end them all.
                try await Task.sleep(for: .seconds(3))
                let containers = try await ours([])
                #expect(containers.count == 100, "all 100 task containers survived the kill: \(containers.count)")
                _ = try await ChildProcess.run("docker", arguments: ["kill", "--signal", "USR1"] + containers, timeout: .seconds(120))
                var d = try await RecoveryTests().runDetail(server.client, "many", run.id)
                for _ in 0..<3000 where !d.run.state.isTerminal {
                    try await Task.sleep(for: .milliseconds(100))
                    d = try await RecoveryTests().runDetail(server.client, "many", run.id)
                }
                let wrong = d.tasks.filter { t in
                    let i = Int(t.task.dropFirst()) ?? -1
                    return t.exitCode != i % 3 || (i % 3 == 0 ? t.state != .succeeded : t.reason?.kind != .exitCode)
                }
                #expect(d.run.state.isTerminal && wrong.isEmpty, "\(wrong.map { "\($0.task) \($0.state) \($0.exitCode.map(String.init) ?? "-") \($0.reason?.message ?? "")" })")
                let log = try await server.client.raw("GET", "/api/namespaces/default/pipelines/many/runs/\(run.id)/tasks/t42/logs")
                #expect(String(decoding: log, as: UTF8.self) == "t42\n")
                // Removal is housekeeping after each task's end; on a loaded engine it can trail the run's end a little.
                var left = try await ours(["-a"])
                for _ in 0..<180 where !left.isEmpty {
                    try await Task.sleep(for: .seconds(1))
                    left = try await ours(["-a"])
                }
                #expect(left.isEmpty, "no container left behind: \(left.count)")
            }
        }
    }
}
