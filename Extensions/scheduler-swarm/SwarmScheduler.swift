import DockerEngine
import ExtensionSDK
import Foundation
import Synchronization

/// Runs each task execution as a Docker **Swarm** `replicated-job` service (one task, run once,
/// never restarted: Gofer decides retries), placed on any node of the swarm.
///
/// - A service carries the labels the host asks for plus `gofer.task_execution=<id>`, and its name
///   is derived from the task execution: a second start returns the existing service.
/// - The job's handle is the service id. `wait` polls the service's task (Swarm has no blocking
///   wait for tasks); the exit code comes from the task's container status.
/// - `stop` removes the service: Swarm stops the task with the stop grace period fixed when the
///   service was created (the host's grace, ``JobSpec/stopGraceMs``). What the task ended with is
///   kept, so a `wait` in flight returns it.
/// - A task no node can take (constraints, resources) fails after `placementTimeout`; a task
///   whose node goes down fails as lost (`scheduler.job_lost`); both remove the service.
@main
struct SwarmScheduler: Scheduler {
    static let manifest = Manifest(
        name: "swarm", version: "0.1.0", summary: "Runs task containers as Docker Swarm jobs on the nodes of a swarm.",
        config: .object(
            RegistryAuth.adminConfigProperties.merging(DockerAPI.changeTimeoutConfig) { a, _ in a }.merging([
            "endpoint": .string(description: "Docker API endpoint of a Swarm manager.", default: "unix:///var/run/docker.sock"),
            "constraints": .array(
                of: .string(pattern: SwarmScheduler.constraintPattern),
                description: "Placement constraints every task gets (e.g. node.role==worker), before the task's own."),
            "reserve": .boolean(description: "Reserve each task's CPU and memory limits on its node (default true), so Swarm never overcommits a node."),
            "placementTimeout": .string(
                description: "How long a task may wait for a node that satisfies its constraints and resources before it fails (e.g. 5m).",
                default: "5m"),
            "pidsLimit": .integer(description: "Processes a task container may have at once.", minimum: 16, default: 4096),
            "memoryDefaultMB": .integer(description: "Memory limit of tasks that set none, in MB; 0 for none.", minimum: 0, default: 4096),
            "user": .string(description: "Run task containers as this user (uid:gid or name) instead of the image's."),
            "logMaxSize": .string(description: "Size of each task container's json-file log on its node before it rotates.", default: "64m"),
            "logMaxFiles": .integer(description: "Rotated log files kept per task container.", minimum: 1, default: 2),
        ]) { a, _ in a }),
        params: .object(
            [
                "constraints": .array(
                    of: .string(pattern: SwarmScheduler.constraintPattern),
                    description: "Swarm placement constraints, e.g. node.labels.zone==b or node.hostname!=build-1."),
                "preferences": .array(
                    of: .string(pattern: "^(node\\.labels|engine\\.labels)\\.[A-Za-z0-9_.-]+$"),
                    description: "Spread tasks evenly over the values of these labels, e.g. node.labels.zone."),
            ], description: "Where Swarm may run the task."),
        // A started job may wait for a node: the host shows why until it runs.
        capabilities: Capability.set([.placement]))

    /// `attribute==value` or `attribute!=value`, as Swarm writes constraints.
    static let constraintPattern = "^[A-Za-z0-9_.-]+ *(==|!=) *[^ ].*$"

    struct Config: Decodable, Sendable {
        var endpoint: String?
        var registryUsername: String?
        var registryPassword: String?
        var constraints: [String]?
        var reserve: Bool?
        var placementTimeout: String?
        var requestTimeoutSeconds: Int?
        var pidsLimit: Int?
        var memoryDefaultMB: Int?
        var user: String?
        var logMaxSize: String?
        var logMaxFiles: Int?
    }

    /// The per-task placement a pipeline gives (the params schema above).
    struct Placement: Decodable, Sendable {
        var constraints: [String]?
        var preferences: [String]?
    }

    static let executionLabel = "gofer.task_execution"

    let swarm: SwarmAPI
    let config: Config
    let defaultAuth: RegistryAuth?
    let placementTimeout: Duration
    let stopped = StoppedJobs()
    let firstSeen = FirstSeen()
    let pendingSince = PlacementWaits()

