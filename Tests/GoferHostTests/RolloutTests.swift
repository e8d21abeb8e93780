import ExtensionSDK
import Foundation
import GoferHost
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import TestSupport
import Testing

/// Canary rollouts on the real Docker engine: a failing canary is rolled back automatically
/// while its trigger keeps firing, a healthy one is promoted (through the CLI), bad rollout
/// requests are refused, and a decision that was due when the server died is taken on restart.
@Suite(.serialized)
struct RolloutTests {
    static func harness(scheduler: String = "docker", dir: TemporaryDirectory? = nil) async throws -> ServerHarness {
        try await ServerHarness(scheduler: scheduler) {
            $0.triggerIntervalMin = .seconds(1)
            $0.triggerIntervalJitter = "0s"
        }
    }

    static func pipeline(_ script: String, trigger: Bool) -> String {
        """
        id: canary
        tasks:
          - { id: job, image: busybox:latest, command: ["sh", "-c", "\(script)"] }
        """ + (trigger ? "\ntriggers:\n  - { trigger: interval, label: tick, settings: { every: 1s } }\n" : "\n")
    }

    func apply(_ h: ServerHarness, _ yaml: String, rollout: JSONValue? = nil) async throws -> TestResponse {
        var body: [String: JSONValue] = ["config": .string(yaml), "file": "canary.yaml"]
        if let rollout { body["rollout"] = rollout }
        let payload = JSONValue.object(body).description
        let response = Mutex<TestResponse?>(nil)
        try await h.withRouter { c in
            let r = try await c.execute(uri: "/api/namespaces/default/pipelines", method: .post, body: ByteBuffer(string: payload))
            response.withLock { $0 = r }
        }
        return try #require(response.withLock { $0 })
    }

    /// Stops the trigger and waits for every run to end, so nothing is left running on the engine.
    func drain(_ h: ServerHarness) async throws {
        _ = try? await h.server.pipelines.setEnabled(namespace: "default", pipeline: "canary", false)
        for run in try await h.server.store.runs(namespace: "default", pipeline: "canary", limit: 1000).items where !run.state.isTerminal {
            _ = try await h.server.engine.waitForRun(namespace: "default", pipeline: "canary", run: run.id)
        }
    }

