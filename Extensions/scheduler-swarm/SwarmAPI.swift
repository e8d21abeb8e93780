import DockerEngine
import ExtensionSDK
import Foundation

/// The Swarm-mode calls of the Docker Engine API (services, tasks, nodes), with Docker's answers
/// mapped to protocol errors.
struct SwarmAPI: Sendable {
    let docker: DockerAPI

    /// A service as far as the scheduler cares: its id and labels.
    struct Service: Sendable {
        var id: String
        var labels: [String: String]
    }

    /// One task of a service: where it ran and how it ended.
    struct SwarmTask: Sendable {
        var id: String
        var nodeID: String?
        var createdAt: String
        var state: String
        var timestamp: String?
        var message: String
        var error: String?
        var containerID: String?
        var exitCode: Int?

        init(_ json: JSONValue) {
            id = json["ID"]?.stringValue ?? ""
            nodeID = json["NodeID"]?.stringValue
            createdAt = json["CreatedAt"]?.stringValue ?? ""
            let status = json["Status"] ?? .null
            state = status["State"]?.stringValue ?? "new"
            timestamp = status["Timestamp"]?.stringValue
            message = status["Message"]?.stringValue ?? ""
            error = status["Err"]?.stringValue
            containerID = status["ContainerStatus"]?["ContainerID"]?.stringValue
            exitCode = status["ContainerStatus"]?["ExitCode"]?.intValue.map { Int($0) }
        }

        /// States from which a task never moves on (Swarm's task lifecycle).
        var isTerminal: Bool { ["complete", "failed", "shutdown", "rejected", "orphaned", "remove"].contains(state) }
        /// Waiting for a node: the scheduler has not assigned it yet.
        var isPending: Bool { ["new", "pending"].contains(state) }
    }

    /// Whether this engine is an active Swarm manager, and the cluster's size.
    struct ClusterInfo: Sendable {
        var nodeState: String
        var isManager: Bool
        var nodes: Int
        var managers: Int
    }

    func info() async throws -> ClusterInfo {
        let r = try await docker.call("GET", "/info", timeout: .seconds(10))
        guard r.status == 200, let json = try? JSONParser().parse(r.body) else {
            throw ProtocolError(.unavailable, "Docker /info failed: HTTP \(r.status) \(DockerAPI.message(r))", reason: "docker.error")
        }
        let swarm = json["Swarm"] ?? .null
        return ClusterInfo(
            nodeState: swarm["LocalNodeState"]?.stringValue ?? "inactive", isManager: swarm["ControlAvailable"]?.boolValue ?? false,
            nodes: Int(swarm["Nodes"]?.intValue ?? 0), managers: Int(swarm["Managers"]?.intValue ?? 0))
    }

    /// Maps the errors every Swarm call can get: a node that is not a manager answers 503.
    static func failure(_ what: String, _ r: HTTPResponse) -> ProtocolError {
        let message = DockerAPI.message(r)
        if r.status == 503 {
            return ProtocolError(
                .unavailable,
                "\(what): the Docker engine is not a Swarm manager (\(message)); run `docker swarm init` there or point endpoint at a manager",
                reason: "swarm.not_manager")
        }
        return ProtocolError(.unavailable, "\(what): HTTP \(r.status) \(message)", reason: "swarm.error")
    }

    /// Creates a service; returns its id. A name taken already is ``ErrorCode/conflict``.
    func createService(_ body: JSONValue, auth: RegistryAuth?) async throws -> String {
        let r = try await docker.call("POST", "/services/create", body: body, headers: DockerAPI.registryAuthHeaders(auth), timeout: docker.changeTimeout)
        switch r.status {
        case 200, 201:
            guard let id = (try? JSONParser().parse(r.body))?["ID"]?.stringValue else {
                throw ProtocolError(.internalError, "Docker service create returned no ID")
            }
            return id
        case 409: throw ProtocolError(.conflict, "a service named \(body["Name"]?.stringValue ?? "?") exists", reason: "swarm.name_conflict")
        case 400: throw ProtocolError(.invalidParams, "Swarm refused the service: \(DockerAPI.message(r))", reason: "swarm.bad_request")
        case 403: throw ProtocolError(.permissionDenied, "Swarm refused the service: \(DockerAPI.message(r))", reason: "swarm.forbidden")
        default: throw Self.failure("creating a service", r)
        }
    }

