import Crypto
import ExtensionClient
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

/// Common tasks in pipelines: as steps of the DAG and as run hooks, validated at apply time,
/// through the real server (process scheduler) and real extension executables.
@Suite(.serialized)
struct CommonTaskTests {
    func apply(_ h: ServerHarness, _ yaml: String) async throws -> TestResponse {
        let response = Mutex<TestResponse?>(nil)
        let body = JSONValue.object(["config": .string(yaml), "file": "pipeline.yaml"]).description
        try await h.withRouter { c in
            let r = try await c.execute(uri: "/api/namespaces/default/pipelines", method: .post, body: ByteBuffer(string: body))
            response.withLock { $0 = r }
        }
        return try #require(response.withLock { $0 })
    }

    @Test func anExtensionTaskIsANodeOfTheDAGWithLogsStatesAndConditions() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            try await h.server.extensions.install("echo", .latest)
            let r = try await apply(
                h,
                """
                id: steps
                tasks:
                  - { id: build, run: "echo built $GOFER_TASK" }
                  - { id: announce, extension: echo, depends_on: [build], settings: { message: "built ok", repeat: 2 } }
                  - { id: broken, extension: echo, depends_on: [announce], settings: { message: nope, fail: true } }
                  - { id: cleanup, depends_on: { broken: failure }, run: "echo cleaning up" }
                """)
            #expect(r.status == .created, "\(String(buffer: r.body))")
            let (run, tasks) = try await h.runToEnd("steps")
            let byID = Dictionary(uniqueKeysWithValues: tasks.map { ($0.task, $0) })
            #expect(run.state == .failed && run.reason?.message == "task broken failed", "\(run)")
            #expect(byID["build"]?.state == .succeeded && h.log("steps", run: run.id, task: "build") == "built build\n")
            #expect(byID["announce"]?.state == .succeeded && byID["announce"]?.exitCode == 0)
            #expect(h.log("steps", run: run.id, task: "announce") == "built ok\nbuilt ok\n[echo] printed 2 line(s)\n")
            #expect(byID["broken"]?.state == .failed && byID["broken"]?.reason?.kind == .exitCode, "\(byID["broken"].map { "\($0)" } ?? "")")
            #expect(byID["cleanup"]?.state == .succeeded, "a failure handler after a common task runs")
            #expect(byID["announce"]?.image == "", "an extension task has no image")
        }
    }

    @Test func badCommonTaskConfigsAreRefusedAtApplyNamingTheFieldAndLine() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            try await h.server.extensions.install("echo", .latest)
            for (yaml, field, text) in [
                ("id: p\ntasks:\n  - { id: a, extension: nosuch, settings: {} }\n", "/tasks/0/extension", "no common task named \\\"nosuch\\\""),
                ("id: p\ntasks:\n  - { id: a, extension: echo, settings: { mesage: hi } }\n", "/tasks/0/settings", "mesage"),
                ("id: p\ntasks:\n  - { id: a, extension: echo, settings: { message: 5 } }\n", "/tasks/0/settings/message", "string"),
                ("id: p\ntasks:\n  - { id: a, extension: echo, image: busybox, settings: { message: x } }\n", "/tasks/0/image", "not a container"),
                ("id: p\ntasks:\n  - { id: a, image: busybox, settings: { message: x } }\n", "/tasks/0/settings", "settings go with extension"),
                ("id: p\ntasks:\n  - { id: a, run: \"make\", command: [\"make\"] }\n", "/tasks/0/command", "not both"),
                ("id: p\ntasks:\n  - { id: a }\n", "/tasks/0/image", "give image"),
                ("id: p\ntasks:\n  - { id: a, run: \"true\" }\nhooks:\n  - { extension: nosuch }\n", "/hooks/0/extension", "nosuch"),
                (
                    "id: p\ntasks:\n  - { id: a, run: \"true\" }\nhooks:\n  - { extension: echo, settings: { message: a } }\n  - { extension: echo, settings: { message: b } }\n",
                    "/hooks/1/label", "duplicate hook label"
                ),
            ] {
                let r = try await apply(h, yaml)
                let body = String(buffer: r.body)
                #expect(r.status == .unprocessableContent && body.contains(field) && body.contains(text), "\(yaml)\n→ \(body)")
                #expect(body.contains("\"line\""), "problems carry their line: \(body)")
            }
            await #expect(throws: StoreError.self) { _ = try await h.server.store.pipeline(namespace: "default", id: "p") }
        }
    }

    @Test func runOnlyTasksUseTheServersDefaultImage() throws {
        let loader = PipelineConfigLoader(defaultImage: "debian:stable-slim")
        let config = try loader.load("id: p\ntasks:\n  - { id: t, run: \"make test\" }\n", file: "p.yaml")
        #expect(config.tasks[0].image == "debian:stable-slim" && config.tasks[0].command == ["sh", "-c", "make test"])
    }

    @Test func aCommonTaskStepIsCancelledWithItsRun() async throws {
        let receiver = try await AlertReceiver()
        return try await stopping({ await receiver.stop() }) {
            let h = try await ServerHarness()
            try await stopping({ await h.stop() }) {
                try await h.server.extensions.install("notify", .latest)
                #expect(
                    try await apply(
                        h,
                        """
                        id: waits
                        tasks:
                          - { id: tell, extension: notify, settings: { message: hello, webhook: { url: "\(receiver.url)/slow" } } }
                        """
                    ).status == .created)
                let run = try await h.server.engine.startRun(namespace: "default", pipeline: "waits", initiator: .system)
                var running = false
                for _ in 0..<1200 where !running {
                    running = try await h.server.store.task(namespace: "default", pipeline: "waits", run: run.id, task: "tell").state == .running
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(running)
                let started = ContinuousClock.now
                try await h.server.engine.cancelRun(namespace: "default", pipeline: "waits", run: run.id, by: .system, why: "enough")
                let done = try await h.server.engine.waitForRun(namespace: "default", pipeline: "waits", run: run.id)
                #expect(done.state == .cancelled)
                #expect(try await h.server.store.task(namespace: "default", pipeline: "waits", run: run.id, task: "tell").state == .cancelled)
                #expect(ContinuousClock.now - started < .seconds(60), "cancelled, not waited out (the webhook answers after 120 s)")
            }
        }
    }

    @Test func aNotifyHookAlertsOncePerConditionSignedAndNeverChangesTheRun() async throws {
        let receiver = try await AlertReceiver()
        return try await stopping({ await receiver.stop() }) {
            let h = try await ServerHarness()
            try await stopping({ await h.stop() }) {
                try await h.server.extensions.install("notify", .latest)
                let marker = h.dir.path + "/green"
                let yaml = """
                    id: alerts
                    tasks:
                      - { id: build, run: "test -e \(marker)" }
                    hooks:
                      - extension: notify
                        settings:
                          when: { run_failed: true, failed_in_a_row: 2, task_state: { task: build, state: failed } }
                          webhook: { url: "\(receiver.url)/alerts", secret: "secret{{hook_secret}}" }
                    """
                // The secret is referenced before it exists: the apply warns, and it is stored after.
                #expect(try await apply(h, yaml).status == .created)
                try await h.server.secrets.putPipelineSecret(namespace: "default", pipeline: "alerts", name: "hook_secret", value: Array("s3cret".utf8))
                var runs: [Run] = []
                for _ in 0..<3 { runs.append(try await h.runToEnd("alerts").0) }
                #expect(FileManager.default.createFile(atPath: marker, contents: nil))
                runs.append(try await h.runToEnd("alerts").0)
                #expect(runs.map(\.state) == [.failed, .failed, .failed, .succeeded], "a hook never changes a run's result")
                // Every run's hooks are delivered (run_started and run_finished each).
                for _ in 0..<100 {
                    var all = true
                    for r in runs {
                        let d = try await h.server.store.hookDeliveries(namespace: "default", pipeline: "alerts", run: r.id)
                        all = all && d.count == 2 && d.allSatisfy { $0.state == .delivered }
                    }
                    if all { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                let got = receiver.deliveries.compactMap { d -> String? in
                    guard let body = try? JSONParser().parse(d.body) else { return nil }
                    return "\(body["run"]?.intValue ?? 0):\(body["condition"]?.stringValue ?? "")"
                }
                #expect(
                    got.sorted()
                        == [
                            "1:run_failed", "1:task_state:build=failed", "2:failed_in_a_row:2", "2:run_failed", "2:task_state:build=failed",
                            "3:run_failed", "3:task_state:build=failed",
                        ], "exactly these alerts: \(got)")
                for d in receiver.deliveries {
                    let mac = HMAC<SHA256>.authenticationCode(for: Data(d.body.utf8), using: SymmetricKey(data: Data("s3cret".utf8)))
                    #expect(d.headers["x-gofer-signature-256"] == "sha256=" + mac.map { String(format: "%02x", $0) }.joined())
                    #expect(d.headers["x-gofer-delivery"]?.hasPrefix("default/alerts#") == true)
                }
                let events = try await h.server.store.events(namespace: "default", pipeline: "alerts", limit: 1000).items
                #expect(events.filter { $0.kind == .hookDelivered }.count == 8)
                try await h.withRouter { c in
                    let r = try await c.execute(uri: "/api/namespaces/default/pipelines/alerts/runs/2/hooks", method: .get)
                    let items = (try? JSONParser().parse(String(buffer: r.body)))?["items"]?.arrayValue ?? []
                    #expect(items.map { $0["phase"]?.stringValue ?? "" } == ["run_started", "run_finished"], "\(String(buffer: r.body))")
                    #expect(items.allSatisfy { $0["state"] == "delivered" && $0["extension"] == "notify" })
                }
            }
        }
    }

    @Test func aFailingHookIsRetriedRecordedAsAPipelineErrorAndClearedWhenItWorks() async throws {
        let receiver = try await AlertReceiver()
        return try await stopping({ await receiver.stop() }) {
            // Refuses (400, not retried inside the call) twice; the host's retries get through.
            receiver.answer([400, 400])
            let h = try await ServerHarness()
            try await stopping({ await h.stop() }) {
                try await h.server.extensions.install("notify", .latest)
                #expect(
                    try await apply(
                        h,
                        """
                        id: flaky
                        tasks:
                          - { id: t, run: "true" }
                        hooks:
                          - { extension: notify, label: tell, settings: { when: { run_finished: true }, webhook: { url: "\(receiver.url)/x" } } }
                        """
                    ).status == .created)
                let (run, _) = try await h.runToEnd("flaky")
                #expect(run.state == .succeeded)
                var sawError = false
                var delivered = false
                for _ in 0..<200 where !delivered {
                    if try await h.server.store.pipelineErrors(namespace: "default", pipeline: "flaky").contains(where: { $0.source == "hook:tell" }) {
                        sawError = true
                    }
                    let d = try await h.server.store.hookDeliveries(namespace: "default", pipeline: "flaky", run: run.id)
                    delivered = d.contains { $0.phase == .runFinished && $0.state == .delivered }
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(sawError, "the failure showed as a pipeline error")
                #expect(delivered, "retried until delivered")
                let d = try await h.server.store.hookDeliveries(namespace: "default", pipeline: "flaky", run: run.id)
                #expect(d.first { $0.phase == .runFinished }?.attempts == 3, "\(d)")
                #expect(try await h.server.store.pipelineErrors(namespace: "default", pipeline: "flaky").isEmpty, "cleared once it worked")
                #expect(receiver.deliveries.count == 3)
                #expect(try await h.server.store.run(namespace: "default", pipeline: "flaky", id: run.id).state == .succeeded)
            }
        }
    }

    @Test func aHookExtensionThatCrashesMidCallIsRestartedAndTheHookDeliveredOnce() async throws {
        let receiver = try await AlertReceiver()
        return try await stopping({ await receiver.stop() }) {
            let h = try await ServerHarness()
            try await stopping({ await h.stop() }) {
                try await h.server.extensions.install("notify", .latest)
                #expect(
                    try await apply(
                        h,
                        """
                        id: crashy
                        tasks:
                          - { id: t, run: "true" }
                        hooks:
                          - { extension: notify, settings: { when: { run_finished: true }, webhook: { url: "\(receiver.url)/slowonce" } } }
                        """
                    ).status == .created)
                let (run, _) = try await h.runToEnd("crashy")
                // The hook's call hangs on the receiver; the extension dies under it.
                try await Task.sleep(for: .milliseconds(500))
                let supervisor = try #require(await h.server.commonTasks.runningSupervisor("notify"))
                guard case .running(let pid) = await supervisor.status else {
                    Issue.record("notify is not running")
                    return
                }
                kill(pid, SIGKILL)
                var delivered = false
                for _ in 0..<300 where !delivered {
                    delivered = try await h.server.store.hookDeliveries(namespace: "default", pipeline: "crashy", run: run.id).allSatisfy {
                        $0.state == .delivered
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(delivered, "retried after the restart of the extension")
                #expect(await supervisor.restarts >= 1)
                #expect(try await h.server.store.run(namespace: "default", pipeline: "crashy", id: run.id).state == .succeeded)
                let finished = try await h.server.store.hookDeliveries(namespace: "default", pipeline: "crashy", run: run.id).first {
                    $0.phase == .runFinished
                }
                #expect((finished?.attempts ?? 0) >= 2, "\(String(describing: finished))")
            }
        }
    }

    @Test func uninstallingACommonTaskNamesAndDisablesItsPipelines() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            try await h.server.extensions.install("echo", .latest)
            #expect(
                try await apply(h, "id: uses\ntasks:\n  - { id: t, extension: echo, settings: { message: hi } }\n").status == .created)
            let preview = try await h.server.extensions.uninstall("echo", confirmed: false)
            #expect(preview.pipelines == [PipelineRef(namespace: "default", pipeline: "uses")] && !preview.removed)
            let done = try await h.server.extensions.uninstall("echo", confirmed: true)
            #expect(done.removed)
            #expect(try await h.server.store.pipeline(namespace: "default", id: "uses").state == .disabled)
            let errors = try await h.server.store.pipelineErrors(namespace: "default", pipeline: "uses")
            #expect(errors.contains { $0.kind == "extension_uninstalled" && $0.message.contains("echo") }, "\(errors)")
        }
    }
}
