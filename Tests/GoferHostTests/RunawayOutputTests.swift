import ExtensionSDK
import Foundation
import GoferHost
import TestSupport
import Testing

/// Tasks that print far faster than their output can be stored: every run still ends, within
/// a bound, with its log capped and marked.
@Suite(.serialized)
struct RunawayOutputTests {
    static let spew = "yes 0123456789012345678901234567890123456789012345678901234567890123456789"

    @Test(.timeLimit(.minutes(6))) func aTaskPrinting100MBEndsItsRunWithTheLogCappedAndMarked() async throws {
        guard try await DockerAvailability.check() else { return }
        let h = try await ServerHarness(scheduler: "docker") { $0.maxLogBytes = 8 << 20 }
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(
                "id: spew\ntasks:\n  - { id: t, image: busybox:latest, command: [\"sh\", \"-c\", \"\(Self.spew) | head -c 100000000; echo done\"] }\n")
            let started = try await h.server.engine.startRun(namespace: "default", pipeline: "spew", initiator: .system)
            // Timed from when the task is seen running: how long a busy engine takes to create and
            // start the container (in CI, beside a hundred others) is not what this bounds.
            for _ in 0..<3000 {
                let state = try await h.server.store.tasks(namespace: "default", pipeline: "spew", run: started.id)[0].state
                if state == .running || state.isTerminal { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            let start = ContinuousClock.now
            let run = try await h.server.engine.waitForRun(namespace: "default", pipeline: "spew", run: started.id)
            let took = ContinuousClock.now - start
            let tasks = try await h.server.store.tasks(namespace: "default", pipeline: "spew", run: run.id)
            #expect(run.state == .succeeded && tasks[0].exitCode == 0, "\(run) \(tasks)")
            // The task's own time (its container's, then at most the drain bound of 10 s) plus slack
            // for a loaded machine; before the bound, such a run never ended.
            let taskTime = (tasks[0].endedAt ?? Date()).timeIntervalSince(tasks[0].startedAt ?? Date())
            #expect(took < .seconds(Int64(taskTime.rounded(.up)) + 60), "the run took \(took) for a task of \(taskTime) s")
            let log = h.log("spew", run: run.id, task: "t")
            #expect(log.utf8.count <= (8 << 20) + 4096, "capped: \(log.utf8.count) bytes")
            #expect(log.contains("[gofer: log truncated:") || log.contains("[gofer: log incomplete:"), "marked")
            #expect(log.hasSuffix("done\n") || log.contains("[gofer: log incomplete:"), "either whole to the end or saying it is not")
        }
    }

    @Test(.timeLimit(.minutes(3))) func cancelEndsARunWhoseTaskPrintsWithoutEnd() async throws {
        guard try await DockerAvailability.check() else { return }
        let h = try await ServerHarness(scheduler: "docker") { $0.stopGrace = .seconds(2) }
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply("id: endless\ntasks:\n  - { id: t, image: busybox:latest, command: [\"sh\", \"-c\", \"\(Self.spew)\"] }\n")
            let run = try await h.server.engine.startRun(namespace: "default", pipeline: "endless", initiator: .system)
            for _ in 0..<100 {
                if try await h.server.store.tasks(namespace: "default", pipeline: "endless", run: run.id)[0].state == .running { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            try await Task.sleep(for: .seconds(3))
            let start = ContinuousClock.now
            try await h.server.engine.cancelRun(namespace: "default", pipeline: "endless", run: run.id, by: .system, why: "test")
            let done = try await h.server.engine.waitForRun(namespace: "default", pipeline: "endless", run: run.id)
            let took = ContinuousClock.now - start
            #expect(done.state == .cancelled)
            #expect(took < .seconds(2 + 10 + 30), "stop grace (2 s) + drain bound (10 s) + slack for a loaded machine; took \(took)")
        }
    }
}
