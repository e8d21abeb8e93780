import ExtensionClient
import ExtensionSDK
import Foundation
import GoferHost
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

/// Triggers end to end through the real server: interval runs on schedule, cron and bad settings
/// at apply time, signed GitHub webhooks through `POST /api/external/github`, the subscription
/// lifecycle with rollback, and pipeline errors.
@Suite(.serialized)
struct TriggerTests {
    static let secret = "webhook-s3cret"

    static func harness() async throws -> ServerHarness {
        try await ServerHarness {
            $0.triggerIntervalMin = .seconds(1)
            $0.triggerIntervalJitter = "0s"
            $0.githubWebhookSecret = Self.secret
            $0.firstStartExtensions = ["github"]
            $0.externalMaxBodyBytes = 8 << 20
        }
    }

    func apply(_ h: ServerHarness, _ yaml: String) async throws -> ApplyResult {
        let (config, locator) = try h.server.api.loader.loadLocated(yaml, file: "pipeline.yaml")
        let problems = await h.server.triggers.validate(config, locator: locator)
        if !problems.isEmpty { throw ConfigError(problems: problems) }
        return try await h.server.pipelines.apply(namespace: "default", config: config)
    }

    func runs(_ h: ServerHarness, _ pipeline: String) async throws -> [Run] {
        try await h.server.store.runs(namespace: "default", pipeline: pipeline, limit: 1000).items
    }

    func problems(_ h: ServerHarness, _ yaml: String) async -> [ConfigProblem] {
        do {
            _ = try await apply(h, yaml)
            return []
        } catch let error as ConfigError {
            return error.problems
        } catch {
            Issue.record("expected a config error, got \(error)")
            return []
        }
    }

    @Test func anIntervalPipelineFiresOnScheduleAndStopsWhenDisabled() async throws {
        let h = try await Self.harness()
        return try await stopping({ await h.stop() }) {
            _ = try await apply(
                h,
                """
                id: ticker
                triggers:
                  - trigger: interval
                    label: fast
                    settings: { every: 1s }
                tasks:
                  - { id: t, image: none, command: ["sh", "-c", "echo fired by $GOFER_TRIGGER/$GOFER_TRIGGER_LABEL every $GOFER_TRIGGER_INTERVAL"] }
                """)
            let subs = try await h.server.store.subscriptions(namespace: "default", pipeline: "ticker")
            #expect(subs.count == 1 && subs[0].state == .active && subs[0].trigger == "interval", "\(subs)")
            var found: [Run] = []
            for _ in 0..<600 where found.count < 2 {
                try await Task.sleep(for: .milliseconds(100))
                found = try await runs(h, "ticker")
            }
            #expect(found.count >= 2, "an every-1s trigger fired \(found.count) times in 10 s")
            let first = try #require(found.last)
            #expect(first.initiator == .trigger("interval", label: "fast"))
            #expect(first.variables["GOFER_TRIGGER_INTERVAL"] == "1s" && first.variables["GOFER_TRIGGER_EVENT"] != nil, "\(first.variables)")
            let done = try await h.server.engine.waitForRun(namespace: "default", pipeline: "ticker", run: first.id)
            #expect(done.state == .succeeded)
            #expect(h.log("ticker", run: first.id, task: "t") == "fired by interval/fast every 1s\n")

            // Disabled: unsubscribed, no more runs.
            _ = try await h.server.pipelines.setEnabled(namespace: "default", pipeline: "ticker", false)
            try await Task.sleep(for: .milliseconds(300))
            let atDisable = try await runs(h, "ticker").count
            try await Task.sleep(for: .seconds(2.5))
            #expect(try await runs(h, "ticker").count == atDisable, "runs kept starting after disable")
            // Enabled again: fires again.
            _ = try await h.server.pipelines.setEnabled(namespace: "default", pipeline: "ticker", true)
            var again = atDisable
            for _ in 0..<50 where again == atDisable {
                try await Task.sleep(for: .milliseconds(100))
                again = try await runs(h, "ticker").count
            }
            #expect(again > atDisable, "no run after enabling again")
            // Each event started exactly one run.
            let events = try await h.server.store.triggerEvents(namespace: "default", pipeline: "ticker", limit: 1000)
            let withRuns = events.compactMap(\.run)
            #expect(Set(withRuns).count == withRuns.count)
            // Removing the trigger from the config unsubscribes it.
            _ = try await apply(h, "id: ticker\ntasks:\n  - { id: t, image: none, command: [\"true\"] }\n")
            #expect(try await h.server.store.subscriptions(namespace: "default", pipeline: "ticker").isEmpty)
            try await Task.sleep(for: .milliseconds(300))
            let atRemoval = try await runs(h, "ticker").count
            try await Task.sleep(for: .seconds(2))
            #expect(try await runs(h, "ticker").count == atRemoval, "runs kept starting after the trigger was removed")
        }
    }

