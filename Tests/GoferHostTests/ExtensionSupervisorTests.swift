import ExtensionClient
import ExtensionSDK
import Foundation
import GoferHost
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The supervisor against real extension processes that crash, hang and refuse to exit.
@Suite(.serialized)
struct ExtensionSupervisorTests {
    static var fastPolicy: ExtensionSupervisor.Policy {
        var p = ExtensionSupervisor.Policy()
        // Long enough for a fresh process's handshake on a machine running the whole suite (2 s
        // was not, once); the hang test still ends within seconds.
        p.handshakeTimeout = .seconds(6)
        p.callTimeout = .seconds(5)
        p.cancelGrace = .milliseconds(300)
        p.initialBackoff = .milliseconds(50)
        p.maxBackoff = .milliseconds(200)
        p.crashLimit = 3
        p.pingInterval = .seconds(30)
        p.shutdownDeadline = .milliseconds(500)
        p.killGrace = .milliseconds(500)
        return p
    }

    /// The memory secret store, optionally behind the fault-injecting fixture.
    static func supervisor(faults: [String]? = nil, policy: ExtensionSupervisor.Policy = fastPolicy, versions: [String]? = nil)
        -> ExtensionSupervisor
    {
        let store = BuiltProducts.path("gofer-secrets-memory")
        let launch =
            faults.map {
                ExtensionLaunch(
                    executable: BuiltProducts.path("gofer-fixture-broken"), arguments: ["--faults", $0.joined(separator: ","), "--", store])
            }
            ?? ExtensionLaunch(executable: store)
        var options = InitializeOptions(kind: .secrets)
        if let versions { options.protocolVersions = versions }
        return ExtensionSupervisor(name: "memory-secrets", launch: launch, options: options, policy: policy)
    }

