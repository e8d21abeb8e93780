import ExtensionClient
import ExtensionConformance
import ExtensionSDK
import Foundation
import TestSupport
import Testing

/// The Swarm scheduler against the real engine in swarm mode (`.ci/run` runs `docker swarm init`).
/// Every job here but the two-node test is kept on the manager (`node.role==manager`), so a
/// worker another test adds never takes it.
@Suite(.serialized)
struct SwarmSchedulerTests {
    static let executable = BuiltProducts.path("gofer-scheduler-swarm")
    static let onManager: JSONValue = ["node.role==manager"]

    static func connect(_ config: [String: JSONValue] = [:]) async throws -> ExtensionConnection {
        let connection = try ExtensionConnection.spawn(ExtensionLaunch(executable: executable))
        var admin: [String: JSONValue] = ["constraints": onManager]
        for (k, v) in config { admin[k] = v }
        _ = try await connection.initialize(InitializeOptions(kind: .scheduler, adminConfig: .object(admin)))
        return connection
    }

    static func job(_ id: String, _ script: String, extra: [String: JSONValue] = [:]) -> JSONValue {
        var spec: [String: JSONValue] = [
            "taskExecutionId": .string("swarm-test-\(id)"), "image": "busybox:latest", "command": ["sh", "-c", .string(script)],
            "labels": ["gofer.test": .string(id)], "stopGraceMs": 1000,
        ]
        for (k, v) in extra { spec[k] = v }
        return .object(spec)
    }

    static func services(_ engine: SimpleHTTPClient, label: String) async throws -> [JSONValue] {
        let filter = "{\"label\":[\"\(label)\"]}".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        return try JSONParser().parse(try await engine.send("GET", path: "/v1.41/services?filters=\(filter)").body).arrayValue ?? []
    }

    static let docker = SimpleHTTPClient(endpoint: .unix(path: "/var/run/docker.sock"))

    @Test func conformsAgainstTheRealSwarm() async throws {
        guard try await SwarmAvailability.check() else { return }
        let report = await ConformanceSuite.run(
            ConformanceOptions(
                kind: .scheduler, launch: ExtensionLaunch(executable: Self.executable), adminConfig: ["constraints": Self.onManager],
                checkTimeout: .seconds(120)))
        #expect(report.conforms, "\(report.text)")
        #expect(report.failed == 0 && report.warned == 0, "\(report.text)")
        // Every job the suite started is removed with its task container — also the ones it
        // stopped (stopping removes the service, so Swarm no longer lists them).
        let left = try await ChildProcess.run(
            "docker", arguments: ["ps", "-a", "--format", "{{.Names}}", "--filter", "label=com.docker.swarm.service.id", "--filter", "name=gofer-conformance-"])
        #expect(left.stdout.isEmpty, "task containers left behind: \(String(decoding: left.stdout, as: UTF8.self))")
    }

