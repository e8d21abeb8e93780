import ExtensionSDK
import Foundation
import GoferHost
import TestSupport
import Testing

/// `gofer task attach` end to end: a real pseudo-terminal drives the CLI, which talks WebSocket to
/// the server, which runs `docker exec` through the Docker scheduler extension.
@Suite(.serialized)
struct AttachTests {
    static let pipeline = "id: live\ntasks:\n  - { id: t, image: busybox:latest, command: [\"sleep\", \"120\"] }\n"

    func sh(_ script: String, _ env: [String: String], timeout: Duration = .seconds(60)) async throws -> (TerminationStatus, String) {
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in env { environment[k] = v }
        environment["NO_COLOR"] = "1"
        let r = try await ChildProcess.run("/bin/sh", arguments: ["-c", script], environment: environment, timeout: timeout)
        return (r.status, String(decoding: r.stdout + r.stderr, as: UTF8.self))
    }

    /// Starts the pipeline and waits until its task runs.
    func running(_ h: ServerHarness) async throws -> Run {
        _ = try await h.apply(Self.pipeline)
        let run = try await h.server.engine.startRun(namespace: "default", pipeline: "live", initiator: .system)
        // A busy engine (other tests start a hundred containers at once) can take minutes.
        var task = try await h.server.store.task(namespace: "default", pipeline: "live", run: run.id, task: "t")
        for _ in 0..<1800 where task.state != .running && !task.state.isTerminal {
            try await Task.sleep(for: .milliseconds(100))
            task = try await h.server.store.task(namespace: "default", pipeline: "live", run: run.id, task: "t")
        }
        guard task.state == .running else {
            throw ServerError("the task did not start: it is \(task.state) (\(task.reason?.message ?? "no reason"))")
        }
        return run
    }

    /// A server on real Docker with the pipeline's task running, for `body`; everything is removed after.
    func withLiveTask(
        configure: (inout ServerSettings) -> Void = { _ in }, _ body: (ServerHarness, Int, Run) async throws -> Void
    ) async throws {
        guard try await DockerAvailability.check() else { return }
        let h = try await ServerHarness(scheduler: "docker", configure: configure)
        let port = try await h.server.startHTTP()
        let run = try await running(h)
        var failure: (any Error)?
        do { try await body(h, port, run) } catch { failure = error }
        // End the run and wait for it before the server stops: the engine then removes the
        // task's container (a server stopped first would leave it behind).
        try? await h.server.engine.cancelRun(namespace: "default", pipeline: "live", run: run.id, by: .system, why: "test over")
        _ = try? await h.server.engine.waitForRun(namespace: "default", pipeline: "live", run: run.id)
        await h.stop()
        if let failure { throw failure }
    }

    /// An attach session is a WebSocket: once upgraded, the header timeout (for slow clients)
    /// no longer applies, however long the command stays quiet. (It used to close every session
    /// after http_header_timeout.)
    @Test func anAttachSessionOutlivesTheHeaderTimeout() async throws {
        try await withLiveTask(configure: { $0.connectionLimits.headerTimeout = .seconds(2) }) { h, port, run in
            let env = ["GOFER_HOST": "127.0.0.1:\(port)", "GOFER_TOKEN": h.adminToken, "GOFER_CLI_CONFIG": h.dir.path + "/cli.json"]
            let (status, out) = try await sh(
                "\(BuiltProducts.path("gofer")) task attach live \(run.id) t -- sh -c 'sleep 6; echo still-here' < /dev/null", env)
            #expect(status == .exited(0) && out.contains("still-here"), "\(status) \(out)")
        }
    }

    @Test func aShellInARunningTaskThroughARealTerminal() async throws {
        try await withLiveTask { h, port, run in
            let env = ["GOFER_HOST": "127.0.0.1:\(port)", "GOFER_TOKEN": h.adminToken, "GOFER_CLI_CONFIG": h.dir.path + "/cli.json"]
            let script = BuiltProducts.repositoryRoot.appendingPathComponent("Tests/attach/pty_attach.py").path
            // Each step of the script waits up to 60 s (a loaded machine); the whole of it, 10 minutes.
            let (status, out) = try await sh("python3 \(script) \(BuiltProducts.path("gofer")) live \(run.id) t", env, timeout: .seconds(600))
            #expect(status == .exited(0), "\(out)")
            for check in ["our size", "a resize reaches", "output comes back", "Ctrl-C interrupts", "status 3"] {
                #expect(out.contains("ok   ") && out.split(separator: "\n").contains { $0.hasPrefix("ok") && $0.contains(check) }, "\(check): \(out)")
        }
        // Without a terminal: stdout and stderr apart, stdin piped, the exit code back.
        let (piped, pipedOut) = try await sh(
            "echo piped-in | \(BuiltProducts.path("gofer")) task attach live \(run.id) t -- sh -c 'read x; echo got:$x; echo err >&2; exit 5' 2>/dev/null",
            env)
        #expect(piped == .exited(5) && pipedOut == "got:piped-in\n", "\(piped) \(pipedOut)")
        let events = try await h.server.store.events(namespace: "default", pipeline: "live").items
        let attached = events.filter { $0.kind == .taskAttached }
        #expect(attached.count == 2 && attached.allSatisfy { $0.task == "t" && $0.details["actor_id"] != nil }, "\(attached)")
        #expect(events.contains { $0.kind == .taskDetached && $0.details["exit_code"] == "3" }, "\(events.map(\.details))")
        // The task itself was not disturbed.
        #expect(try await h.server.store.task(namespace: "default", pipeline: "live", run: run.id, task: "t").state == .running)
        }
    }

