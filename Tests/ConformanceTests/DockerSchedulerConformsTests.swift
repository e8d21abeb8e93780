import ExtensionClient
import ExtensionConformance
import ExtensionSDK
import TestSupport
import Testing

/// The Docker scheduler against the real engine (busybox:latest imported locally by .ci/run).
struct DockerSchedulerConformsTests {
    @Test func dockerSchedulerConformsAgainstTheRealEngine() async throws {
        guard try await DockerAvailability.check() else { return }
        let report = await ConformanceSuite.run(
            ConformanceOptions(
                kind: .scheduler, launch: ExtensionLaunch(executable: BuiltProducts.path("gofer-scheduler-docker")),
                // The suite shares the engine with 100-task recovery and crash-soak tests; a
                // container start can take tens of seconds then, which is load, not non-conformance.
                checkTimeout: .seconds(120)))
        #expect(report.conforms, "\(report.text)")
        #expect(report.failed == 0 && report.warned == 0, "\(report.text)")
    }

    @Test func anUnreachableDaemonIsReportedClearly() async throws {
        let connection = try ExtensionConnection.spawn(ExtensionLaunch(executable: BuiltProducts.path("gofer-scheduler-docker")))
        defer { connection.kill() }
        _ = try await connection.initialize(
            InitializeOptions(kind: .scheduler, adminConfig: ["endpoint": "unix:///nonexistent/docker.sock"]))
        let health = try await connection.request("health", timeout: .seconds(10))
        #expect(health["status"] == "unhealthy")
        #expect(
            health["detail"]?.stringValue?.contains("cannot reach the Docker engine at unix:///nonexistent/docker.sock") == true,
            "\(health)")
        do {
            _ = try await connection.request("scheduler/start", ["taskExecutionId": "x", "image": "busybox:latest"], timeout: .seconds(10))
            Issue.record("start should fail")
        } catch let error as ProtocolError {
            #expect(error.code == .unavailable && error.retryable)
        }
    }

    @Test func anUnreachableRegistryIsNamedAndCreatesNothing() async throws {
        guard try await DockerAvailability.check() else { return }
        let connection = try ExtensionConnection.spawn(ExtensionLaunch(executable: BuiltProducts.path("gofer-scheduler-docker")))
        defer { connection.kill() }
        _ = try await connection.initialize(InitializeOptions(kind: .scheduler))
        do {
            _ = try await connection.request(
                "scheduler/start",
                [
                    "taskExecutionId": "missing-image-test", "image": "does-not-exist.invalid/nothing:1",
                    "labels": ["gofer.test": "missing-image"],
                ],
                timeout: .seconds(60))
            Issue.record("start should fail")
        } catch let error as ProtocolError {
            // `.invalid` never resolves: the registry is unreachable, which says nothing of the image.
            #expect(ImageFailure(error) == .registryUnreachable && error.code == .unavailable && error.retryable, "\(error)")
            #expect(error.message.contains("does-not-exist.invalid/nothing:1"))
        }
        let listed = try await connection.request("scheduler/list", ["labels": ["gofer.test": "missing-image"]])
        #expect(listed["jobs"]?.arrayValue?.isEmpty == true)
    }
}