    @Test func aTaskNoNodeCanTakeFailsWithSwarmsReasonAndIsRemoved() async throws {
        guard try await SwarmAvailability.check() else { return }
        let connection = try await Self.connect(["placementTimeout": "2s"])
        defer { connection.kill() }
        let handle = try #require(
            try await connection.request(
                "scheduler/start", Self.job("nowhere", "true", extra: ["placement": ["constraints": ["node.labels.gofer-nowhere==yes"]]]),
                timeout: .seconds(30))["handle"])
        do {
            _ = try await connection.request("scheduler/wait", ["handle": handle], timeout: .seconds(60))
            Issue.record("an unplaceable task did not fail")
        } catch let error as ProtocolError {
            #expect(JobFailure(error) == .unplaceable, "\(error)")
            #expect(error.message.contains("no suitable node") && error.message.contains("placementTimeout"), "\(error.message)")
        }
        #expect(try await Self.services(Self.docker, label: "gofer.test=nowhere").isEmpty, "the service was left behind")
        // A constraint Swarm cannot read is refused before Swarm sees it.
        do {
            _ = try await connection.request(
                "scheduler/start", Self.job("badplace", "true", extra: ["placement": ["constraints": ["zone is b"]]]), timeout: .seconds(10))
            Issue.record("a malformed constraint was accepted")
        } catch let error as ProtocolError {
            #expect(error.code == .invalidParams && error.diagnostics.contains { $0.path == "/placement/constraints/0" }, "\(error)")
        }
    }

    @Test func stopEndsARunningJobWithinItsGraceAndItsEndIsKept() async throws {
        guard try await SwarmAvailability.check() else { return }
        let connection = try await Self.connect()
        defer { connection.kill() }
        let handle = try #require(try await connection.request("scheduler/start", Self.job("stop", "trap '' TERM; sleep 600"), timeout: .seconds(30))["handle"])
        for _ in 0..<200 {
            // A service just created may not be listed yet on a busy engine: keep looking.
            if (try? await connection.request("scheduler/inspect", ["handle": handle]))?["state"] == "running" { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Task.sleep(for: .milliseconds(500))  // the shell has set its trap
        async let waited = connection.request("scheduler/wait", ["handle": handle], timeout: .seconds(60))
        let start = ContinuousClock.now
        _ = try await connection.request("scheduler/stop", ["handle": handle, "graceMs": 1000], timeout: .seconds(60))
        let status = try await waited
        let took = ContinuousClock.now - start
        #expect(status["state"] == "exited" && status["exitCode"] == 137, "a job ignoring SIGTERM is killed after its grace: \(status)")
        #expect(took >= .milliseconds(900) && took < .seconds(120), "stop with a 1 s grace (a job sleeping 600 s) took \(took)")
        #expect(try await connection.request("scheduler/inspect", ["handle": handle])["exitCode"] == 137)
        _ = try await connection.request("scheduler/remove", ["handle": handle])
        await #expect(throws: ProtocolError.self) { try await connection.request("scheduler/inspect", ["handle": handle]) }
        #expect(try await Self.services(Self.docker, label: "gofer.test=stop").isEmpty)
        // Nor its exited task container on this engine.
        let filter = "{\"label\":[\"com.docker.swarm.service.id=\(handle.stringValue ?? "")\"]}".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        let left = try JSONParser().parse(try await Self.docker.send("GET", path: "/v1.41/containers/json?all=1&filters=\(filter)").body).arrayValue ?? []
        #expect(left.isEmpty, "the job's container was left on the engine: \(left.map { $0["Names"] ?? .null })")
    }

    @Test func anEngineThatIsNotReachableIsNamed() async throws {
        let connection = try ExtensionConnection.spawn(ExtensionLaunch(executable: Self.executable))
        defer { connection.kill() }
        _ = try await connection.initialize(InitializeOptions(kind: .scheduler, adminConfig: ["endpoint": "unix:///nonexistent/docker.sock"]))
        let health = try await connection.request("health", timeout: .seconds(10))
        #expect(health["status"] == "unhealthy")
        #expect(health["detail"]?.stringValue?.contains("cannot reach the Docker engine at unix:///nonexistent/docker.sock") == true, "\(health)")
    }

    /// Two nodes: a second engine in its own network namespace joins as a worker; a task with a
    /// constraint runs there (its container is on the worker's engine, its logs come back through
    /// the manager); then the worker's engine dies mid-task and the task fails as lost.
    @Test func aTaskWithAConstraintRunsOnTheWorkerAndALostNodeFailsItsTask() async throws {
        guard try await SwarmAvailability.check() else { return }
        guard DockerAvailability.required || ProcessInfo.processInfo.environment["GOFER_SWARM_TWO_NODES"] == "1" else {
            print("skipping: the two-node swarm test needs root and network namespaces (GOFER_SWARM_TWO_NODES=1 or GOFER_REQUIRE_DOCKER=1)")
            return
        }
        let worker = try await SwarmAvailability.startWorker()
        do {
            try await onTwoNodes(worker)
        } catch {
            await SwarmAvailability.stopWorker()
            throw error
        }
        await SwarmAvailability.stopWorker()
    }

    func onTwoNodes(_ worker: SwarmAvailability.Worker) async throws {
        let connection = try await Self.connect(["constraints": [], "placementTimeout": "60s"])
        defer { connection.kill() }
        let onWorker: JSONValue = ["constraints": ["node.labels.gofer-test-role==worker"]]
        let handle = try #require(
            try await connection.request(
                "scheduler/start", Self.job("worker", "echo ran-on-$(hostname); echo to-stderr >&2", extra: ["placement": onWorker]),
                timeout: .seconds(60))["handle"]?.stringValue)
        let status = try await connection.request("scheduler/wait", ["handle": .string(handle)], timeout: .seconds(120))
        #expect(status["exitCode"] == 0, "\(status)")
        // Swarm put the task on the worker, and the worker's engine ran its container.
        let filter = "{\"service\":[\"\(handle)\"]}".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        let tasks = try JSONParser().parse(try await Self.docker.send("GET", path: "/v1.41/tasks?filters=\(filter)").body).arrayValue ?? []
        #expect(tasks.first?["NodeID"]?.stringValue == worker.nodeID, "\(tasks)")
        let containerID = try #require(tasks.first?["Status"]?["ContainerStatus"]?["ContainerID"]?.stringValue)
        let onWorkerEngine = try await worker.engine.send("GET", path: "/v1.41/containers/\(containerID)/json")
        #expect(onWorkerEngine.status == 200, "the container is not on the worker's engine")
        #expect(try await Self.docker.send("GET", path: "/v1.41/containers/\(containerID)/json").status == 404, "it ran on the manager")
        let (chunks, result) = connection.requestStream("scheduler/logs", ["handle": .string(handle), "follow": false], timeout: .seconds(60))
        var out = ""
        var err = ""
        for await c in chunks {
            if c.fd == "stderr" { err += String(decoding: c.bytes, as: UTF8.self) } else { out += String(decoding: c.bytes, as: UTF8.self) }
        }
        _ = try await result.value
        #expect(out.hasPrefix("ran-on-") && err == "to-stderr\n", "logs from the worker: \(out) \(err)")
        _ = try await connection.request("scheduler/remove", ["handle": .string(handle)])

        // The worker's engine dies while a task runs there: the task fails as lost.
        let long = try #require(
            try await connection.request("scheduler/start", Self.job("lost", "sleep 300", extra: ["placement": onWorker]), timeout: .seconds(60))[
                "handle"])
        for _ in 0..<600 {
            if try await connection.request("scheduler/inspect", ["handle": long])["state"] == "running" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        async let waited = connection.request("scheduler/wait", ["handle": long], timeout: .seconds(120))
        let pid = try String(contentsOfFile: "/tmp/gofer-w1/docker.pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        kill(pid_t(pid) ?? 0, SIGKILL)
        do {
            _ = try await waited
            Issue.record("the task of a lost node did not fail")
        } catch let error as ProtocolError {
            #expect(JobFailure(error) == .lost && error.message.contains("went down"), "\(error)")
        }
        #expect(try await Self.services(Self.docker, label: "gofer.test=lost").isEmpty, "the lost task's service was left behind")
    }
}
