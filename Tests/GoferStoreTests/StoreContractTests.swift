import Foundation
import GoferConfig
import GoferModel
import GoferStore
import Testing

/// What the rest of the host relies on from any store, asserted through the repository protocols
/// only (never a backend's own API): what a user would see go wrong if a backend got it wrong.
@Suite struct StoreContractTests {
    static func config(_ id: String, tasks: [String] = ["build", "test"], echo: String = "hi") throws -> PipelineConfig {
        let yaml = "id: \(id)\ntasks:\n" + tasks.map { "  - { id: \($0), image: busybox:latest, command: [\"echo\", \"\(echo)\"] }" }.joined(separator: "\n") + "\n"
        return try PipelineConfigLoader().load(yaml, file: "\(id).yaml")
    }

    @Test(arguments: StoreBackend.enabled)
    func namespacesAreCreatedListedInPagesAndDeleted(backend: StoreBackend) async throws {
        try await backend.scratch { scratch in
            let store = try await scratch.open()
            #expect(try await store.namespace("default").id == "default", "every installation has the default namespace")
            for i in 0..<5 { _ = try await store.createNamespace(id: "team-\(i)", name: nil, description: "") }
            await #expect(throws: StoreError.self, "a namespace id is unique") {
                try await store.createNamespace(id: "team-0", name: nil, description: "")
            }
            var seen: [String] = []
            var cursor: String?
            repeat {
                let page = try await store.namespaces(after: cursor, limit: 2)
                #expect(page.items.count <= 2)
                seen += page.items.map(\.id)
                cursor = page.nextCursor
            } while cursor != nil
            #expect(seen == ["default", "team-0", "team-1", "team-2", "team-3", "team-4"], "every namespace once, in order, across pages")
            try await store.deleteNamespace("team-3")
            await #expect(throws: StoreError.self) { try await store.namespace("team-3") }
        }
    }

    @Test(arguments: StoreBackend.enabled)
    func applyingStoresAVersionOnlyWhenTheConfigChanged(backend: StoreBackend) async throws {
        try await backend.scratch { scratch in
            let store = try await scratch.open()
            let first = try await store.apply(namespace: "default", config: try Self.config("app"))
            #expect(first.created && first.version == 1)
            let same = try await store.apply(namespace: "default", config: try Self.config("app"))
            #expect(!same.created && same.version == 1, "an identical config stores nothing")
            let changed = try await store.apply(namespace: "default", config: try Self.config("app", echo: "changed"))
            #expect(changed.created && changed.version == 2 && !changed.changes.isEmpty, "\(changed.changes)")
            #expect(try await store.pipelineVersion(namespace: "default", pipeline: "app").version == 2, "the live version is the newest")
            let versions = try await store.pipelineVersions(namespace: "default", pipeline: "app")
            #expect(versions.items.map(\.version) == [2, 1])
            #expect(try await store.pipelines(namespace: "default").items.map(\.id) == ["app"])
            await #expect(throws: StoreError.self, "pipelines live in their namespace") {
                try await store.pipeline(namespace: "team", id: "app")
            }
        }
    }

    @Test(arguments: StoreBackend.enabled)
    func aRunsStateChangesEachAppendTheirEventInOrder(backend: StoreBackend) async throws {
        try await backend.scratch { scratch in
            let store = try await scratch.open()
            _ = try await store.apply(namespace: "default", config: try Self.config("app"))
            let before = try await store.events(namespace: "default", pipeline: "app").items.last?.id ?? 0
            let created = try await store.createRun(namespace: "default", pipeline: "app", initiator: .system, variables: ["A": "1"])
            #expect(created.run.state == .pending && created.run.variables == ["A": "1"])
            #expect(created.tasks.map(\.task).sorted() == ["build", "test"] && created.tasks.allSatisfy { $0.state == .waiting })
            let build = try #require(created.tasks.first { $0.task == "build" })
            // What a write may have changed moves on; what it cannot have changed stays (cached answers).
            let id = created.run.id
            func tags() -> [WriteGenerations.Tag] {
                [.runList(namespace: "default", pipeline: "app"), .run(namespace: "default", pipeline: "app", id: id), .anything]
                    .map(store.generations.tag)
            }
            var was = tags()
            try await store.setTaskState(build, .running, handle: "job-1", startedAt: Date())
            var now = tags()
            #expect(now[1] != was[1] && now[2] != was[2], "a task's change makes its run's answer stale")
            #expect(now[0] == was[0], "and leaves its pipeline's run list current")
            was = now
            _ = try await store.setRunState(created.run, .running)
            now = tags()
            #expect(now[0] != was[0] && now[1] != was[1], "a run's change makes the run and its list stale")
            was = now
            _ = try await store.createNamespace(id: "other", name: nil, description: "", by: .system)
            now = tags()
            #expect(zip(was, now).allSatisfy { $0 != $1 }, "any other write makes everything stale")
            let task = try await store.task(namespace: "default", pipeline: "app", run: created.run.id, task: "build")
            #expect(task.state == .running && task.handle == "job-1")
            try await store.setTaskState(task, .succeeded, exitCode: 0, endedAt: Date())
            let detail = try await store.runDetail(namespace: "default", pipeline: "app", id: created.run.id)
            #expect(detail.run.state == .running && detail.tasks.first { $0.task == "build" }?.exitCode == 0)
            #expect(try await store.unfinishedRuns().map(\.id) == [created.run.id])
            let events = try await store.events(namespace: "default", pipeline: "app", after: before).items
            let kinds = events.map(\.kind)
            #expect(kinds.filter { $0 == .taskStateChanged }.count == 2 && kinds.contains(.runStateChanged), "\(kinds)")
            #expect(events.map(\.id) == events.map(\.id).sorted(), "events come in the order they happened")
            _ = try await store.setRunState(detail.run, .succeeded)
            #expect(try await store.unfinishedRuns().isEmpty)
        }
    }

    @Test(arguments: StoreBackend.enabled)
    func runIDsCountUpPerPipelineAndPageNewestFirst(backend: StoreBackend) async throws {
        try await backend.scratch { scratch in
            let store = try await scratch.open()
            _ = try await store.apply(namespace: "default", config: try Self.config("a"))
            _ = try await store.apply(namespace: "default", config: try Self.config("b"))
            var ids: [Int] = []
            for _ in 0..<5 { ids.append(try await store.createRun(namespace: "default", pipeline: "a", initiator: .system).run.id) }
            #expect(ids == [1, 2, 3, 4, 5])
            #expect(try await store.createRun(namespace: "default", pipeline: "b", initiator: .system).run.id == 1, "each pipeline counts its own runs")
            let first = try await store.runs(namespace: "default", pipeline: "a", limit: 2)
            #expect(first.items.map(\.id) == [5, 4])
            let next = try await store.runs(namespace: "default", pipeline: "a", before: first.nextCursor.flatMap { Int($0) }, limit: 10)
            #expect(next.items.map(\.id) == [3, 2, 1] && next.nextCursor == nil)
        }
    }

    @Test(arguments: StoreBackend.enabled)
    func aTriggerEventIsStoredOnceHoweverOftenItIsDelivered(backend: StoreBackend) async throws {
        try await backend.scratch { scratch in
            let store = try await scratch.open()
            _ = try await store.apply(namespace: "default", config: try Self.config("app"))
            let now = Date()
            let subscription = TriggerSubscription(
                id: "sub-1", namespace: "default", pipeline: "app", label: "every", trigger: "interval", settings: .object([:]), state: .active,
                detail: "", cursor: nil, createdAt: now, updatedAt: now)
            try await store.replaceSubscriptions(namespace: "default", pipeline: "app", with: [subscription])
            let first = try await store.deliver(subscription: "sub-1", of: "interval", eventID: "e-1", occurredAt: nil, variables: ["X": "y"], cursor: "c1")
            guard case .started(let created) = first else {
                Issue.record("the first delivery did not start a run: \(first)")
                return
            }
            #expect(created.run.variables["X"] == "y")
            let again = try await store.deliver(subscription: "sub-1", of: "interval", eventID: "e-1", occurredAt: nil, variables: ["X": "y"], cursor: "c1")
            guard case .duplicate = again else {
                Issue.record("a redelivered event started something: \(again)")
                return
            }
            #expect(try await store.runs(namespace: "default", pipeline: "app").items.count == 1, "one event, one run")
            #expect(try await store.triggerEvents(namespace: "default", pipeline: "app").map(\.eventID) == ["e-1"])
            #expect(try await store.subscriptions(trigger: "interval").first?.cursor == "c1", "the cursor is kept for re-subscribing")
        }
    }

    @Test(arguments: StoreBackend.enabled)
    func aRevokedTokenIsNoLongerValid(backend: StoreBackend) async throws {
        try await backend.scratch { scratch in
            let store = try await scratch.open()
            let token = APIToken(id: "t1", name: "ci", kind: .user, roles: ["admin"], namespaces: ["*"], createdAt: Date())
            let hash = Data("secret-hash".utf8)
            try await store.createToken(token, hash: hash)
            guard case .valid(let found) = try await store.token(hash: hash) else {
                Issue.record("a new token is not valid")
                return
            }
            #expect(found.id == "t1" && found.roles == ["admin"])
            guard case .unknown = try await store.token(hash: Data("other".utf8)) else {
                Issue.record("an unknown hash found a token")
                return
            }
            try await store.revokeToken(id: "t1", by: .system, reason: "left the team")
            guard case .revoked = try await store.token(hash: hash) else {
                Issue.record("a revoked token still looks valid")
                return
            }
            #expect(try await store.tokens(includeRevoked: false).isEmpty)
        }
    }

    @Test(arguments: StoreBackend.enabled)
    func whatWasStoredIsThereAfterReopening(backend: StoreBackend) async throws {
        try await backend.scratch { scratch in
            do {
                let store = try await scratch.open()
                _ = try await store.apply(namespace: "default", config: try Self.config("app"))
                _ = try await store.createRun(namespace: "default", pipeline: "app", initiator: .system)
                try await store.setMeta(.scheduler, "docker")
                #expect(try await store.meta(.secretStore) == nil)
            }
            let reopened = try await scratch.open()
            #expect(try await reopened.runs(namespace: "default", pipeline: "app").items.map(\.id) == [1])
            #expect(try await reopened.meta(.scheduler) == "docker")
            try await reopened.setMeta(.scheduler, "swarm")
            #expect(try await reopened.meta(.scheduler) == "swarm", "a value is replaced, not added")
            #expect(try await reopened.integrityCheck() == "ok")
        }
    }
}