    init(config: Config, context: ExtensionContext) throws {
        let text = config.endpoint ?? "unix:///var/run/docker.sock"
        guard let endpoint = HTTPEndpoint(text) else {
            throw ProtocolError(
                .invalidConfig, "endpoint \"\(text)\" is not unix:///path or http://host:port",
                diagnostics: [Diagnostic(path: "/config/admin/endpoint", message: "use unix:///var/run/docker.sock or http://host:port")])
        }
        swarm = SwarmAPI(
            docker: DockerAPI(
                client: SimpleHTTPClient(endpoint: endpoint), changeTimeout: DockerAPI.changeTimeout(seconds: config.requestTimeoutSeconds)))
        let timeoutText = config.placementTimeout ?? "5m"
        guard let timeout = DurationText.parse(timeoutText), timeout > .zero else {
            throw ProtocolError(
                .invalidConfig, "placementTimeout \"\(timeoutText)\" is not a duration",
                diagnostics: [Diagnostic(path: "/config/admin/placementTimeout", message: "a duration such as 30s or 5m")])
        }
        placementTimeout = timeout
        if let size = config.logMaxSize, size.range(of: "^[0-9]+[kmg]?$", options: .regularExpression) == nil {
            throw ProtocolError(
                .invalidConfig, "logMaxSize \"\(size)\" is not a size such as 64m",
                diagnostics: [Diagnostic(path: "/config/admin/logMaxSize", message: "a number with k, m or g, e.g. 64m")])
        }
        defaultAuth = try RegistryAuth.fromAdminConfig(username: config.registryUsername, password: config.registryPassword)
        self.config = config
    }

    func health() async -> HealthReport {
        do {
            let info = try await swarm.info()
            guard info.nodeState == "active", info.isManager else {
                return HealthReport(
                    status: .unhealthy,
                    detail:
                        "the Docker engine at \(swarm.docker.client.endpoint) is not a Swarm manager (swarm state \(info.nodeState)); run `docker swarm init` there or point endpoint at a manager"
                )
            }
            return HealthReport(status: .healthy, detail: "Swarm manager; \(info.nodes) node(s), \(info.managers) manager(s)")
        } catch {
            return HealthReport(status: .unhealthy, detail: ErrorText.describe(error))
        }
    }

    // MARK: - Start

    /// Creates the task's service, or finds the one already there — also when a busy engine took
    /// the create and answered too late (see ``DockerAPI/retryingUnanswered(for:logging:_:)``).
    func start(_ job: JobSpec) async throws -> String {
        try await DockerAPI.retryingUnanswered(for: .seconds(300), logging: ["task_execution": job.taskExecutionID]) {
            try await startOnce(job)
        }
    }

    private func startOnce(_ job: JobSpec) async throws -> String {
        if let existing = try await swarm.services(labels: [Self.executionLabel: job.taskExecutionID]).first { return existing.id }
        let placement = try job.placement.map { try JSONCodec.decode(Placement.self, from: $0) }
        let name = JobName.derived(from: job.taskExecutionID)
        do {
            return try await swarm.createService(serviceSpec(job, name: name, placement: placement), auth: job.registryAuth ?? defaultAuth)
        } catch let error as ProtocolError where error.code == .conflict {
            // Created concurrently for the same task execution: use that one.
            if let existing = try await swarm.services(labels: [Self.executionLabel: job.taskExecutionID]).first { return existing.id }
            throw error
        }
    }