    @Test func attachIsRefusedWithAReasonWhereverItMustBe() async throws {
        try await withLiveTask { h, port, run in
            _ = try await h.server.store.createNamespace(id: "other", name: nil, description: "")
            let reader = try await h.makeToken("reader", roles: ["read-only"])
            let outsider = try await h.makeToken("outsider", roles: ["user"], namespaces: ["other"])
            let gofer = BuiltProducts.path("gofer")
            var env = ["GOFER_HOST": "127.0.0.1:\(port)", "GOFER_CLI_CONFIG": h.dir.path + "/cli.json"]
            env["GOFER_TOKEN"] = reader
            var (status, out) = try await sh("\(gofer) task attach live \(run.id) t -- true < /dev/null", env)
            #expect(status == .exited(1) && out.contains("lacks attach:write"), "\(out)")
            env["GOFER_TOKEN"] = outsider
            (status, out) = try await sh("\(gofer) task attach live \(run.id) t -- true < /dev/null", env)
            #expect(status == .exited(1) && out.contains("lacks attach:write"), "\(out)")
            // A browser's WebSocket with a web UI session cookie: not accepted, and it says why
            // (it used to be an empty 400) — the reason as the one message, then close 4401.
            let login = try await SimpleHTTPClient(endpoint: .tcp(host: "127.0.0.1", port: port)).send(
                "POST", path: "/ui/login", headers: ["Content-Type": "application/json"], body: Array(#"{"token":"\#(h.adminToken)"}"#.utf8))
            let cookie = try #require(login.headers["set-cookie"]?.split(separator: ";").first.map(String.init), "\(login.headers)")
            let script = BuiltProducts.repositoryRoot.appendingPathComponent("Tests/attach/ws_refusal.py").path
            let path = "/api/namespaces/default/pipelines/live/runs/\(run.id)/tasks/t/attach"
            (status, out) = try await sh("python3 \(script) 127.0.0.1:\(port) \(path) 'Cookie: \(cookie)'", env)
            #expect(out.contains("attach_needs_token") && out.contains("a web UI session cookie is not accepted") && out.contains("close: 4401"), "\(out)")
            // Any refused upgrade says why the same way: here a token without the permission.
            (status, out) = try await sh("python3 \(script) 127.0.0.1:\(port) \(path) 'Authorization: Bearer \(reader)'", env)
            #expect(out.contains("lacks attach:write") && out.contains("close: 4403"), "\(out)")
            env["GOFER_TOKEN"] = h.adminToken
            (status, out) = try await sh("\(gofer) task attach live \(run.id) nope -- true < /dev/null", env)
            #expect(status == .exited(1) && out.contains("not found"), "\(out)")
            try await h.server.engine.cancelRun(namespace: "default", pipeline: "live", run: run.id, by: .system, why: "done")
            _ = try await h.server.engine.waitForRun(namespace: "default", pipeline: "live", run: run.id)
            (status, out) = try await sh("\(gofer) task attach live \(run.id) t -- true < /dev/null", env)
            #expect(status == .exited(1) && out.contains("only a running task can be attached to"), "\(out)")
        }
    }

    @Test func withAttachOffNoPathAnswersAndTheSchedulerIsNeverAsked() async throws {
        let h = try await ServerHarness { $0.taskAttach = false }
        return try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            _ = try await h.apply("id: live\ntasks:\n  - { id: t, image: none, command: [\"sleep\", \"60\"] }\n")
            let run = try await h.server.engine.startRun(namespace: "default", pipeline: "live", initiator: .system)
            try await stopping({ try? await h.server.engine.cancelRun(namespace: "default", pipeline: "live", run: run.id, by: .system, why: "test over") }) {
                let env = ["GOFER_HOST": "127.0.0.1:\(port)", "GOFER_TOKEN": h.adminToken, "GOFER_CLI_CONFIG": h.dir.path + "/cli.json"]
                let (status, out) = try await sh("\(BuiltProducts.path("gofer")) task attach live \(run.id) t -- true < /dev/null", env)
                #expect(status == .exited(1) && out.contains("attaching to tasks is turned off on this server"), "\(out)")
                // A raw WebSocket handshake is not upgraded either.
                let client = SimpleHTTPClient(endpoint: .tcp(host: "127.0.0.1", port: port))
                let r = try await client.send(
                    "GET", path: "/api/namespaces/default/pipelines/live/runs/\(run.id)/tasks/t/attach",
                    headers: [
                        "Authorization": "Bearer \(h.adminToken)", "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                    ])
                #expect(r.status == 404 && r.text.contains("attach_disabled"), "\(r.status) \(r.text)")
                let kinds = try await h.server.store.events(namespace: "default", pipeline: "live").items.map(\.kind)
                #expect(!kinds.contains(.taskAttached))
            }
        }
    }

    @Test func aSchedulerThatCannotAttachSaysSo() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            _ = try await h.apply("id: live\ntasks:\n  - { id: t, image: none, command: [\"sleep\", \"60\"] }\n")
            let run = try await h.server.engine.startRun(namespace: "default", pipeline: "live", initiator: .system)
            try await stopping({ try? await h.server.engine.cancelRun(namespace: "default", pipeline: "live", run: run.id, by: .system, why: "test over") }) {
                for _ in 0..<100 {
                    if try await h.server.store.task(namespace: "default", pipeline: "live", run: run.id, task: "t").state == .running { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                let env = ["GOFER_HOST": "127.0.0.1:\(port)", "GOFER_TOKEN": h.adminToken, "GOFER_CLI_CONFIG": h.dir.path + "/cli.json"]
                let (status, out) = try await sh("\(BuiltProducts.path("gofer")) task attach live \(run.id) t -- true < /dev/null", env)
                #expect(status == .exited(1) && out.contains("does not advertise \"attach\""), "\(out)")
            }
        }
    }
}
