import ExtensionSDK
import Foundation
import GoferHost
import Synchronization
import TestSupport
import Testing

/// How the engine classifies a task killed while the container engine was away, against a fake
/// scheduler that plays an outage (wait fails as unavailable, then the job turns out exited).
struct SchedulerOutageTests {
    final class FakeScheduler: SchedulerClient {
        let exitCode: Int
        let outageWaits: Int
        private let waits = Mutex(0)

        init(exitCode: Int, outageWaits: Int) {
            self.exitCode = exitCode
            self.outageWaits = outageWaits
        }

        func start(_ job: JobSpec) async throws -> String { "fake-\(job.taskExecutionID)" }
        func wait(_ handle: String, timeout: Duration) async throws -> JobStatus {
            let n = waits.withLock { w in
                w += 1
                return w
            }
            if n <= outageWaits { throw ProtocolError(.unavailable, "Docker engine: connection reset", reason: "docker.unreachable") }
            return JobStatus(
                handle: handle, state: .exited, exitCode: exitCode, startedAt: "2026-11-29T10:00:00.000Z",
                finishedAt: "2026-11-29T10:00:01.500Z")
        }
        func inspect(_ handle: String) async throws -> JobStatus { try await wait(handle, timeout: .seconds(1)) }
        func list(labels: [String: String]) async throws -> [JobStatus] { [] }
        func stop(_ handle: String, grace: Duration) async throws {}
        func remove(_ handle: String) async throws {}
        func logs(_ handle: String, follow: Bool, sink: @Sendable (String, [UInt8]) async throws -> Void) async throws {}
    }

    func run(exitCode: Int, outageWaits: Int) async throws -> TaskExecution {
        let dir = try TemporaryDirectory()
        let store = try SQLStore(path: dir.path + "/gofer.sqlite")
        let engine = RunEngine(
            store: store, scheduler: FakeScheduler(exitCode: exitCode, outageWaits: outageWaits), bus: EventBus(),
            logs: LogFiles(root: dir.path + "/logs"), settings: EngineSettings())
        let config = try PipelineConfigLoader().load("id: p\ntasks:\n  - { id: t, image: x, logging: false }\n", file: "p.yaml")
        _ = try await store.apply(namespace: "default", config: config)
        let run = try await engine.startRun(namespace: "default", pipeline: "p", initiator: .system)
        _ = try await engine.waitForRun(namespace: "default", pipeline: "p", run: run.id)
        return try await store.tasks(namespace: "default", pipeline: "p", run: run.id)[0]
    }

    @Test func aTaskKilledDuringAnEngineOutageFailsAsSchedulerLost() async throws {
        let t = try await run(exitCode: 143, outageWaits: 2)
        #expect(t.state == .failed && t.reason?.kind == .schedulerLost, "\(t)")
        #expect(t.exitCode == 143)
    }

    @Test func withoutAnOutageExit143IsTheTasksOwnFailure() async throws {
        let t = try await run(exitCode: 143, outageWaits: 0)
        #expect(t.reason?.kind == .exitCode, "\(t)")
    }

    @Test func aTaskThatFinishesCleanlyAcrossAnOutageSucceeds() async throws {
        let t = try await run(exitCode: 0, outageWaits: 1)
        #expect(t.state == .succeeded, "\(t)")
        // The engine's times, to the millisecond.
        #expect(t.endedAt.map { $0.timeIntervalSince1970 - (t.startedAt?.timeIntervalSince1970 ?? 0) } == 1.5)
    }
}