    @Test func aFailingCanaryIsRolledBackAutomaticallyAndTheTriggerKeepsFiringTheLiveVersion() async throws {
        guard try await DockerAvailability.check() else { return }
        let h = try await Self.harness()
        return try await stopping({ await h.stop() }) {
            #expect(try await apply(h, Self.pipeline("echo healthy", trigger: true)).status == .created)
            let started = try await apply(
                h, Self.pipeline("echo broken; exit 1", trigger: true),
                rollout: ["percent": 50, "window": ["runs": 4], "max_failure_percent": 25])
            #expect(started.status == .created, "\(String(buffer: started.body))")
            let result = try RolloutTestsJSON.decode(ApplyResult.self, started)
            #expect(result.version == 2 && result.pipeline.liveVersion == 1 && result.rollout?.state == .active)

            // The interval trigger fires every second; half the runs go to the canary, which fails.
            var rollout: Rollout?
            for _ in 0..<600 {
                rollout = try await h.server.store.rollouts(namespace: "default", pipeline: "canary").first
                if rollout?.state != .active { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            let ended = try #require(rollout)
            #expect(ended.state == .rolledBack, "\(ended)")
            // 4-run window, at most 25% may fail: the second failure spends the budget.
            #expect(ended.stats.failed >= 2 && ended.reason?.contains("finished canary runs failed") == true, "\(ended)")
            let p = try await h.server.store.pipeline(namespace: "default", id: "canary")
            #expect(p.liveVersion == 1 && p.latestVersion == 2, "the live version is restored: \(p)")
            // The version list says the canary was rolled back (not "previous": it never went live).
            let versions = try await h.server.store.pipelineVersions(namespace: "default", pipeline: "canary").items
            #expect(versions.map(\.status) == [.rolledBack, .live], "\(versions)")
            let errors = try await h.server.store.pipelineErrors(namespace: "default", pipeline: "canary")
            #expect(errors.contains { $0.kind == "canary_rolled_back" && $0.message.contains("version 1 stays live") }, "\(errors)")
            let events = try await h.server.store.events(namespace: "default", pipeline: "canary", limit: 1000).items
            #expect(events.contains { $0.kind == .rolloutRolledBack && $0.details["version"] == "2" })

            // The trigger still fires, and its runs use the live version only.
            let endedAt = try #require(ended.endedAt)
            var after: Run?
            for _ in 0..<300 where after == nil {
                after = try await h.server.store.runs(namespace: "default", pipeline: "canary", limit: 50).items.first {
                    $0.createdAt > endedAt && $0.initiator == .trigger("interval", label: "tick")
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            let next = try #require(after, "the trigger kept firing after the rollback")
            #expect(next.pipelineVersion == 1 && next.versionReason == .live && next.rollout == nil, "\(next)")
            let done = try await h.server.engine.waitForRun(namespace: "default", pipeline: "canary", run: next.id)
            #expect(done.state == .succeeded)
            try await drain(h)
            // Every canary run was version 2 and failed; every live run during the rollout was version 1.
            let routed = try await h.server.store.runs(namespace: "default", pipeline: "canary", limit: 1000).items.filter { $0.rollout == ended.id }
            #expect(routed.filter { $0.versionReason == .canary }.allSatisfy { $0.pipelineVersion == 2 && $0.state == .failed })
            #expect(routed.filter { $0.versionReason == .live }.allSatisfy { $0.pipelineVersion == 1 })
        }
    }

    @Test func aHealthyCanaryIsPromotedAndTheCLIShowsVersionsRolloutsAndRollsBack() async throws {
        guard try await DockerAvailability.check() else { return }
        let h = try await Self.harness()
        return try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            let env = ["GOFER_HOST": "127.0.0.1:\(port)", "GOFER_TOKEN": h.adminToken, "GOFER_CLI_CONFIG": h.dir.path + "/cli.json", "NO_COLOR": "1"]
            let file = h.dir.path + "/canary.yaml"
            try Self.pipeline("echo one", trigger: false).write(toFile: file, atomically: true, encoding: .utf8)
            var (ok, out) = try await gofer(["pipeline", "apply", file], env)
            #expect(ok, "\(out)")
            try Self.pipeline("echo two", trigger: false).write(toFile: file, atomically: true, encoding: .utf8)
            (ok, out) = try await gofer(["pipeline", "apply", file, "--canary", "every:2", "--window", "2", "--max-failure", "0%"], env)
            #expect(ok && out.contains("version 2 as a canary: every 2nd run use it, version 1 stays live"), "\(out)")

            // Runs 1 and 3 go to the canary, 2 and 4 keep the live version.
            var runs: [Run] = []
            for _ in 0..<4 {
                runs.append(try await h.server.engine.startRun(namespace: "default", pipeline: "canary", initiator: .system))
            }
            #expect(runs.map(\.versionReason) == [.canary, .live, .canary, .live] && runs.map(\.pipelineVersion) == [2, 1, 2, 1], "\(runs)")
            for r in runs { #expect(try await h.server.engine.waitForRun(namespace: "default", pipeline: "canary", run: r.id).state == .succeeded) }
            #expect(h.log("canary", run: runs[0].id, task: "job") == "two\n" && h.log("canary", run: runs[1].id, task: "job") == "one\n")

            let rollout = try #require(try await h.server.store.rollouts(namespace: "default", pipeline: "canary").first)
            #expect(rollout.state == .promoted && rollout.stats.succeeded == 2, "\(rollout)")
            #expect(try await h.server.store.pipeline(namespace: "default", id: "canary").liveVersion == 2)
            let next = try await h.server.engine.startRun(namespace: "default", pipeline: "canary", initiator: .system)
            #expect(next.pipelineVersion == 2 && next.versionReason == .live)
            _ = try await h.server.engine.waitForRun(namespace: "default", pipeline: "canary", run: next.id)

            (ok, out) = try await gofer(["pipeline", "rollouts", "canary"], env)
            #expect(ok && out.contains("1 → 2") && out.contains("promoted"), "\(out)")
            (ok, out) = try await gofer(["pipeline", "versions", "canary"], env)
            #expect(ok && out.contains("live") && out.contains("echo two"), "\(out)")
            (ok, out) = try await gofer(["pipeline", "diff", "canary", "2"], env)
            #expect(ok && out.contains("-  - { id: job") && out.contains("echo one") && out.contains("+  - { id: job"), "\(out)")
            (ok, out) = try await gofer(["run", "list", "canary"], env)
            #expect(ok && out.contains("2 (canary)"), "\(out)")
            (ok, out) = try await gofer(["pipeline", "rollback", "canary"], env)
            #expect(ok && out.contains("version 3 is live"), "\(out)")
            (ok, out) = try await gofer(["pipeline", "version", "canary", "3"], env)
            #expect(ok && out.contains("echo one"), "\(out)")
            (ok, out) = try await gofer(["pipeline", "apply", file, "--canary", "150%"], env)
            #expect(!ok && out.contains("/rollout/percent") && out.contains("1 to 100"), "\(out)")
            (ok, out) = try await gofer(["pipeline", "apply", file, "--canary", "lots"], env)
            #expect(!ok && out.contains("--canary \"lots\""), "\(out)")
            (ok, out) = try await gofer(["pipeline", "promote", "canary"], env)
            #expect(!ok && out.contains("no rollout in progress"), "\(out)")
            try await drain(h)
        }
    }

    @Test func badRolloutsAreRefusedAndOnlyOneRunsAtATime() async throws {
        let h = try await Self.harness(scheduler: "process")
        return try await stopping({ await h.stop() }) {
            let v1 = "id: canary\ntasks:\n  - { id: job, image: none, command: [\"true\"] }\n"
            let v2 = "id: canary\ntasks:\n  - { id: job, image: none, command: [\"echo\", \"2\"] }\n"
            let v3 = "id: canary\ntasks:\n  - { id: job, image: none, command: [\"echo\", \"3\"] }\n"
            // A new pipeline has no live version to run a canary beside.
            var r = try await apply(h, v1, rollout: ["percent": 10])
            #expect(r.status == .conflict && String(buffer: r.body).contains("without a rollout first"), "\(String(buffer: r.body))")
            #expect(try await apply(h, v1).status == .created)
            for (bad, field) in [
                (["percent": 0] as JSONValue, "/rollout/percent"), (["percent": 150], "/rollout/percent"), (["every": 1], "/rollout/every"),
                (["percent": 10, "every": 2], "/rollout/every"), ([:], "/rollout/percent"), (["percent": 10, "window": ["runs": 0]], "/rollout/window/runs"),
                (["percent": 10, "window": ["duration": "forever"]], "/rollout/window/duration"),
                (["percent": 10, "window": ["runs": 3, "duration": "1h"]], "/rollout/window"),
                (["percent": 10, "max_failure_percent": 100], "/rollout/max_failure_percent"), (["percent": 10, "colour": "red"], "/rollout/colour"),
                ("20%", "/rollout"),
            ] {
                r = try await apply(h, v2, rollout: bad)
                #expect(r.status == .badRequest && String(buffer: r.body).contains(field), "\(bad): \(String(buffer: r.body))")
            }
            #expect(try await h.server.store.pipeline(namespace: "default", id: "canary").latestVersion == 1, "nothing was stored")
            // The same config as live: nothing to roll out.
            r = try await apply(h, v1, rollout: ["percent": 10])
            #expect(r.status == .conflict && String(buffer: r.body).contains("nothing to roll out"))
            // A canary cannot change triggers.
            r = try await apply(h, v2 + "triggers:\n  - { trigger: interval, settings: { every: 1h } }\n", rollout: ["percent": 10])
            #expect(r.status == .conflict && String(buffer: r.body).contains("cannot change the pipeline's triggers"), "\(String(buffer: r.body))")

            #expect(try await apply(h, v2, rollout: ["percent": 10, "window": ["duration": "1h", "min_runs": 5]]).status == .created)
            // A second rollout, a plain apply and a rollback all wait for this one to end.
            r = try await apply(h, v3, rollout: ["percent": 10])
            #expect(r.status == .conflict && String(buffer: r.body).contains("canary rollout of version 2 in progress"), "\(String(buffer: r.body))")
            r = try await apply(h, v3)
            #expect(r.status == .conflict)
            await #expect(throws: StoreError.self) { _ = try await h.server.pipelines.rollback(namespace: "default", pipeline: "canary", to: 1) }
            // Aborted by hand: the live version stays, the next run uses it.
            try await h.withRouter { c in
                let a = try await c.execute(
                    uri: "/api/namespaces/default/pipelines/canary/rollout/abort", method: .post, body: ByteBuffer(string: #"{"reason":"wrong branch"}"#))
                #expect(a.status == .ok && String(buffer: a.body).contains("wrong branch"), "\(String(buffer: a.body))")
            }
            let run = try await h.server.engine.startRun(namespace: "default", pipeline: "canary", initiator: .system)
            #expect(run.pipelineVersion == 1 && run.versionReason == .live)
            _ = try await h.server.engine.waitForRun(namespace: "default", pipeline: "canary", run: run.id)
            #expect(try await apply(h, v3).status == .created, "after the abort, applies work again")
        }
    }

    /// The server died after a canary run ended but before the promotion was recorded: the
    /// restarted server takes the decision (it is recomputed from the stored runs), and the
    /// live version is exactly one, well defined, before and after.
    @Test func aPromotionDueWhenTheServerDiedHappensOnRestart() async throws {
        let h = try await Self.harness(scheduler: "process")
        let v1 = "id: canary\ntasks:\n  - { id: job, image: none, command: [\"true\"] }\n"
        let v2 = "id: canary\ntasks:\n  - { id: job, image: none, command: [\"echo\", \"2\"] }\n"
        #expect(try await apply(h, v1).status == .created)
        #expect(try await apply(h, v2, rollout: ["every": 2, "window": ["runs": 1]]).status == .created)
        // A canary run recorded as finished, its rollout not yet judged (as a kill -9 would leave it).
        let created = try await h.server.store.createRun(namespace: "default", pipeline: "canary", initiator: .system)
        #expect(created.run.versionReason == .canary)
        let store = try #require(h.server.store as? SQLStore)
        try await store.executeForTesting("UPDATE runs SET state = 'succeeded', ended_at = CURRENT_TIMESTAMP WHERE id = \(created.run.id)")
        try await store.executeForTesting("UPDATE task_executions SET state = 'succeeded' WHERE run = \(created.run.id)")
        #expect(try await h.server.store.pipeline(namespace: "default", id: "canary").liveVersion == 1)
        let settings = h.server.settings
        await h.stop()
        let restarted = try await GoferServer(settings: settings)
        #expect(try await restarted.store.pipeline(namespace: "default", id: "canary").liveVersion == 2)
        let r = try #require(try await restarted.store.rollouts(namespace: "default", pipeline: "canary").first)
        #expect(r.state == .promoted && r.reason?.contains("promoted") == true, "\(r)")
        await restarted.stop()
    }

    func gofer(_ args: [String], _ env: [String: String]) async throws -> (Bool, String) {
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in env { environment[k] = v }
        let result = try await ChildProcess.run(BuiltProducts.path("gofer"), arguments: args, environment: environment)
        let text = String(decoding: result.stdout + result.stderr, as: UTF8.self)
        return (result.status == .exited(0), text)
    }
}

enum RolloutTestsJSON {
    static func decode<T: Decodable>(_ type: T.Type, _ r: TestResponse) throws -> T {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        d.dateDecodingStrategy = .iso8601
        return try d.decode(T.self, from: Data(r.body.readableBytesView))
    }
}
