import ExtensionSDK
import Foundation

/// Whether Swarm tests can run here: the local engine must be a Swarm manager (`.ci/run` runs
/// `docker swarm init`). Under `GOFER_REQUIRE_DOCKER=1` Swarm is part of the requirement: a
/// missing swarm is a failure, not a skip.
public enum SwarmAvailability {
    public static func check() async throws -> Bool {
        guard try await DockerAvailability.check() else { return false }
        let client = SimpleHTTPClient(endpoint: .unix(path: "/var/run/docker.sock"))
        let info = try? JSONParser().parse(try await client.send("GET", path: "/v1.41/info", timeout: .seconds(10)).body)
        if info?["Swarm"]?["LocalNodeState"] == "active" && info?["Swarm"]?["ControlAvailable"] == true { return true }
        if DockerAvailability.required { throw NotAManager() }
        print("skipping: the Docker engine is not a Swarm manager (docker swarm init)")
        return false
    }

    public struct NotAManager: Error, CustomStringConvertible {
        public var description: String {
            "GOFER_REQUIRE_DOCKER=1 but the Docker engine is not a Swarm manager: run `docker swarm init` (.ci/run does)"
        }
    }

    /// A Swarm worker for the length of a test (Tests/swarm/worker-node.sh: a second engine in its
    /// own network namespace), labelled `gofer-test-role=worker`.
    public struct Worker: Sendable {
        public var nodeID: String
        public var socket: String

        /// The worker engine's API.
        public var engine: SimpleHTTPClient { SimpleHTTPClient(endpoint: .unix(path: socket)) }
    }

    static var script: String { BuiltProducts.repositoryRoot.appendingPathComponent("Tests/swarm/worker-node.sh").path }

    public static func startWorker() async throws -> Worker {
        let (status, out) = try await run(["up"])
        let parts = out.split(separator: " ").map(String.init)
        guard status == 0, parts.count == 2 else { throw WorkerFailed(description: "Tests/swarm/worker-node.sh up failed (\(status)): \(out)") }
        return Worker(nodeID: parts[0], socket: parts[1])
    }

    public static func stopWorker() async {
        _ = try? await run(["down"])
    }

    static func run(_ arguments: [String]) async throws -> (Int32, String) {
        let done = try await ChildProcess.run("/bin/bash", arguments: [script] + arguments, timeout: .seconds(180))
        let code: Int32 = if case .exited(let c) = done.status { c } else { -1 }
        let text = String(decoding: done.stdout + done.stderr, as: UTF8.self)
        return (code, text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    public struct WorkerFailed: Error, CustomStringConvertible {
        public var description: String
    }
}