    /// The service, or nil when there is none with this id.
    func service(_ id: String) async throws -> Service? {
        let r = try await docker.call("GET", "/services/\(DockerAPI.escape(id))")
        if r.status == 404 { return nil }
        guard r.status == 200, let json = try? JSONParser().parse(r.body) else { throw Self.failure("inspecting service \(id)", r) }
        return Self.service(json)
    }

    static func service(_ json: JSONValue) -> Service {
        var labels: [String: String] = [:]
        for (k, v) in json["Spec"]?["Labels"]?.objectValue ?? [:] { labels[k] = v.stringValue }
        return Service(id: json["ID"]?.stringValue ?? "", labels: labels)
    }

    func services(labels: [String: String]) async throws -> [Service] {
        let filter: JSONValue = ["label": .array(labels.sorted { $0.key < $1.key }.map { .string("\($0.key)=\($0.value)") })]
        let r = try await docker.call("GET", "/services?filters=\(DockerAPI.escape(filter.description))")
        guard r.status == 200, let list = (try? JSONParser().parse(r.body))?.arrayValue else { throw Self.failure("listing services", r) }
        return list.map(Self.service)
    }

    /// The service's tasks, newest first; nil when the service is gone (removed since it was seen).
    func tasks(service id: String) async throws -> [SwarmTask]? {
        let filter: JSONValue = ["service": [.string(id)]]
        let r = try await docker.call("GET", "/tasks?filters=\(DockerAPI.escape(filter.description))")
        if r.status == 404 { return nil }
        guard r.status == 200, let list = (try? JSONParser().parse(r.body))?.arrayValue else { throw Self.failure("listing tasks of \(id)", r) }
        return list.map(SwarmTask.init).sorted { DockerAPI.normalized($0.createdAt) > DockerAPI.normalized($1.createdAt) }
    }

    /// Removes a service (its tasks are stopped with the service's stop grace period). Removing
    /// one that is gone succeeds.
    func removeService(_ id: String) async throws {
        let r = try await docker.call("DELETE", "/services/\(DockerAPI.escape(id))")
        guard [200, 204, 404].contains(r.status) else { throw Self.failure("removing service \(id)", r) }
    }

    /// Removes this engine's containers of a removed service. The swarm agent removes a removed
    /// service's task containers by itself, but an exited one can stay until the engine's own
    /// cleanup; the host asked for the job to be gone, so it goes now. The agent may still be
    /// creating or stopping the task's container as the service goes, so this looks again until
    /// none has been seen twice in a row (at most `within`).
    func removeLocalContainers(ofService id: String, within: Duration = .seconds(15)) async {
        let deadline = ContinuousClock.now + within
        var quietLooks = 0
        while quietLooks < 2 && ContinuousClock.now < deadline && !Task.isCancelled {
            guard let containers = try? await docker.containers(labels: ["com.docker.swarm.service.id": id]) else { return }
            quietLooks = containers.isEmpty ? quietLooks + 1 : 0
            for container in containers { try? await docker.remove(container.handle, force: true) }
            try? await Task.sleep(for: .milliseconds(500))
        }
    }

    /// A node's state (`ready`, `down`, `disconnected`, `unknown`) and hostname.
    func node(_ id: String) async throws -> (state: String, hostname: String)? {
        let r = try await docker.call("GET", "/nodes/\(DockerAPI.escape(id))")
        if r.status == 404 { return nil }
        guard r.status == 200, let json = try? JSONParser().parse(r.body) else { throw Self.failure("inspecting node \(id)", r) }
        return (json["Status"]?["State"]?.stringValue ?? "unknown", json["Description"]?["Hostname"]?.stringValue ?? id)
    }

    /// A container's start and finish times and OOM flag, when it is on this engine's node.
    func localContainer(_ id: String) async -> (startedAt: String?, finishedAt: String?, oomKilled: Bool)? {
        guard let r = try? await docker.call("GET", "/containers/\(DockerAPI.escape(id))/json", timeout: .seconds(10)), r.status == 200,
            let json = try? JSONParser().parse(r.body)
        else { return nil }
        let state = json["State"] ?? .null
        func time(_ key: String) -> String? {
            guard let t = state[key]?.stringValue, !t.hasPrefix("0001-") else { return nil }
            return t
        }
        return (time("StartedAt"), time("FinishedAt"), state["OOMKilled"]?.boolValue ?? false)
    }
}