    @Test func badTriggerSettingsAreRefusedWithPathAndLineAndNothingIsStored() async throws {
        let h = try await Self.harness()
        return try await stopping({ await h.stop() }) {
            func config(_ trigger: String) -> String {
                "id: bad\ntasks:\n  - { id: t, image: none, command: [\"true\"] }\ntriggers:\n" + trigger
            }
            var p = await problems(h, config("  - { trigger: interval, settings: { every: 0s } }\n"))
            #expect(p.first?.path == "/triggers/0/settings/every" && p.first?.line == 5, "\(p)")
            #expect(p.first?.message.contains("longer than 0s") == true, "\(p)")
            p = await problems(h, config("  - { trigger: interval, settings: { every: 500ms } }\n"))
            #expect(p.first?.path == "/triggers/0/settings/every", "\(p)")
            p = await problems(h, config("  - { trigger: nope }\n"))
            #expect(p.first?.path == "/triggers/0/trigger" && p.first?.message.contains("no trigger named \"nope\"") == true, "\(p)")
            #expect(p.first?.message.contains("cron, github, interval") == true, "lists what is installed: \(p)")
            p = await problems(h, config("  - { trigger: interval, settings: { every: 5s, colour: red } }\n"))
            #expect(p.contains { $0.path == "/triggers/0/settings/colour" }, "\(p)")
            p = await problems(h, config("  - { trigger: cron, settings: { schedule: \"61 * * * *\" } }\n"))
            #expect(
                p.first?.path == "/triggers/0/settings/schedule" && p.first?.message.contains("minute: 61 is out of range 0-59") == true, "\(p)"
            )
            p = await problems(h, config("  - { trigger: cron, settings: { schedule: \"0 3 * *\" } }\n"))
            #expect(p.first?.message.contains("cron needs 5") == true, "\(p)")
            p = await problems(h, config("  - { trigger: cron, settings: { schedule: \"@daily\", timezone: Mars/Olympus } }\n"))
            #expect(p.first?.path == "/triggers/0/settings/timezone", "\(p)")
            p = await problems(h, config("  - { trigger: cron, settings: { schedule: \"0 0 30 2 *\" } }\n"))
            #expect(p.first?.message.contains("never fires") == true, "\(p)")
            p = await problems(h, config("  - { trigger: github, settings: { repository: \"not a repo\" } }\n"))
            #expect(p.first?.path == "/triggers/0/settings/repository", "\(p)")
            p = await problems(
                h,
                config(
                    "  - { trigger: interval, label: x, settings: { every: 5s } }\n  - { trigger: cron, label: x, settings: { schedule: \"@hourly\" } }\n"
                ))
            #expect(p.first?.path == "/triggers/1/label", "\(p)")
            // Nothing was stored.
            await #expect(throws: StoreError.self) { try await h.server.store.pipeline(namespace: "default", id: "bad") }
            // A valid cron entry subscribes.
            _ = try await apply(
                h, config("  - { trigger: cron, label: nightly, settings: { schedule: \"0 3 * * MON-FRI\", timezone: Europe/Berlin } }\n"))
            let subs = try await h.server.store.subscriptions(namespace: "default", pipeline: "bad")
            #expect(subs.map(\.label) == ["nightly"] && subs[0].state == .active)
        }
    }

    func withAPI(_ h: ServerHarness, _ body: @Sendable (AuthorizedClient) async throws -> Void) async throws {
        try await h.withRouter(body)
    }

    func deliver(
        _ client: AuthorizedClient, delivery: String, body: [UInt8], secret: String? = TriggerTests.secret, event: String = "push",
        signature: String? = nil
    ) async throws -> TestResponse {
        var headers = HTTPFields()
        for (k, v) in GitHubWebhook.headers(event: event, delivery: delivery, body: body, secret: secret) {
            if let name = HTTPFields.Element.Name(k) { headers[name] = v }
        }
        if let signature, let name = HTTPFields.Element.Name("X-Hub-Signature-256") { headers[name] = signature }
        return try await client.execute(uri: "/api/external/github", method: .post, headers: headers, body: ByteBuffer(bytes: body))
    }

    @Test func aSignedWebhookStartsExactlyOneRunWithTheCommitVariables() async throws {
        let h = try await Self.harness()
        return try await stopping({ await h.stop() }) {
            _ = try await apply(
                h,
                """
                id: web
                triggers:
                  - { trigger: github, label: main, settings: { repository: acme/app, events: [push], branches: ["main", "release/**"] } }
                tasks:
                  - { id: build, image: none, command: ["sh", "-c", "echo $GOFER_GIT_REPOSITORY@$GOFER_GIT_SHA on $GOFER_GIT_BRANCH by $GOFER_GIT_ACTOR [$GOFER_GITHUB_EVENT]"] }
                """)
            let sha = "0123456789abcdef0123456789abcdef01234567"
            let body = GitHubWebhook.push(repository: "acme/app", branch: "main", sha: sha, actor: "alice")
            try await withAPI(h) { client in
                let ok = try await deliver(client, delivery: "d-1", body: body)
                #expect(ok.status == .accepted, "\(String(buffer: ok.body))")
                #expect(String(buffer: ok.body).contains("\"runs\":1"), "\(String(buffer: ok.body))")
                // GitHub redelivers: acknowledged, no second run.
                let again = try await deliver(client, delivery: "d-1", body: body)
                #expect(again.status.code < 300, "\(String(buffer: again.body))")
                // Forged, missing and wrong-secret signatures: refused before parsing, no run.
                let forged = try await deliver(client, delivery: "d-2", body: body, signature: "sha256=" + String(repeating: "0", count: 64))
                #expect(forged.status == .unauthorized)
                let missing = try await deliver(client, delivery: "d-3", body: body, secret: nil)
                #expect(missing.status == .unauthorized && String(buffer: missing.body).contains("X-Hub-Signature-256"))
                let wrong = try await deliver(client, delivery: "d-4", body: body, secret: "not-the-secret")
                #expect(wrong.status == .unauthorized)
                // Signed but not JSON: a clear 400.
                let junk = try await deliver(client, delivery: "d-5", body: Array("not json".utf8))
                #expect(junk.status == .badRequest && String(buffer: junk.body).contains("not JSON"), "\(String(buffer: junk.body))")
                // A branch the pipeline does not follow, and another repository: accepted, no run.
                let other = try await deliver(
                    client, delivery: "d-6", body: GitHubWebhook.push(repository: "acme/app", branch: "feature/x", sha: sha))
                #expect(String(buffer: other.body).contains("\"runs\":0"), "\(String(buffer: other.body))")
                let release = try await deliver(
                    client, delivery: "d-7", body: GitHubWebhook.push(repository: "acme/app", branch: "release/1.2", sha: sha))
                #expect(String(buffer: release.body).contains("\"runs\":1"), "release/** matches: \(String(buffer: release.body))")
                // Too large: refused by the host before the trigger sees it.
                let huge = try await client.execute(
                    uri: "/api/external/github", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(repeating: 0x20, count: 30 << 20))
                #expect(huge.status == .contentTooLarge)
                // Within the server's cap but too big for one protocol frame: a clear 413, not a broken pipe.
                let big = try await deliver(client, delivery: "d-8", body: Array(repeating: 0x20, count: 3_500_000))
                #expect(
                    big.status == .contentTooLarge && String(buffer: big.body).contains("protocol frame"),
                    "\(String(buffer: big.body).prefix(300))")
                let unknown = try await client.execute(uri: "/api/external/nope", method: .post, body: ByteBuffer(string: "{}"))
                #expect(unknown.status == .notFound)
                let notExternal = try await client.execute(uri: "/api/external/interval", method: .post, body: ByteBuffer(string: "{}"))
                #expect(notExternal.status == .notFound)
            }
            let all = try await runs(h, "web")
            #expect(all.count == 2, "exactly one run per accepted delivery: \(all.map(\.initiator))")
            let run = try #require(all.last)
            #expect(run.initiator == .trigger("github", label: "main"))
            #expect(run.variables["GOFER_GIT_SHA"] == sha && run.variables["GOFER_GIT_REF"] == "refs/heads/main", "\(run.variables)")
            #expect(run.variables["GOFER_GITHUB_DELIVERY"] == "d-1" && run.variables["GOFER_GIT_ACTOR"] == "alice")
            let done = try await h.server.engine.waitForRun(namespace: "default", pipeline: "web", run: run.id)
            #expect(done.state == .succeeded)
            #expect(h.log("web", run: run.id, task: "build") == "acme/app@\(sha) on main by alice [push]\n")
        }
    }

    @Test func aRefusedSubscriptionRollsTheApplyBackAndRecordsAPipelineError() async throws {
        let h = try await Self.harness()
        return try await stopping({ await h.stop() }) {
            // A trigger that passes validation but crashes when asked to subscribe.
            let dir = try TemporaryDirectory()
            await h.server.triggers.start([
                ExtensionSpec(
                    name: "flaky",
                    launch: ExtensionLaunch(
                        executable: BuiltProducts.path("gofer-fixture-broken"),
                        arguments: ["--faults", "crash-on:trigger/subscribe", "--", BuiltProducts.path("gofer-trigger-interval")]),
                    adminConfig: ["minimumInterval": "1s", "jitter": "0s"], stateDirectory: dir.path)
            ])
            let v1 =
                "id: careful\ntasks:\n  - { id: t, image: none, command: [\"true\"] }\ntriggers:\n  - { trigger: cron, label: nightly, settings: { schedule: \"@daily\" } }\n"
            _ = try await apply(h, v1)
            let v2 = v1.replacingOccurrences(of: "@daily", with: "@hourly") + "  - { trigger: flaky, label: shaky, settings: { every: 1s } }\n"
            await #expect(throws: SubscriptionError.self) { _ = try await apply(h, v2) }
            let p = try await h.server.store.pipeline(namespace: "default", id: "careful")
            #expect(p.latestVersion == 1 && p.state == .active, "back to version 1: \(p)")
            let subs = try await h.server.store.subscriptions(namespace: "default", pipeline: "careful")
            #expect(subs.map(\.label) == ["nightly"] && subs[0].settings["schedule"] == "@daily", "the previous subscriptions: \(subs)")
            let errors = try await h.server.store.pipelineErrors(namespace: "default", pipeline: "careful")
            #expect(errors.count == 1 && errors[0].kind == "subscription_failed" && errors[0].message.contains("shaky"), "\(errors)")
            // Fixed config: applies, and the error is cleared.
            _ = try await apply(h, v1.replacingOccurrences(of: "@daily", with: "@hourly"))
            #expect(try await h.server.store.pipelineErrors(namespace: "default", pipeline: "careful").isEmpty)
            #expect(try await h.server.store.pipeline(namespace: "default", id: "careful").latestVersion == 2)
        }
    }

    @Test func uninstallingATriggerDisablesItsPipelinesWithAnError() async throws {
        let h = try await Self.harness()
        _ = try await apply(
            h,
            "id: orphan\ntasks:\n  - { id: t, image: none, command: [\"true\"] }\ntriggers:\n  - { trigger: interval, settings: { every: 1h } }\n"
        )
        let preview = try await h.server.extensions.uninstall("interval", confirmed: false)
        #expect(preview.pipelines == [PipelineRef(namespace: "default", pipeline: "orphan")] && !preview.removed, "\(preview)")
        #expect(try await h.server.store.pipeline(namespace: "default", id: "orphan").state == .active, "nothing changes unconfirmed")
        let done = try await h.server.extensions.uninstall("interval", confirmed: true)
        #expect(done.removed)
        #expect(try await h.server.store.pipeline(namespace: "default", id: "orphan").state == .disabled)
        var errors = try await h.server.store.pipelineErrors(namespace: "default", pipeline: "orphan")
        #expect(
            errors.map(\.kind) == ["extension_uninstalled"] && errors[0].message.contains("extension interval was uninstalled"), "\(errors)"
        )
        await h.stop()
        // After a restart the missing trigger is reported too.
        let again = try await ServerHarness { $0.dataDir = h.dir.path }
        return try await stopping({ await again.stop() }) {
            errors = try await again.server.store.pipelineErrors(namespace: "default", pipeline: "orphan")
            #expect(Set(errors.map(\.kind)) == ["extension_uninstalled", "trigger_not_installed"], "\(errors)")
        }
    }

    /// Changes of one pipeline happen one at a time (``Pipelines``): eight applies with different
    /// trigger settings at once each get their own version, none is lost, and what is subscribed
    /// at the end is exactly what the live version says — never a mix of two configs.
    @Test func applyingOnePipelineFromManyClientsAtOnceKeepsEveryVersionAndOneSetOfTriggers() async throws {
        let h = try await Self.harness()
        return try await stopping({ await h.stop() }) {
            func config(_ i: Int) -> String {
                "id: busy\ntasks:\n  - { id: t, image: none, command: [\"true\"] }\ntriggers:\n  - { trigger: interval, label: every, settings: { every: \(i + 1)h } }\n"
            }
            _ = try await apply(h, config(0))
            try await withThrowingTaskGroup(of: ApplyResult.self) { group in
                for i in 1...8 { group.addTask { try await apply(h, config(i)) } }
                var versions: [Int] = []
                for try await result in group { versions.append(result.version) }
                #expect(versions.sorted() == Array(2...9), "each apply its own version: \(versions.sorted())")
            }
            let live = try await h.server.store.pipelineVersion(namespace: "default", pipeline: "busy", version: nil)
            #expect(live.version == 9)
            let subscriptions = try await h.server.store.subscriptions(namespace: "default", pipeline: "busy")
            #expect(subscriptions.count == 1 && subscriptions.allSatisfy { $0.state == .active }, "\(subscriptions)")
            #expect(subscriptions.first?.settings == live.config.triggers.first?.settings, "subscribed as the live version says: \(subscriptions)")
            #expect(try await h.server.store.pipeline(namespace: "default", id: "busy").state == .active)
        }
    }
}
