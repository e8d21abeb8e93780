import ExtensionSDK
import Foundation
import GoferHost
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Restarts the real Docker engine while runs are in flight. It disrupts every other Docker test,
/// so it runs only when GOFER_DOCKERD_RESTART=1, on its own (`.ci/run` runs it after the suite):
/// `GOFER_DOCKERD_RESTART=1 swift test --filter DockerdRestartTests`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["GOFER_DOCKERD_RESTART"] == "1"))
struct DockerdRestartTests {
    static func dockerdPID() -> Int32? {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let comm = try? String(contentsOfFile: "/proc/\(entry)/comm", encoding: .utf8) else { continue }
            if comm.trimmingCharacters(in: .whitespacesAndNewlines) == "dockerd" { return pid }
        }
        return nil
    }

    static func dockerAnswers() async -> Bool {
        (try? await SimpleHTTPClient(endpoint: .unix(path: "/var/run/docker.sock")).send("GET", path: "/_ping"))?.status == 200
    }

    /// SIGTERM to dockerd (what `systemctl restart docker` does), wait for it to exit, check the
    /// server while the engine is away, then start dockerd again.
    static func restartDockerd(whileDown: () async throws -> Void) async throws {
        let pid = try #require(dockerdPID(), "no dockerd process to restart")
        kill(pid, SIGTERM)
        for _ in 0..<300 where kill(pid, 0) == 0 { try await Task.sleep(for: .milliseconds(100)) }
        #expect(kill(pid, 0) != 0, "dockerd did not exit within 30 s")
        try await whileDown()
        _ = try await ChildProcess.run("sh", arguments: ["-c", "DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 dockerd >>/tmp/dockerd.log 2>&1 &"])
        for _ in 0..<600 where !(await dockerAnswers()) { try await Task.sleep(for: .milliseconds(100)) }
        #expect(await dockerAnswers(), "dockerd did not come back within 60 s")
    }

    @Test func tasksKilledByAnEngineRestartFailAsSchedulerLostAndNewRunsWorkAfter() async throws {
        guard try await DockerAvailability.check() else { return }
        let dir = try TemporaryDirectory()
        let port = RecoveryTests.freePort()
        let server = try await RecoveryTests.ServerProcess(dataDir: dir.path, port: port)
        return try await stopping({ [server] in await server.stop() }) {
            let client = server.client
            let pipeline = "engine-restart-\(UUID().uuidString.prefix(6).lowercased())"
            let config = """
                id: \(pipeline)
                tasks:
                  - { id: long, image: busybox:latest, command: ["sh", "-c", "echo started; sleep 60"] }
                  - { id: graceful, image: busybox:latest, command: ["sh", "-c", "trap 'exit 143' TERM; echo started; sleep 60 & wait"] }
                  - { id: after, image: busybox:latest, depends_on: { long: any, graceful: any }, command: ["echo", "after"] }
                """
            let _: ApplyResult = try await client.call("POST", "/api/namespaces/default/pipelines", body: ["config": .string(config)])
            var runs: [Int] = []
            for _ in 0..<3 {
                let r: Run = try await client.call("POST", "/api/namespaces/default/pipelines/\(pipeline)/runs", body: [:])
                runs.append(r.id)
            }
            for r in runs {
                let d = try await RecoveryTests().waitFor(client, pipeline, r) { $0.tasks.first { $0.task == "long" }?.state == .running }
                #expect(d.tasks.first { $0.task == "long" }?.state == .running)
            }
            print("dockerd restart: \(runs.count) runs in flight, restarting the engine")
            try await Self.restartDockerd {
                // The server keeps serving while the engine is away.
                let page: Page<Run> = try await client.call("GET", "/api/namespaces/default/pipelines/\(pipeline)/runs")
                #expect(page.items.count == runs.count)
            }
            for r in runs {
                let d = try await RecoveryTests().waitFor(client, pipeline, r) { $0.run.state.isTerminal }
                #expect(d.run.state == .failed, "run \(r): \(d.run)")
                // `long` ignores SIGTERM (PID 1) and is killed after dockerd's grace; `graceful` exits
                // 143 at once, while dockerd still answers. Both are the engine's doing.
                for name in ["long", "graceful"] {
                    let t = try #require(d.tasks.first { $0.task == name })
                    #expect(t.state == .failed && t.reason?.kind == .schedulerLost, "run \(r): \(t)")
                    #expect(t.exitCode == 143 || t.exitCode == 137, "run \(r): \(t)")
                    #expect(t.endedAt != nil && t.startedAt != nil)
                }
                let after = try #require(d.tasks.first { $0.task == "after" })
                #expect(after.state == .succeeded, "a task after the outage runs on the returned engine: \(after)")
            }
            // New runs work on the returned engine.
            let fresh: Run = try await client.call("POST", "/api/namespaces/default/pipelines/\(pipeline)/runs", body: [:])
            let done = try await RecoveryTests().waitFor(client, pipeline, fresh.id) { $0.tasks.first { $0.task == "long" }?.state == .running }
            #expect(done.tasks.first { $0.task == "long" }?.state == .running)
            _ = try await client.raw("POST", "/api/namespaces/default/pipelines/\(pipeline)/runs/\(fresh.id)/cancel", body: [:])
            let cancelled = try await RecoveryTests().waitFor(client, pipeline, fresh.id) { $0.run.state.isTerminal }
            #expect(cancelled.run.state == .cancelled)
            await server.stop()
            let store = try SQLStore(path: dir.path + "/gofer.sqlite")
            #expect(try await store.integrityCheck() == "ok")
            let left = try await SimpleHTTPClient(endpoint: .unix(path: "/var/run/docker.sock")).send(
                "GET",
                path: "/v1.41/containers/json?all=1&filters="
                    + ("{\"label\":[\"gofer.pipeline=\(pipeline)\"]}".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""))
            #expect(left.text == "[]\n", "containers left: \(left.text.prefix(300))")
        }
    }
}
