import ExtensionClient
import ExtensionSDK
import Foundation
import TestSupport
import Testing

/// A busy Docker engine takes a request, acts on it and answers after the scheduler stopped
/// waiting. The Docker scheduler then finds out what the engine did instead of failing the task —
/// and never leaves a second container, or one of a start that failed for good.
@Suite(.serialized)
struct SlowEngineTests {
    struct Started {
        var handle: String
        var containers: [String]
        var exitCode: Int?
        var log: String
    }

    /// Starts a short task through the Docker scheduler talking to `endpoint`, waits for it, and
    /// reads its log and the containers of its task execution.
    func startTask(endpoint: String, command: [String], requestTimeoutSeconds: Int = 2) async throws -> Started {
        let connection = try ExtensionConnection.spawn(ExtensionLaunch(executable: BuiltProducts.path("gofer-scheduler-docker")))
        defer { connection.kill() }
        _ = try await connection.initialize(
            InitializeOptions(
                kind: .scheduler,
                adminConfig: ["endpoint": .string(endpoint), "requestTimeoutSeconds": .int(Int64(requestTimeoutSeconds))]))
        let execution = "slow-engine-\(UUID().uuidString.prefix(8))"
        return try await stopping({ await Self.removeContainers(of: execution) }) {
            let handle = try await connection.call(
                ProtocolCalls.schedulerStart,
                JobSpec(taskExecutionID: execution, image: "busybox:latest", command: command, labels: ["gofer.test": "slow-engine"])
            ).handle
            let status = try await connection.call(ProtocolCalls.schedulerWait, JobRef(handle: handle))
            var log: [UInt8] = []
            let (chunks, result) = connection.requestStream(
                ProtocolMethod.schedulerLogs.rawValue, try ProtocolCalls.schedulerLogs.encode(JobLogs(handle: handle, follow: false)),
                windowBytes: 64 * 1024)
            for await chunk in chunks { log += chunk.bytes }
            _ = try await result.value
            return Started(
                handle: handle, containers: try await Self.containers(of: execution), exitCode: status.exitCode,
                log: String(decoding: log, as: UTF8.self))
        }
    }