    func serviceSpec(_ job: JobSpec, name: String, placement: Placement?) -> JSONValue {
        var labels = job.labels
        labels[Self.executionLabel] = job.taskExecutionID
        let labelJSON = JSONValue.object(labels.mapValues(JSONValue.string))
        var container: [String: JSONValue] = [
            "Image": .string(job.image), "Labels": labelJSON,
            "Env": .array(job.env.sorted { $0.key < $1.key }.map { .string("\($0.key)=\($0.value)") }),
            "StopGracePeriod": .int(job.stopGraceNanoseconds),
        ]
        // Swarm's Command replaces the image's entrypoint and Args its command, as Docker's
        // Entrypoint and Cmd do.
        if let entrypoint = job.entrypoint { container["Command"] = .array(entrypoint.map(JSONValue.string)) }
        if let command = job.command { container["Args"] = .array(command.map(JSONValue.string)) }
        if let user = config.user, !user.isEmpty { container["User"] = .string(user) }
        var limits: [String: JSONValue] = ["Pids": .int(Int64(config.pidsLimit ?? 4096))]
        var reservations: [String: JSONValue] = [:]
        if let nano = job.nanoCPUs {
            limits["NanoCPUs"] = .int(nano)
            reservations["NanoCPUs"] = .int(nano)
        }
        if let bytes = job.memoryBytes(defaultMB: config.memoryDefaultMB ?? 4096) {
            limits["MemoryBytes"] = .int(bytes)
            if job.memoryMB != nil { reservations["MemoryBytes"] = .int(bytes) }
        }
        var resources: [String: JSONValue] = ["Limits": .object(limits)]
        if config.reserve ?? true, !reservations.isEmpty { resources["Reservations"] = .object(reservations) }
        let constraints = (config.constraints ?? []) + (placement?.constraints ?? [])
        let preferences = (placement?.preferences ?? []).map { JSONValue.object(["Spread": ["SpreadDescriptor": .string($0)]]) }
        return [
            "Name": .string(name), "Labels": labelJSON,
            "TaskTemplate": [
                "ContainerSpec": .object(container),
                "Resources": .object(resources),
                "RestartPolicy": ["Condition": "none", "MaxAttempts": 0],
                "Placement": ["Constraints": .array(constraints.map(JSONValue.string)), "Preferences": .array(preferences)],
                "LogDriver": [
                    "Name": "json-file",
                    "Options": ["max-size": .string(config.logMaxSize ?? "64m"), "max-file": .string(String(config.logMaxFiles ?? 2))],
                ],
            ],
            "Mode": ["ReplicatedJob": ["MaxConcurrent": 1, "TotalCompletions": 1]],
        ]
    }

    // MARK: - State

    /// The service's state, from its newest task; nil when the service is gone. `times`: also the
    /// start and finish times (a container inspect when it ran on this node), which a poll for
    /// the end does not need until the end.
    func status(_ handle: String, times: Bool = true) async throws -> (JobStatus, SwarmAPI.SwarmTask?)? {
        guard let service = try await swarm.service(handle), let tasks = try await swarm.tasks(service: service.id) else { return nil }
        guard let task = tasks.first else {
            return (JobStatus(handle: service.id, state: .created, labels: service.labels, message: "waiting for Swarm to create its task"), nil)
        }
        var status = JobStatus(handle: service.id, state: .created, labels: service.labels)
        switch task.state {
        case "running": status.state = .running
        case _ where task.isTerminal: status.state = .exited
        default: status.state = .created
        }
        if status.state == .created {
            // Why it does not run yet, as Swarm says it; a task no node can take fails after
            // placementTimeout, measured from the first look (inspect or wait) that saw it so.
            if let why = task.error, task.isPending {
                status.message = "waiting for a Swarm node: \(why)"
                if pendingSince.waiting(handle) > placementTimeout {
                    try? await swarm.removeService(handle)
                    pendingSince.forget(handle)
                    throw JobFailure.unplaceable.error(
                        "no Swarm node could take the task within \(DurationText.format(placementTimeout)) (placementTimeout): \(why)")
                }
            } else {
                pendingSince.forget(handle)
                status.message = task.message.isEmpty ? "Swarm task \(task.state)" : "Swarm task \(task.state): \(task.message)"
            }
        } else {
            pendingSince.forget(handle)
        }
        if status.state == .running, let ts = task.timestamp { firstSeen.running(handle, at: ts) }
        if status.state == .exited {
            status.exitCode = task.exitCode ?? (task.state == "complete" ? 0 : nil)
            status.finishedAt = task.timestamp
        }
        if status.state != .created && (times || status.state == .exited) {
            // The container's own times when it ran on this node; otherwise when Swarm saw it run.
            if let id = task.containerID, let local = await swarm.localContainer(id) {
                status.startedAt = local.startedAt
                if status.state == .exited { status.finishedAt = local.finishedAt ?? status.finishedAt }
                status.oomKilled = local.oomKilled
            }
            status.startedAt = status.startedAt ?? firstSeen.running(handle) ?? task.timestamp ?? task.createdAt
        }
        return (status, task)
    }

