import ExtensionSDK
import Foundation
import GoferHost
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// SIGTERM (what systemd sends on every restart or upgrade) is invisible to the runs: the server
/// lets go of its running tasks without stopping them, and the next start re-attaches each one.
@Suite(.serialized)
struct GracefulRestartTests {
    static let pipeline = "upgrade"

    @Test(.timeLimit(.minutes(10))) func aRollingRestartWithTwentyRunsInFlightLosesNothingAndStartsNothingTwice() async throws {
        guard try await DockerAvailability.check() else { return }
        let dir = try TemporaryDirectory()
        let port = RecoveryTests.freePort()
        // The tasks wait for a signal: whatever happens to the test, none of them is left running.
        try await stopping({
            if let left = try? await Self.containers(), !left.isEmpty { _ = try? await ChildProcess.run("docker", arguments: ["rm", "-f"] + left) }
        }) {
            let first = try await RecoveryTests.ServerProcess(dataDir: dir.path, port: port)
            // Each task runs until the test signals it: how long 20 containers take to start on a
            // loaded engine does not decide whether one ends before the stop (a 60 s sleep did, in CI).
            let sleepy = """
                id: \(Self.pipeline)
                tasks:
                  - { id: work, image: busybox:latest, command: ["sh", "-c", "trap 'echo done; exit 0' USR1; echo start; while :; do sleep 1; done"] }
                """
            let _: ApplyResult = try await first.client.call("POST", "/api/namespaces/default/pipelines", body: ["config": .string(sleepy)])
            var runs: [Int] = []
            for _ in 0..<20 {
                let run: Run = try await first.client.call("POST", "/api/namespaces/default/pipelines/\(Self.pipeline)/runs", body: [:])
                runs.append(run.id)
            }
            let recovery = RecoveryTests()
            for r in runs { _ = try await recovery.waitFor(first.client, Self.pipeline, r) { $0.tasks.first?.state == .running } }
            // SIGTERM, as systemd sends it.
            let stopAt = ContinuousClock.now
            kill(first.process.pid, SIGTERM)
            let status = await first.process.waitForExit(timeout: .seconds(120))
            let took = ContinuousClock.now - stopAt
            print("graceful stop with 20 running tasks took \(took)")
            #expect(status != nil, "the server stopped")
            #expect(took < .seconds(60), "stopped without waiting out its tasks: \(took)")

            // The tasks still run on the engine.
            let running = try await ChildProcess.run(
                "docker", arguments: ["ps", "-q", "--filter", "label=gofer.pipeline=\(Self.pipeline)", "--filter", "label=gofer.namespace=default"])
            let containers = String(decoding: running.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
            #expect(containers.count == 20, "every task kept running through the stop: \(containers.count)")

            let server = try await RecoveryTests.ServerProcess(dataDir: dir.path, port: port)
            // The new server picks the tasks up while they still run; then each is told to finish.
            try await Task.sleep(for: .seconds(2))
            if !containers.isEmpty {
                _ = try await ChildProcess.run("docker", arguments: ["kill", "--signal", "USR1"] + containers, timeout: .seconds(120))
            }
            for r in runs {
                let d = try await recovery.waitFor(server.client, Self.pipeline, r) { $0.run.state.isTerminal }
                #expect(d.run.state == .succeeded, "run \(r): \(d.run) \(d.tasks)")
                let log = try await server.client.raw("GET", "/api/namespaces/default/pipelines/\(Self.pipeline)/runs/\(r)/tasks/work/logs")
                #expect(String(decoding: log, as: UTF8.self) == "start\ndone\n", "run \(r): the whole log, once (started once)")
            }
            // Finished tasks' containers are removed: housekeeping after each task's end, which on a
            // loaded engine can trail the run's end a little.
            var leftover = try await Self.containers()
            for _ in 0..<60 where !leftover.isEmpty {
                try await Task.sleep(for: .seconds(1))
                leftover = try await Self.containers()
            }
            #expect(leftover.isEmpty, "finished tasks' containers are removed: \(leftover)")
            await server.stop()
        }
    }

    /// This test's task containers, running or not.
    static func containers() async throws -> [String] {
        let all = try await ChildProcess.run(
            "docker", arguments: ["ps", "-aq", "--filter", "label=gofer.pipeline=\(pipeline)", "--filter", "label=gofer.namespace=default"])
        return String(decoding: all.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    @Test(.timeLimit(.minutes(5))) func stopWithDrainLetsTheRunFinishFirst() async throws {
        guard try await DockerAvailability.check() else { return }
        let dir = try TemporaryDirectory()
        let port = RecoveryTests.freePort()
        let server = try await RecoveryTests.ServerProcess(dataDir: dir.path, port: port)
        let config = """
            id: drain
            tasks:
              - { id: work, image: busybox:latest, command: ["sh", "-c", "echo start; sleep 3; echo done"] }
            """
        let _: ApplyResult = try await server.client.call("POST", "/api/namespaces/default/pipelines", body: ["config": .string(config)])
        let run: Run = try await server.client.call("POST", "/api/namespaces/default/pipelines/drain/runs", body: [:])
        _ = try await RecoveryTests().waitFor(server.client, "drain", run.id) { $0.tasks.first?.state == .running }
        let stop = try await ChildProcess.run(
            BuiltProducts.path("gofer"), arguments: ["service", "stop", "--drain", "--timeout", "2m", "--data-dir", dir.path, "--json"],
            timeout: .seconds(180))
        #expect(stop.status == .exited(0), "\(String(decoding: stop.stderr, as: UTF8.self))")
        #expect(String(decoding: stop.stdout, as: UTF8.self).contains("\"drained\":true"), "\(String(decoding: stop.stdout, as: UTF8.self))")
        #expect(!DataDirLock.isHeld(dataDir: dir.path))
        // Nothing was left for the next start: the run had ended before the server stopped.
        let again = try await RecoveryTests.ServerProcess(dataDir: dir.path, port: port)
        let d: RunDetail = try await again.client.call("GET", "/api/namespaces/default/pipelines/drain/runs/\(run.id)")
        #expect(d.run.state == .succeeded, "\(d.run)")
        // And without a server, stop says so.
        await again.stop()
        let none = try await ChildProcess.run(BuiltProducts.path("gofer"), arguments: ["service", "stop", "--data-dir", dir.path])
        #expect(none.status != .exited(0) && String(decoding: none.stderr, as: UTF8.self).contains("no Gofer server is running"))
    }
}
