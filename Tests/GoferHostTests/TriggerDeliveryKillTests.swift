import ExtensionSDK
import Foundation
import GoferHost
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `kill -9` between a trigger's emit and the host's answer, on either side, loses no event and
/// starts none twice. Failpoints put the kill exactly in that window; random kills of the server
/// and the trigger are added on top. Real `gofer service start` processes, process scheduler.
@Suite(.serialized)
struct TriggerDeliveryKillTests {
    static let environment = [
        "GOFER_SCHEDULER": "process", "GOFER_TRIGGER_INTERVAL_MIN": "1s",
        "GOFER_TRIGGER_INTERVAL_JITTER": "0s",
    ]
    static let pipeline = """
        id: tick
        triggers:
          - { trigger: interval, label: every-second, settings: { every: 1s } }
        tasks:
          - { id: t, image: none, command: ["true"] }
        """

    func server(_ dir: String, _ port: Int, failpoints: String? = nil) async throws -> RecoveryTests.ServerProcess {
        var env = Self.environment
        if let failpoints { env["GOFER_FAILPOINTS"] = failpoints }
        return try await RecoveryTests.ServerProcess(dataDir: dir, port: port, environment: env)
    }

    /// Every stored event started exactly one run, every trigger run came from one stored event,
    /// and the interval's events are contiguous from 1 (a lost one would leave a gap: the trigger
    /// numbers events from the stored cursor).
    func checkInvariants(_ dir: String) async throws -> Int {
        let store = try SQLStore(path: dir + "/gofer.sqlite")
        #expect(try await store.integrityCheck() == "ok")
        let events = try await store.triggerEvents(namespace: "default", pipeline: "tick", limit: 100_000)
        let runs = try await store.runs(namespace: "default", pipeline: "tick", limit: 100_000).items
        let numbers = events.compactMap { $0.eventID.split(separator: "/").last.flatMap { Int($0) } }.sorted()
        #expect(!numbers.isEmpty, "no event was delivered")
        #expect(numbers == Array(1...(numbers.last ?? 1)), "events lost or doubled: \(numbers)")
        // `finish` disables the pipeline while the trigger still ticks: an event that arrives after
        // that is stored, says why it started nothing, and is one of the last.
        let notRun = events.filter { $0.run == nil }
        #expect(
            notRun.allSatisfy { $0.outcome == "not run: the pipeline is disabled" },
            "an event started no run for another reason: \(notRun.map(\.outcome))")
        let number = { (e: TriggerEvent) in e.eventID.split(separator: "/").last.flatMap { Int($0) } ?? 0 }
        let lastStarted = events.filter { $0.run != nil }.map(number).max() ?? 0
        #expect(notRun.allSatisfy { number($0) > lastStarted }, "an event before the pipeline was disabled started no run")
        let runIDs = events.compactMap(\.run)
        #expect(Set(runIDs).count == runIDs.count, "an event started two runs")
        #expect(runs.count == runIDs.count, "\(runs.count) runs for \(runIDs.count) events that started one")
        for r in runs {
            #expect(r.initiator == .trigger("interval", label: "every-second"))
            #expect(r.state.isTerminal, "run \(r.id) is \(r.state)")
        }
        return events.count
    }

    /// Lets the restarted server deliver a few more events, then disables the pipeline and waits
    /// for its runs to end.
    func finish(_ server: RecoveryTests.ServerProcess) async throws {
        try await Task.sleep(for: .seconds(2.5))
        _ = try await server.client.raw("POST", "/api/namespaces/default/pipelines/tick/disable")
        for _ in 0..<100 {
            let page: Page<Run> = try await server.client.call("GET", "/api/namespaces/default/pipelines/tick/runs?limit=100")
            if page.items.allSatisfy({ $0.state.isTerminal }) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        await server.stop()
    }

    @Test func theServerDyingBetweenStoringAnEventAndAnsweringLosesAndDoublesNothing() async throws {
        let dir = try TemporaryDirectory()
        let port = RecoveryTests.freePort()
        let first = try await server(dir.path, port, failpoints: "emit-crash-after-store")
        let _: ApplyResult = try await first.client.call(
            "POST", "/api/namespaces/default/pipelines", body: ["config": .string(Self.pipeline)])
        // The first event is stored, then the server is SIGKILLed before the trigger hears back.
        let status = await first.process.waitForExit(timeout: .seconds(10))
        #expect(status != nil, "the failpoint did not fire")
        let second = try await server(dir.path, port)
        try await finish(second)
        let count = try await checkInvariants(dir.path)
        #expect(count >= 2, "delivery went on after the restart (\(count) events)")
    }

    @Test func theTriggerDyingBeforeItGetsTheAnswerLosesAndDoublesNothing() async throws {
        let dir = try TemporaryDirectory()
        let port = RecoveryTests.freePort()
        let s = try await server(dir.path, port, failpoints: "emit-kill-trigger-after-store")
        let _: ApplyResult = try await s.client.call("POST", "/api/namespaces/default/pipelines", body: ["config": .string(Self.pipeline)])
        try await Task.sleep(for: .seconds(3))
        let triggers: JSONValue = try await s.client.call("GET", "/api/triggers")
        let restarts = triggers["items"]?.arrayValue?.first { $0["name"] == "interval" }?["restarts"]?.intValue ?? 0
        #expect(restarts >= 1, "the failpoint did not kill the trigger: \(triggers)")
        try await finish(s)
        let count = try await checkInvariants(dir.path)
        #expect(count >= 2, "delivery went on after the trigger restarted (\(count) events)")
    }

    /// Random kill -9 of the server and of the trigger, seeded (GOFER_SOAK_SEED reproduces).
    @Test func randomKillsOfServerAndTriggerLoseAndDoubleNothing() async throws {
        let seed = ProcessInfo.processInfo.environment["GOFER_SOAK_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...999_999)
        print("trigger kill soak: seed \(seed) (rerun with GOFER_SOAK_SEED=\(seed))")
        var rng = CrashSoakTests.SeededRandom(state: seed)
        let dir = try TemporaryDirectory()
        let port = RecoveryTests.freePort()
        var s = try await server(dir.path, port)
        let _: ApplyResult = try await s.client.call("POST", "/api/namespaces/default/pipelines", body: ["config": .string(Self.pipeline)])
        let kills = 6
        for k in 0..<kills {
            try await Task.sleep(for: .milliseconds(Int64.random(in: 300...2200, using: &rng)))
            if k % 2 == 0 {
                await s.kill9()
                s = try await server(dir.path, port)
            } else if let pid = CrashSoakTests.child(of: s.process.pid, named: "gofer-trigger-interval") {
                kill(pid, SIGKILL)
            }
        }
        try await finish(s)
        let count = try await checkInvariants(dir.path)
        print("trigger kill soak: seed \(seed), \(kills) kills (server and trigger alternating), \(count) events, all invariants hold")
    }
}
