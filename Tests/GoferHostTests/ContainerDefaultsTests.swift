import ExtensionSDK
import Foundation
import GoferHost
import TestSupport
import Testing

/// Task containers get the server's safe defaults whatever their pipeline says.
@Suite(.serialized)
struct ContainerDefaultsTests {
    @Test func taskContainersHaveALogLimitPidsLimitMemoryAndTheConfiguredUser() async throws {
        guard try await DockerAvailability.check() else { return }
        let h = try await ServerHarness(scheduler: "docker") {
            $0.taskLogMaxSize = "5m"
            $0.taskPidsLimit = 256
            $0.taskMemoryDefaultMB = 300
            $0.taskUser = "1234:1234"
        }
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(
                """
                id: safe
                tasks:
                  - { id: plain, image: busybox:latest, command: ["sh", "-c", "id -u; sleep 300"] }
                  - { id: big, image: busybox:latest, memory: 600MB, command: ["sleep", "300"] }
                """)
            let run = try await h.server.engine.startRun(namespace: "default", pipeline: "safe", initiator: .system)
            // The tasks run until cancelled, so a loaded engine that is slow to start them cannot
            // make a container finish (and be removed) before it is inspected.
            var handles: [String: String] = [:]
            for _ in 0..<1800 where handles.count < 2 {
                for t in try await h.server.store.tasks(namespace: "default", pipeline: "safe", run: run.id) where t.state == .running {
                    handles[t.task] = t.handle
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            func inspect(_ handle: String?) async throws -> JSONValue {
                let r = try await ChildProcess.run("docker", arguments: ["inspect", handle ?? "none"])
                return try JSONParser().parse(r.stdout).arrayValue?.first ?? .null
            }
            try #require(handles.count == 2, "both tasks should be running within a minute: \(handles)")
            let plain = try await inspect(handles["plain"])
            let host = plain["HostConfig"] ?? .null
            #expect(host["LogConfig"]?["Config"]?["max-size"] == "5m" && host["LogConfig"]?["Config"]?["max-file"] == "2", "\(host["LogConfig"] ?? .null)")
            #expect(host["PidsLimit"] == 256 && host["Privileged"] == false)
            #expect(host["Memory"]?.intValue == Int64(300 * 1_048_576), "the default memory limit")
            #expect(plain["Config"]?["User"] == "1234:1234")
            let big = try await inspect(handles["big"])
            #expect(big["HostConfig"]?["Memory"]?.intValue == Int64(600 * 1_048_576), "a task's own memory setting wins")
            try await h.server.engine.cancelRun(namespace: "default", pipeline: "safe", run: run.id, by: .system, why: "test done")
            let done = try await h.server.engine.waitForRun(namespace: "default", pipeline: "safe", run: run.id)
            #expect(done.state == .cancelled)
            #expect(h.log("safe", run: run.id, task: "plain").hasPrefix("1234\n"), "the task ran as the configured user")
        }
    }
}
