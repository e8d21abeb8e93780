import ExtensionSDK
import Foundation
import GoferHost
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

/// Versions as a resource, rollback, pinned runs, reruns, retention and pipeline-level logging,
/// on the process scheduler (no Docker needed), mostly through the API as a user would.
@Suite(.serialized)
struct VersionTests {
    static func yaml(_ id: String, _ script: String, extra: String = "") -> String {
        """
        id: \(id)
        \(extra)tasks:
          - { id: build, image: none, command: ["sh", "-c", "\(script)"] }
        """
    }

    func post(_ c: AuthorizedClient, _ uri: String, _ body: JSONValue) async throws -> TestResponse {
        try await c.execute(uri: uri, method: .post, body: ByteBuffer(string: body.description))
    }

    func applyBody(_ yaml: String, rollout: JSONValue? = nil) -> JSONValue {
        var o: [String: JSONValue] = ["config": .string(yaml), "file": "p.yaml"]
        if let rollout { o["rollout"] = rollout }
        return .object(o)
    }

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        d.dateDecodingStrategy = .iso8601
        return d
    }()

    func decode<T: Decodable>(_ type: T.Type, _ r: TestResponse) throws -> T {
        try Self.decoder.decode(T.self, from: Data(r.body.readableBytesView))
    }

    @Test func versionsAreListedShownAndDiffedAndRollbackMakesAnOldOneLiveAsANewVersion() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            try await h.withRouter { c in
                let base = "/api/namespaces/default/pipelines"
                #expect(try await post(c, base, applyBody(Self.yaml("app", "echo one"))).status == .created)
                #expect(try await post(c, base, applyBody(Self.yaml("app", "echo two"))).status == .created)
                #expect(try await post(c, base, applyBody(Self.yaml("app", "echo three"))).status == .created)

                let list = try decode(Page<PipelineVersionSummary>.self, try await c.execute(uri: base + "/app/versions", method: .get))
                #expect(list.items.map(\.version) == [3, 2, 1])
                #expect(list.items.map(\.status) == [.live, .previous, .previous])
                #expect(list.items[0].changes.contains { $0.contains("echo three") }, "\(list.items[0].changes)")

                let v1 = try decode(PipelineVersion.self, try await c.execute(uri: base + "/app/versions/1", method: .get))
                #expect(v1.source == Self.yaml("app", "echo one") && v1.format == "yaml", "the text as applied, with its format")

                let diff = try decode(VersionDiff.self, try await c.execute(uri: base + "/app/versions/3/diff?from=1", method: .get))
                #expect(diff.text.contains("-  - { id: build, image: none, command: [\"sh\", \"-c\", \"echo one\"] }"), "\(diff.text)")
                #expect(diff.text.contains("+  - { id: build, image: none, command: [\"sh\", \"-c\", \"echo three\"] }"), "\(diff.text)")

                // Rollback without --to: the version live before the live one (2), as version 4.
                let back = try await post(c, base + "/app/rollback", .emptyObject)
                #expect(back.status == .created, "\(String(buffer: back.body))")
                let result = try decode(ApplyResult.self, back)
                #expect(result.version == 4 && result.pipeline.liveVersion == 4)
                let v4 = try decode(PipelineVersion.self, try await c.execute(uri: base + "/app/versions/4", method: .get))
                #expect(v4.origin == .rollback && v4.copiedFrom == 2 && v4.config.tasks[0].command?.last == "echo two")
                let run = try await h.runToEnd("app").0
                #expect(run.pipelineVersion == 4 && h.log("app", run: run.id, task: "build") == "two\n", "new runs use the rolled-back config")

                // Rolling back again undoes the rollback (the previous live version was 3).
                let again = try decode(ApplyResult.self, try await post(c, base + "/app/rollback", .emptyObject))
                #expect(again.version == 5)
                #expect(try await h.server.store.pipelineVersion(namespace: "default", pipeline: "app").config.tasks[0].command?.last == "echo three")

                // Bad input: clear errors, nothing changed.
                let missing = try await post(c, base + "/app/rollback", ["to": 99])
                #expect(missing.status == .notFound && String(buffer: missing.body).contains("versions go up to 5"), "\(String(buffer: missing.body))")
                let same = try await post(c, base + "/app/rollback", ["to": 5])
                #expect(same.status == .conflict && String(buffer: same.body).contains("already the live version"))
                let zero = try await post(c, base + "/app/rollback", ["to": 0])
                #expect(zero.status == .badRequest)
                let unknown = try await post(c, base + "/app/rollback", ["version": 2])
                #expect(unknown.status == .badRequest && String(buffer: unknown.body).contains("unknown field \\\"version\\\""))
                #expect(try await h.server.store.pipeline(namespace: "default", id: "app").liveVersion == 5)
            }
        }
    }

    @Test func aRunCanAskForAnOlderVersionAndRunsBesideTheLiveOne() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(Self.yaml("side", "echo old; sleep 1"))
            _ = try await h.apply(Self.yaml("side", "echo new; sleep 1"))
            let old = try await h.server.engine.startRun(namespace: "default", pipeline: "side", initiator: .system, version: 1)
            let new = try await h.server.engine.startRun(namespace: "default", pipeline: "side", initiator: .system)
            #expect(old.pipelineVersion == 1 && old.versionReason == .pinned)
            #expect(new.pipelineVersion == 2 && new.versionReason == .live)
            // Both in progress at once.
            var both = false
            for _ in 0..<1200 where !both {
                let states = try await h.server.store.runs(namespace: "default", pipeline: "side").items.map(\.state)
                both = states.filter { $0 == .running }.count == 2
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(both, "an old and a new version run at the same time")
            _ = try await h.server.engine.waitForRun(namespace: "default", pipeline: "side", run: old.id)
            _ = try await h.server.engine.waitForRun(namespace: "default", pipeline: "side", run: new.id)
            #expect(h.log("side", run: old.id, task: "build") == "old\n" && h.log("side", run: new.id, task: "build") == "new\n")
            try await h.withRouter { c in
                let r = try await post(c, "/api/namespaces/default/pipelines/side/runs", ["version": 7])
                #expect(r.status == .notFound && String(buffer: r.body).contains("side@7"), "\(String(buffer: r.body))")
                let bad = try await post(c, "/api/namespaces/default/pipelines/side/runs", ["version": "1"])
                #expect(bad.status == .badRequest && String(buffer: bad.body).contains("/version"))
            }
        }
    }

    @Test func rerunningFailedTasksCarriesTheRestOverAndRunsOnlyWhatFailedAndItsDependents() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            let marker = h.dir.path + "/fixed"
            _ = try await h.apply(
                """
                id: flaky
                tasks:
                  - { id: lint, image: none, command: ["sh", "-c", "echo linted"] }
                  - { id: test, image: none, command: ["sh", "-c", "echo testing; test -e \(marker)"] }
                  - { id: package, image: none, depends_on: [lint, test], command: ["sh", "-c", "echo packaged"] }
                  - { id: docs, image: none, depends_on: [lint], command: ["sh", "-c", "echo docs"] }
                """)
            let (first, _) = try await h.runToEnd("flaky")
            #expect(first.state == .failed)
            try await h.withRouter { c in
                let running = try await post(c, "/api/namespaces/default/pipelines/flaky/runs/99/rerun", .emptyObject)
                #expect(running.status == .notFound)
            }
            #expect(FileManager.default.createFile(atPath: marker, contents: nil))
            let rerun = try await h.server.engine.rerun(namespace: "default", pipeline: "flaky", run: first.id, failedOnly: true, by: .system)
            #expect(rerun.rerunOf == first.id && rerun.versionReason == .rerun && rerun.pipelineVersion == 1)
            let done = try await h.server.engine.waitForRun(namespace: "default", pipeline: "flaky", run: rerun.id)
            #expect(done.state == .succeeded, "\(done)")
            let tasks = Dictionary(
                uniqueKeysWithValues: try await h.server.store.tasks(namespace: "default", pipeline: "flaky", run: rerun.id).map { ($0.task, $0) })
            #expect(tasks["lint"]?.carriedFrom == first.id && tasks["docs"]?.carriedFrom == first.id, "succeeded tasks are carried over")
            #expect(tasks["test"]?.carriedFrom == nil && tasks["package"]?.carriedFrom == nil, "the failed task and its dependent ran again")
            #expect(h.log("flaky", run: rerun.id, task: "test") == "testing\n")
            #expect(h.log("flaky", run: rerun.id, task: "lint") == "", "a carried-over task did not run again")
            try await h.withRouter { c in
                // Its log is the one of the run it came from.
                let log = try await c.execute(uri: "/api/namespaces/default/pipelines/flaky/runs/\(rerun.id)/tasks/lint/logs", method: .get)
                #expect(String(buffer: log.body) == "linted\n")
                // Nothing failed in the rerun: --failed is refused, a whole rerun is fine.
                let nothing = try await post(c, "/api/namespaces/default/pipelines/flaky/runs/\(rerun.id)/rerun", ["failed_only": true])
                #expect(nothing.status == .conflict && String(buffer: nothing.body).contains("no task failed"))
                let whole = try await post(c, "/api/namespaces/default/pipelines/flaky/runs/\(first.id)/rerun", .emptyObject)
                #expect(whole.status == .created)
                let run = try decode(Run.self, whole)
                let all = try await h.server.engine.waitForRun(namespace: "default", pipeline: "flaky", run: run.id)
                #expect(all.state == .succeeded)
                #expect(try await h.server.store.tasks(namespace: "default", pipeline: "flaky", run: run.id).allSatisfy { $0.carriedFrom == nil })
            }
        }
    }

    @Test func aRunStillInProgressCannotBeRerun() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(Self.yaml("slow", "sleep 30"))
            let run = try await h.server.engine.startRun(namespace: "default", pipeline: "slow", initiator: .system)
            await #expect(throws: StoreError.self) {
                _ = try await h.server.engine.rerun(namespace: "default", pipeline: "slow", run: run.id, failedOnly: false, by: .system)
            }
            try await h.server.engine.cancelRun(namespace: "default", pipeline: "slow", run: run.id, by: .system, why: "done")
            _ = try await h.server.engine.waitForRun(namespace: "default", pipeline: "slow", run: run.id)
        }
    }

    @Test func retentionKeepsTheLimitButNeverAVersionInUse() async throws {
        let h = try await ServerHarness { $0.keepVersions = 3 }
        return try await stopping({ await h.stop() }) {
            // Version 1 is pinned by a run in progress.
            _ = try await h.apply(Self.yaml("kept", "sleep 30"))
            let pinned = try await h.server.engine.startRun(namespace: "default", pipeline: "kept", initiator: .system)
            for i in 2...6 { _ = try await h.server.pipelines.apply(namespace: "default", config: try config(Self.yaml("kept", "echo \(i)"))) }
            var versions = try await h.server.store.pipelineVersions(namespace: "default", pipeline: "kept").items.map(\.version)
            #expect(versions == [6, 5, 4, 1], "three newest, plus the one a run uses: \(versions)")
            // A pruned version is refused by name.
            await #expect(throws: StoreError.self) {
                _ = try await h.server.pipelines.rollback(namespace: "default", pipeline: "kept", to: 2)
            }
            do {
                _ = try await h.server.store.pipelineVersion(namespace: "default", pipeline: "kept", version: 2)
            } catch {
                #expect("\(error)".contains("pruned"), "\(error)")
            }
            try await h.server.engine.cancelRun(namespace: "default", pipeline: "kept", run: pinned.id, by: .system, why: nil)
            _ = try await h.server.engine.waitForRun(namespace: "default", pipeline: "kept", run: pinned.id)
            // The pipeline's own limit overrides the server's; the next apply prunes version 1.
            _ = try await h.server.pipelines.apply(
                namespace: "default", config: try config(Self.yaml("kept", "echo 7", extra: "keep_versions: 2\n")))
            versions = try await h.server.store.pipelineVersions(namespace: "default", pipeline: "kept").items.map(\.version)
            #expect(versions == [7, 6], "\(versions)")
            let events = try await h.server.store.events(namespace: "default", pipeline: "kept", limit: 500).items
            #expect(events.contains { $0.kind == .pipelineVersionsPruned && $0.details["versions"] == "1,4,5" }, "\(events.map(\.details))")
        }
    }

    @Test func loggingFalseForAWholePipelineStoresNoOutputUnlessATaskAsks() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(
                """
                id: quiet
                logging: false
                tasks:
                  - { id: secret, image: none, command: ["echo", "do not store me"] }
                  - { id: loud, image: none, logging: true, command: ["echo", "store me"] }
                """)
            let (run, tasks) = try await h.runToEnd("quiet")
            #expect(run.state == .succeeded)
            #expect(tasks.first { $0.task == "secret" }?.logging == false && tasks.first { $0.task == "loud" }?.logging == true)
            #expect(h.log("quiet", run: run.id, task: "secret") == "")
            #expect(h.log("quiet", run: run.id, task: "loud") == "store me\n")
            try await h.withRouter { c in
                let r = try await c.execute(uri: "/api/namespaces/default/pipelines/quiet/runs/\(run.id)/tasks/secret/logs", method: .get)
                #expect(r.status == .conflict && String(buffer: r.body).contains("logging_disabled"))
            }
        }
    }

    func config(_ yaml: String) throws -> PipelineConfig { try PipelineConfigLoader().load(yaml, file: "p.yaml") }
}