    /// True once no live process (zombies awaiting their reaper do not count) is left in the group.
    static func groupIsGone(_ pgid: Int32) async -> Bool {
        for _ in 0..<100 {
            let live =
                (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.contains { entry in
                    guard Int32(entry) != nil, let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                        let close = stat.lastIndex(of: ")")
                    else { return false }
                    let fields = stat[stat.index(after: close)...].split(separator: " ")
                    return fields.count > 3 && fields[0] != "Z" && Int32(fields[2]) == pgid
                } ?? false
            if !live { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    @Test func startsAndServesCalls() async throws {
        let sup = Self.supervisor()
        let shake = try await sup.start()
        #expect(shake.name == "memory-secrets" && shake.kind == .secrets)
        _ = try await sup.call("secrets/put", ["key": "a", "value": "1"])
        #expect(try await sup.call("secrets/get", ["key": "a"])["value"] == "1")
        await sup.stop()
        #expect(await sup.status == .stopped)
    }

    @Test func restartsAnExtensionKilledWithSIGKILL() async throws {
        let sup = Self.supervisor()
        _ = try await sup.start()
        guard case .running(let pid) = await sup.status else {
            Issue.record("not running")
            return
        }
        kill(pid, SIGKILL)
        // Once the supervisor has seen the crash, calls wait for the restart and succeed on the new process.
        let deadline = ContinuousClock.now + .seconds(5)
        while await sup.status == .running(pid: pid) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        let result = try await sup.call("health", timeout: .seconds(5))
        #expect(result["status"] == "healthy")
        #expect(await sup.restarts == 1)
        guard case .running(let newPID) = await sup.status else {
            Issue.record("not running after restart: \(await sup.status)")
            return
        }
        #expect(newPID != pid)
        await sup.stop()
    }

    @Test func crashLoopTripsTheBreakerWithTheCrashMessage() async throws {
        let sup = Self.supervisor(faults: ["crash-on:health"])
        _ = try await sup.start()
        for _ in 0..<3 {
            await #expect(throws: (any Error).self) { _ = try await sup.call("health", timeout: .seconds(5)) }
        }
        // Third crash within the window: no more restarts.
        try await Task.sleep(for: .milliseconds(300))
        guard case .failed(let reason) = await sup.status else {
            Issue.record("expected failed, got \(await sup.status)")
            return
        }
        #expect(reason.contains("crashed 3 times"), "\(reason)")
        #expect(reason.contains("Fatal error: broken-fixture crashing on purpose"), "\(reason)")
        do {
            _ = try await sup.call("health", timeout: .seconds(1))
            Issue.record("a failed extension must refuse calls")
        } catch let error as SupervisorError {
            #expect(error.description.contains("crashed 3 times"))
        }
        await sup.stop()
    }

    @Test func aCallThatIsNeverAnsweredTimesOut() async throws {
        var policy = Self.fastPolicy
        policy.callTimeout = .seconds(300)
        let sup = Self.supervisor(faults: ["hang-on:secrets/get"], policy: policy)
        _ = try await sup.start()
        let start = ContinuousClock.now
        do {
            _ = try await sup.call("secrets/get", ["key": "x"], timeout: .milliseconds(300))
            Issue.record("expected a timeout")
        } catch let failure as ExtensionFailure {
            #expect(failure.kind == .timedOut)
        }
        #expect(ContinuousClock.now - start < .seconds(60), "the call's own 300 ms, not the policy's 300 s")
        // The extension is still usable for other calls.
        #expect(try await sup.call("health")["status"] == "healthy")
        await sup.stop()
    }

    @Test func aHungExtensionIsKilledAfterMissedPingsAndRestarted() async throws {
        var policy = Self.fastPolicy
        policy.pingInterval = .milliseconds(100)
        policy.pingTimeout = .milliseconds(100)
        policy.missedPingsBeforeKill = 2
        let sup = Self.supervisor(faults: ["hang-on:$/ping"], policy: policy)
        _ = try await sup.start()
        // Two missed 100 ms pings, a kill and a restart: well under a second when idle; the
        // deadline only stops a test that would otherwise wait for good.
        let deadline = ContinuousClock.now + .seconds(120)
        while await sup.restarts == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(await sup.restarts >= 1)
        await sup.stop()
    }

    @Test func handshakeTimeoutFailsStartWithAClearError() async throws {
        let sup = Self.supervisor(faults: ["hang-on:initialize"])
        let start = ContinuousClock.now
        do {
            _ = try await sup.start()
            Issue.record("start should fail")
        } catch let error as SupervisorError {
            #expect(error.description.contains("handshake failed"), "\(error)")
        }
        // The 6 s handshake timeout and the kill of the hung process; without the timeout start
        // would hang for good.
        #expect(ContinuousClock.now - start < .seconds(60))
        guard case .failed = await sup.status else {
            Issue.record("expected failed")
            return
        }
    }

    @Test func protocolMismatchIsRefusedListingBothSides() async throws {
        let sup = Self.supervisor(versions: ["2.0"])
        do {
            _ = try await sup.start()
            Issue.record("start should fail")
        } catch {
            let text = "\(error)"
            #expect(text.contains("no common protocol version"), "\(text)")
            #expect(text.contains("2.0") && text.contains("1.0"), "\(text)")
        }
    }

    @Test func shutdownIsGracefulAndLeavesNoProcess() async throws {
        // A 120 s deadline: returning well before it means the extension exited on its own after
        // `shutdown`, not killed at the deadline (a 0.5 s deadline made this a race with load).
        var policy = Self.fastPolicy
        policy.shutdownDeadline = .seconds(120)
        let sup = Self.supervisor(policy: policy)
        _ = try await sup.start()
        guard case .running(let pid) = await sup.status else { return }
        let start = ContinuousClock.now
        await sup.stop()
        #expect(ContinuousClock.now - start < .seconds(60), "exited on its own, not killed at the 120 s deadline")
        #expect(await Self.groupIsGone(pid))
    }

    @Test func anExtensionIgnoringShutdownIsKilledAfterTheDeadline() async throws {
        let sup = Self.supervisor(faults: ["ignore-shutdown"])
        _ = try await sup.start()
        guard case .running(let pid) = await sup.status else { return }
        let start = ContinuousClock.now
        await sup.stop()
        let took = ContinuousClock.now - start
        // deadline 0.5 s + 2 s wait for exit after stdin closes + kill grace 0.5 s: 3 s, and a
        // loaded machine's scheduling on top; an extension never killed would hang here for good.
        #expect(took < .seconds(60), "\(took)")
        #expect(await Self.groupIsGone(pid))
    }
}

/// One tenant's request that crashes a shared extension is quarantined; the extension stays up.
@Suite(.serialized)
struct ExtensionQuarantineTests {
    @Test func aRequestThatKeepsCrashingTheExtensionIsQuarantinedAndTheExtensionStaysUp() async throws {
        let sup = ExtensionSupervisorTests.supervisor(faults: ["crash-on-text:poison"])
        _ = try await sup.start()
        // Five different poisoned requests (two crashes each) — past the breaker's limit of 3 —
        // and a well-behaved request between each.
        for n in 0..<5 {
            let key = "task-poison-\(n)"
            await #expect(throws: ExtensionFailure.self) { _ = try await sup.call("secrets/get", ["key": .string("poison\(n)")], timeout: .seconds(60), key: key) }
            do {
                _ = try await sup.call("secrets/get", ["key": .string("poison\(n)")], timeout: .seconds(60), key: key)
                Issue.record("the second crash of \(key) was not reported")
            } catch let error as SupervisorError {
                #expect(error.reason == .quarantined && error.message.contains(key) && error.message.contains("crashed the extension 2 times"), "\(error)")
            }
            // A well-behaved request is served by the restarted extension…
            _ = try await sup.call("secrets/put", ["key": .string("ok\(n)"), "value": "1"], timeout: .seconds(60), key: "task-good-\(n)")
            let restarts = await sup.restarts
            // …and the poisoned one is refused from now on without reaching it: no further crash.
            do {
                _ = try await sup.call("secrets/get", ["key": .string("poison\(n)")], timeout: .seconds(60), key: key)
                Issue.record("a quarantined request was sent")
            } catch let error as SupervisorError {
                #expect(error.reason == .quarantined)
            }
            #expect(try await sup.call("secrets/get", ["key": .string("ok\(n)")], timeout: .seconds(60), key: "task-good-\(n)")["value"] == "1")
            #expect(await sup.restarts == restarts)
        }
        guard case .running = await sup.status else {
            Issue.record("the extension was taken away from everyone: \(await sup.status)")
            return
        }
        #expect(await sup.quarantinedKeys == (0..<5).map { "task-poison-\($0)" })
        // An admin restart forgets the quarantine.
        _ = try await sup.restart()
        #expect(await sup.quarantinedKeys.isEmpty)
        await sup.stop()
    }

    @Test func anInnocentRequestInFlightDuringACrashIsNotQuarantined() async throws {
        let sup = ExtensionSupervisorTests.supervisor(faults: ["crash-on-text:poison"])
        _ = try await sup.start()
        // The poisoned request crashes the extension while others run; each of those is retried
        // and succeeds, and only the poisoned one ends up quarantined.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<8 {
                group.addTask {
                    for attempt in 0..<5 {
                        do {
                            _ = try await sup.call("secrets/put", ["key": .string("k\(n)"), "value": "v"], timeout: .seconds(60), key: "task-\(n)")
                            return
                        } catch let f as ExtensionFailure where f.kind == .exited && attempt < 4 {}
                    }
                }
            }
            group.addTask {
                for _ in 0..<4 {
                    do { _ = try await sup.call("secrets/get", ["key": .string("poison")], timeout: .seconds(60), key: "task-poison") } catch let e as SupervisorError
                        where e.reason == .quarantined
                    { return } catch {}
                }
            }
            try await group.waitForAll()
        }
        #expect(await sup.quarantinedKeys == ["task-poison"])
        await sup.stop()
    }
}