    func inspect(_ handle: String) async throws -> JobStatus {
        if let final = stopped.final(handle) { return final }
        guard let (status, _) = try await status(handle) else {
            if stopped.isStopping(handle) { return JobStatus(handle: handle, state: .running) }
            throw ProtocolError(.notFound, "no Swarm service \(handle)", reason: "swarm.no_such_service")
        }
        return status
    }

    func wait(_ handle: String) async throws -> JobStatus {
        var delay = 25
        var downSince: ContinuousClock.Instant?
        var lastNodeCheck = ContinuousClock.now - .seconds(1)
        var missingSince: ContinuousClock.Instant?
        while true {
            if let final = stopped.final(handle) { return final }
            guard let (status, task) = try await status(handle, times: false) else {
                if stopped.isStopping(handle) {
                    try await Task.sleep(for: .milliseconds(100))
                    continue
                }
                // A busy manager may briefly not list a service this scheduler has seen running:
                // believe it is gone only after 10 s of not finding it. (A handle never seen is
                // unknown at once.)
                let since = missingSince ?? .now
                missingSince = since
                if firstSeen.running(handle) != nil && ContinuousClock.now - since < .seconds(10) {
                    try await Task.sleep(for: .milliseconds(200))
                    continue
                }
                throw ProtocolError(.notFound, "no Swarm service \(handle)", reason: "swarm.no_such_service")
            }
            missingSince = nil
            if status.state == .exited {
                guard status.exitCode != nil else {
                    // Ended without running its container: the node refused it.
                    throw JobFailure.rejected.error(
                        "Swarm task \(task?.id ?? "?") ended \(task?.state ?? "?") without running: \(task?.error ?? task?.message ?? "no reason given")")
                }
                return status
            }
            // The node's health changes on the scale of heartbeats (seconds): ask once a second, not
            // on every poll for the task's end.
            if status.state == .running, let node = task?.nodeID, ContinuousClock.now - lastNodeCheck >= .seconds(1) {
                lastNodeCheck = .now
                if let (state, hostname) = try await swarm.node(node), state == "down" {
                    let since = downSince ?? .now
                    downSince = since
                    // Swarm marks a node down after missed heartbeats; a few seconds more rule out a blip.
                    if ContinuousClock.now - since > .seconds(5) {
                        try? await swarm.removeService(handle)
                        throw JobFailure.lost.error("Swarm node \(hostname) (\(node)) went down while the task ran; its outcome is unknown")
                    }
                } else {
                    downSince = nil
                }
            }
            // Swarm has no blocking wait for a task: poll, soon at 10 per second (two or three cheap
            // API calls each), so a task's end is seen within 100 ms.
            try await Task.sleep(for: .milliseconds(delay))
            delay = min(100, delay * 2)
        }
    }

    // MARK: - Stop and remove

    func stop(_ handle: String, grace: Duration) async throws {
        guard stopped.final(handle) == nil, let (before, task) = try await status(handle) else { return }
        if before.state == .exited {
            stopped.record(handle, before)
            return
        }
        stopped.stopping(handle)
        var last = before
        if let containerID = task?.containerID, await swarm.localContainer(containerID) != nil {
            // On this node: stop the container itself, with exactly this grace, and see how it ended.
            try? await swarm.docker.stop(containerID, grace: grace)
            if let local = await swarm.localContainer(containerID), let status = try? await swarm.docker.inspect(containerID) {
                last.exitCode = status.exitCode
                last.oomKilled = status.oomKilled
                last.finishedAt = local.finishedAt
                last.startedAt = local.startedAt ?? last.startedAt
            }
        }
        // Removing the service stops a task on another node (SIGTERM, then SIGKILL after the
        // service's StopGracePeriod, which is the host's grace); its exit code is then unknown.
        try await swarm.removeService(handle)
        last.state = .exited
        if last.finishedAt == nil { last.finishedAt = Self.now() }
        if last.startedAt == nil { last.startedAt = last.finishedAt }
        stopped.record(handle, last)
    }