    static func containers(of execution: String) async throws -> [String] {
        let ps = try await ChildProcess.run("docker", arguments: ["ps", "-aq", "--no-trunc", "--filter", "label=gofer.task_execution=\(execution)"])
        return String(decoding: ps.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    static func removeContainers(of execution: String) async {
        for id in (try? await containers(of: execution)) ?? [] { _ = try? await ChildProcess.run("docker", arguments: ["rm", "-f", id]) }
    }

    /// The engine starts the container but answers after the scheduler's 2 s: the task runs once,
    /// to its end, with its whole log — it does not fail with "timed out waiting for the server".
    @Test func aStartAnsweredLateIsFoundRunningNotFailed() async throws {
        guard try await DockerAvailability.check() else { return }
        let engine = try await SlowDockerEngine.start(match: #"POST /v[0-9.]+/containers/[^/]+/start"#, delay: .seconds(6))
        return try await stopping({ await engine.stop() }) {
            let started = try await startTask(endpoint: "unix://" + engine.socket, command: ["sh", "-c", "echo first; sleep 1; echo second"])
            #expect(engine.heldBackRequests.count == 1, "the engine did answer a start late")
            #expect(started.containers == [started.handle], "one container for the task: \(started.containers)")
            #expect(started.exitCode == 0)
            #expect(started.log == "first\nsecond\n")
        }
    }

    /// The engine creates the container but answers after the scheduler's 2 s: the scheduler finds
    /// it by its task execution and starts it — one container, not a second one or a name conflict.
    @Test func aCreateAnsweredLateIsFoundAndStartedOnce() async throws {
        guard try await DockerAvailability.check() else { return }
        let engine = try await SlowDockerEngine.start(match: #"POST /v[0-9.]+/containers/create\?.*"#, delay: .seconds(6))
        return try await stopping({ await engine.stop() }) {
            let started = try await startTask(endpoint: "unix://" + engine.socket, command: ["sh", "-c", "echo hello"])
            #expect(engine.heldBackRequests.count == 1, "the engine did answer a create late")
            #expect(started.containers == [started.handle], "one container for the task: \(started.containers)")
            #expect(started.exitCode == 0)
            #expect(started.log == "hello\n")
        }
    }

    /// A server whose engine answers a start after `docker_request_timeout` runs the pipeline all
    /// the same: the setting reaches the scheduler, and the run succeeds with its log.
    @Test func aServerWhoseEngineAnswersLateStillRunsThePipeline() async throws {
        guard try await DockerAvailability.check() else { return }
        let engine = try await SlowDockerEngine.start(match: #"POST /v[0-9.]+/containers/[^/]+/start"#, delay: .seconds(5))
        return try await stopping({ await engine.stop() }) {
            let h = try await ServerHarness(scheduler: "docker") {
                $0.dockerEndpoint = "unix://" + engine.socket
                $0.dockerRequestTimeout = .seconds(1)
            }
            try await stopping({ await h.stop() }) {
                _ = try await h.apply("id: slow-engine\ntasks:\n  - { id: hello, image: busybox:latest, command: [\"echo\", \"hello\"] }\n")
                let (run, tasks) = try await h.runToEnd("slow-engine")
                #expect(run.state == .succeeded, "\(tasks.map { "\($0.task) \($0.state) \($0.reason?.message ?? "")" })")
                #expect(h.log("slow-engine", run: run.id, task: "hello") == "hello\n")
                #expect(engine.heldBackRequests.count == 1, "the engine did answer the start late")
            }
        }
    }

    /// A task's outcome never waits for its container's removal: with the engine holding back its
    /// answer to the first task's DELETE for 15 s, the next task starts and the run ends while that
    /// answer is still held back — and the container is still removed afterwards.
    @Test func theNextTaskAndTheRunsEndDoNotWaitForARemoval() async throws {
        guard try await DockerAvailability.check() else { return }
        let engine = try await SlowDockerEngine.start(match: #"DELETE /v[0-9.]+/containers/[^/?]+(\?.*)?"#, delay: .seconds(15))
        return try await stopping({ await engine.stop() }) {
            let h = try await ServerHarness(scheduler: "docker") { $0.dockerEndpoint = "unix://" + engine.socket }
            try await stopping({ await h.stop() }) {
                _ = try await h.apply(
                    "id: slow-removal\ntasks:\n  - { id: a, image: busybox:latest, command: [\"echo\", \"a\"] }\n  - { id: b, image: busybox:latest, depends_on: [a], command: [\"echo\", \"b\"] }\n"
                )
                let (run, tasks) = try await h.runToEnd("slow-removal")
                #expect(run.state == .succeeded, "\(tasks.map { "\($0.task) \($0.state) \($0.reason?.message ?? "")" })")
                #expect(engine.heldBackRequests.count == 1, "the engine held back the answer to a's removal: \(engine.heldBackRequests)")
                #expect(engine.lateAnswers.isEmpty, "the run ended only after the engine answered the removal: \(engine.lateAnswers)")
                #expect(h.log("slow-removal", run: run.id, task: "b") == "b\n")
            }
        }
    }

    /// A container the engine creates but cannot start (its command does not exist) is removed:
    /// the start fails saying why, and nothing of it stays on the engine.
    @Test func aStartThatFailsForGoodLeavesNoContainer() async throws {
        guard try await DockerAvailability.check() else { return }
        let connection = try ExtensionConnection.spawn(ExtensionLaunch(executable: BuiltProducts.path("gofer-scheduler-docker")))
        defer { connection.kill() }
        _ = try await connection.initialize(InitializeOptions(kind: .scheduler, adminConfig: [:]))
        let execution = "no-such-command-\(UUID().uuidString.prefix(8))"
        return try await stopping({ await Self.removeContainers(of: execution) }) { () async throws -> Void in
            await #expect {
                _ = try await connection.call(
                    ProtocolCalls.schedulerStart,
                    JobSpec(taskExecutionID: execution, image: "busybox:latest", command: ["/no/such/command"], labels: ["gofer.test": "slow-engine"]))
            } throws: { error in
                "\(error)".contains("/no/such/command")
            }
            #expect(try await Self.containers(of: execution).isEmpty, "the created container was removed")
        }
    }
}