    /// Now, as RFC 3339 (UTC, milliseconds): when this process saw a stopped job end.
    static func now() -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date())
    }

    func remove(_ handle: String) async throws {
        try await swarm.removeService(handle)
        await swarm.removeLocalContainers(ofService: handle)
        stopped.forget(handle)
        firstSeen.forget(handle)
        pendingSince.forget(handle)
    }

    // MARK: - Logs

    /// The service's logs (its task's stdout and stderr, from whichever node ran it). Swarm's
    /// follow does not end when a job's task does, so a follow ends once the task is terminal,
    /// with a last read from where it was that catches what the stream had not delivered.
    func logs(_ handle: String, follow: Bool, to output: ExtensionSDK.OutputStream) async throws {
        let docker = swarm.docker
        // A job that is gone is -32053, not an empty log (below, a service removed while followed ends the log).
        guard try await status(handle, times: false) != nil else {
            throw ProtocolError(.notFound, "no job with handle \"\(handle)\" (it was removed or never existed)")
        }
        guard follow else {
            // The engine hands over a line at a time: pass them on in batches of up to 64 KiB per
            // descriptor (protocol.md §7), in order.
            let batch = LogBatch()
            try await docker.logStream(.service(handle), follow: false, resumingAfter: [:]) { fd, _, bytes in
                if let full = batch.add(bytes, fd: fd) { try await output.write(full.bytes, fd: full.fd) }
            }
            if let rest = batch.take() { try await output.write(rest.bytes, fd: rest.fd) }
            return
        }
        let delivered = DeliveredTimestamps()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                var attempt = 0
                while true {
                    do {
                        try await docker.logStream(.service(handle), follow: true, resumingAfter: delivered.value) { fd, ts, bytes in
                            try await output.write(bytes, fd: fd)
                            if let ts { delivered.set(fd, ts) }
                        }
                    } catch let error as ProtocolError where error.code == .notFound {
                        return  // the service was removed (stopped)
                    }
                    attempt += 1
                    try await Task.sleep(for: .milliseconds(min(1000, 50 * attempt)))
                }
            }
            group.addTask {
                var delay = 25
                while let (status, _) = try await self.status(handle, times: false), status.state != .exited {
                    try await Task.sleep(for: .milliseconds(delay))
                    delay = min(100, delay * 2)
                }
            }
            // The task ended (or its service is gone): stop following.
            try await group.next()
            group.cancelAll()
            while let _ = try? await group.next() {}
        }
        guard try await swarm.service(handle) != nil else { return }
        try await docker.logStream(.service(handle), follow: false, resumingAfter: delivered.value) { fd, _, bytes in
            try await output.write(bytes, fd: fd)
        }
    }

    func list(labels: [String: String]) async throws -> [JobStatus] {
        var out: [JobStatus] = []
        for service in try await swarm.services(labels: labels) {
            if let (status, _) = try? await status(service.id) { out.append(status) }
        }
        let listed = Set(out.map(\.handle))
        return out + stopped.finals(matching: labels).filter { !listed.contains($0.handle) }.sorted { $0.handle < $1.handle }
    }
}

/// Log lines gathered into one `stream/data` batch: ``add(_:fd:)`` hands back the batch to send
/// when the descriptor changes or it reaches 64 KiB.
final class LogBatch: Sendable {
    private let state = Mutex<(fd: String, bytes: [UInt8])>(("stdout", []))

    func add(_ bytes: [UInt8], fd: String) -> (fd: String, bytes: [UInt8])? {
        state.withLock { s in
            var out: (fd: String, bytes: [UInt8])?
            if !s.bytes.isEmpty && (s.fd != fd || s.bytes.count + bytes.count > 64 * 1024) {
                out = (s.fd, s.bytes)
                s.bytes = []
            }
            s.fd = fd
            s.bytes += bytes
            return out
        }
    }

    func take() -> (fd: String, bytes: [UInt8])? {
        state.withLock { s in
            defer { s.bytes = [] }
            return s.bytes.isEmpty ? nil : (s.fd, s.bytes)
        }
    }
}
