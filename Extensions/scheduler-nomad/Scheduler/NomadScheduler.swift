import ExtensionSDK
import Foundation
import NomadAPI

/// Runs each task execution as a Nomad **batch job** (one group, one docker task) through the
/// Nomad HTTP API v1.
///
/// - The job ID is derived from the task execution and registered with `EnforceIndex` (index 0):
///   a retried start finds the job registered before and starts nothing.
/// - `restart` and `reschedule` attempts are 0: Gofer decides retries.
/// - `wait` uses blocking queries on the job's allocations (`index`/`wait`, `X-Nomad-Index`); the
///   exit code and the start and finish times come from the task's state and `Terminated` event.
/// - A job no node can take (a blocked evaluation) fails after `placementTimeout` with Nomad's
///   reason; a lost allocation (its node went away) fails as lost. Both deregister the job.
/// - Logs come from `/v1/client/fs/logs` (framed, base64), resumed by offset after a dropped stream.
/// - `stop` deregisters the job (Nomad kills the task after the job's `kill_timeout`, which is the
///   host's stop grace); `remove` purges it.
@main
struct NomadScheduler: Scheduler {
    static let constraintSchema = JSONSchema.object(
        [
            "attribute": .string(description: "e.g. ${attr.kernel.name}, ${node.class}, ${meta.rack}", minLength: 1),
            "operator": .string(description: "Nomad's constraint operator.", enum: NomadConstraint.operators),
            "value": .string(),
        ], required: ["attribute", "operator"])

    static let manifest = Manifest(
        name: "nomad", version: "0.1.0", summary: "Runs task containers as Nomad batch jobs (docker driver).",
        config: .object(
            RegistryAuth.adminConfigProperties.merging([
                "address": .string(description: "Nomad HTTP API address.", pattern: "^https?://[^/]+/?$", default: "http://127.0.0.1:4646"),
                "token": .string(description: "ACL token (X-Nomad-Token); needs submit-job, read-job, read-logs in the namespace.", writeOnly: true),
                "caFile": .string(description: "PEM file of the CA that signed Nomad's HTTPS certificate."),
                "namespace": .string(description: "Nomad namespace of Gofer's jobs.", default: "default"),
                "region": .string(description: "Nomad region (default: the agent's)."),
                "datacenters": .array(of: .string(minLength: 1), description: "Datacenters tasks may run in (default [\"*\"])."),
                "nodePool": .string(description: "Node pool tasks run in (Nomad 1.6+)."),
                "constraints": .array(of: NomadScheduler.constraintSchema, description: "Constraints every task gets, before its own."),
                "mhzPerCore": .integer(description: "MHz Nomad counts for one CPU core; a task's cpu: 0.5 asks for half.", minimum: 1, default: 1000),
                "memoryDefaultMB": .integer(description: "Memory of tasks that set none, in MB (Nomad's minimum is 10).", minimum: 10, default: 4096),
                "placementTimeout": .string(description: "How long a job may wait for a node (a blocked evaluation) before it fails.", default: "5m"),
                "blockingWait": .string(description: "The wait of each blocking query (Nomad caps it at 10m).", default: "5m"),
                "logMaxFiles": .integer(description: "Rotated log files Nomad keeps per task.", minimum: 1, default: 2),
                "logMaxFileSizeMB": .integer(description: "Size of each log file before Nomad rotates it.", minimum: 1, default: 64),
            ]) { a, _ in a }),
        params: .object(
            [
                "datacenters": .array(of: .string(minLength: 1), description: "Datacenters this task may run in (replaces the admin's)."),
                "nodePool": .string(description: "Node pool this task runs in.", minLength: 1),
                "constraints": .array(of: NomadScheduler.constraintSchema, description: "Constraints of this task, after the admin's."),
            ], description: "Where Nomad may run the task."),
        // A started job may wait for a node: the host shows why until it runs.
        capabilities: Capability.set([.placement]))

    struct Config: Decodable, Sendable {
        var address: String?
        var token: String?
        var caFile: String?
        var namespace: String?
        var region: String?
        var datacenters: [String]?
        var nodePool: String?
        var constraints: [NomadConstraint]?
        var mhzPerCore: Int?
        var memoryDefaultMB: Int?
        var placementTimeout: String?
        var blockingWait: String?
        var registryUsername: String?
        var registryPassword: String?
        var logMaxFiles: Int?
        var logMaxFileSizeMB: Int?
    }

    let nomad: NomadHTTP
    let defaults: NomadJobDefaults
    let placementTimeout: Duration
    let blockingWait: Duration
    /// Since when each unplaced job has waited, across inspect and wait.
    let unplaced = PlacementWaits()

    init(config: Config, context: ExtensionContext) throws {
        let text = config.address ?? "http://127.0.0.1:4646"
        guard let url = URL(string: text.hasSuffix("/") ? String(text.dropLast()) : text), ["http", "https"].contains(url.scheme ?? ""),
            url.host != nil
        else {
            throw ProtocolError(
                .invalidConfig, "address \"\(text)\" is not an http(s) URL such as http://nomad.example.com:4646",
                diagnostics: [Diagnostic(path: "/config/admin/address", message: "use http://host:4646 or https://host:4646")])
        }
        if let ca = config.caFile, !FileManager.default.isReadableFile(atPath: ca) {
            throw ProtocolError(
                .invalidConfig, "caFile \(ca) cannot be read",
                diagnostics: [Diagnostic(path: "/config/admin/caFile", message: "a readable PEM file")])
        }
        func duration(_ key: String, _ text: String?, _ fallback: String) throws -> Duration {
            let t = text ?? fallback
            guard let d = DurationText.parse(t), d > .zero else {
                throw ProtocolError(
                    .invalidConfig, "\(key) \"\(t)\" is not a duration",
                    diagnostics: [Diagnostic(path: "/config/admin/\(key)", message: "a duration such as 30s or 5m")])
            }
            return d
        }
        placementTimeout = try duration("placementTimeout", config.placementTimeout, "5m")
        blockingWait = min(try duration("blockingWait", config.blockingWait, "5m"), .seconds(600))
        let auth = try RegistryAuth.fromAdminConfig(username: config.registryUsername, password: config.registryPassword)
        defaults = NomadJobDefaults(
            datacenters: config.datacenters ?? ["*"], nodePool: config.nodePool, constraints: config.constraints ?? [],
            mhzPerCore: config.mhzPerCore ?? 1000, memoryDefaultMB: config.memoryDefaultMB ?? 4096, logMaxFiles: config.logMaxFiles ?? 2,
            logMaxFileSizeMB: config.logMaxFileSizeMB ?? 64, registryAuth: auth)
        guard
            let http = NomadHTTP(
                endpoint: NomadEndpoint(address: url, token: config.token, namespace: config.namespace ?? "default", region: config.region),
                caFile: config.caFile)
        else {
            throw ProtocolError(
                .invalidConfig, "address \"\(text)\" is not an http(s) URL with a host and port",
                diagnostics: [Diagnostic(path: "/config/admin/address", message: "use http://host:4646 or https://host:4646")])
        }
        nomad = http
    }

    /// Reaches the cluster (a leader is known) and checks the token may list Gofer's jobs.
    func health() async -> HealthReport {
        do {
            let leader = try await nomad.send("GET", "/v1/status/leader", timeout: .seconds(10))
            guard leader.status == 200 else { throw NomadErrors.error("the leader query", leader) }
            let leaderAddress = leader.json?.stringValue ?? ""
            guard !leaderAddress.isEmpty else {
                return HealthReport(status: .unhealthy, detail: "Nomad at \(nomad.endpoint.address.absoluteString) has no leader")
            }
            let jobs = try await nomad.send("GET", "/v1/jobs", query: [("prefix", "gofer-"), ("per_page", "1")], timeout: .seconds(10))
            guard jobs.status == 200 else { throw NomadErrors.error("listing jobs", jobs) }
            return HealthReport(
                status: .healthy, detail: "Nomad at \(nomad.endpoint.address.absoluteString), leader \(leaderAddress), namespace \(nomad.endpoint.namespace)")
        } catch {
            return HealthReport(status: .unhealthy, detail: ErrorText.describe(error))
        }
    }

    // MARK: - Start

    func start(_ job: JobSpec) async throws -> String {
        let id = NomadJob.id(for: job.taskExecutionID)
        let placement = try job.placement.map { try JSONCodec.decode(NomadPlacement.self, from: $0) }
        let body = NomadJob.registration(job, placement: placement, defaults: defaults, namespace: nomad.endpoint.namespace)
        let r = try await nomad.send("POST", "/v1/jobs", body: body)
        if r.status == 200 || NomadJob.alreadyExists(r) { return id }
        throw NomadErrors.error("job \(id)", r)
    }

    // MARK: - State

    /// The job's labels (its Meta), or nil when Nomad has no such job.
    func jobMeta(_ id: String) async throws -> [String: String]? {
        let r = try await nomad.send("GET", "/v1/job/\(Self.escape(id))")
        if r.status == 404 { return nil }
        guard r.status == 200, let json = r.json else { throw NomadErrors.error("reading job \(id)", r) }
        var meta: [String: String] = [:]
        for (k, v) in json["Meta"]?.objectValue ?? [:] { meta[k] = v.stringValue }
        return meta
    }

    /// The job's newest allocation, with the index to block on next; nil when the job is gone.
    func allocation(_ id: String, after index: UInt64 = 0, wait: Duration? = nil) async throws -> (NomadAllocation?, UInt64?)? {
        var query: [(String, String)] = []
        if index > 0, let wait {
            query = [("index", String(index)), ("wait", "\(max(1, Int(wait.components.seconds)))s")]
        }
        let r = try await nomad.send("GET", "/v1/job/\(Self.escape(id))/allocations", query: query, timeout: (wait ?? .zero) + .seconds(60))
        if r.status == 404 { return nil }
        guard r.status == 200, let list = r.json?.arrayValue else { throw NomadErrors.error("listing allocations of \(id)", r) }
        let allocs = list.compactMap { NomadAllocation($0, task: NomadJob.taskName) }
        if allocs.isEmpty {
            // Nomad answers 200 with [] for a job it does not know, too.
            guard try await jobMeta(id) != nil else { return nil }
        }
        return (allocs.max { $0.createIndex < $1.createIndex }, r.index)
    }

    func status(_ id: String, _ alloc: NomadAllocation?, labels: [String: String]) -> JobStatus {
        var status = JobStatus(handle: id, state: .created, labels: labels)
        guard let alloc, let task = alloc.task else { return status }
        switch task.state {
        case "running": status.state = .running
        case "dead": status.state = .exited
        default: status.state = alloc.isDead ? .exited : .created
        }
        status.startedAt = task.startedAt
        if status.state == .exited {
            status.exitCode = alloc.exitCode
            status.oomKilled = alloc.oomKilled
            status.finishedAt = task.finishedAt
            status.startedAt = status.startedAt ?? status.finishedAt
        }
        return status
    }

    func inspect(_ handle: String) async throws -> JobStatus {
        guard let labels = try await jobMeta(handle), let (alloc, _) = try await allocation(handle) else {
            throw ProtocolError(.notFound, "no Nomad job \(handle)", reason: "nomad.no_such_job")
        }
        var s = status(handle, alloc, labels: labels)
        if let alloc {
            unplaced.forget(handle)
            if s.state == .created {
                s.message = "Nomad allocation \(alloc.clientStatus)" + (alloc.clientDescription.isEmpty ? "" : ": \(alloc.clientDescription)")
            }
        } else {
            // Not placed yet: why, as Nomad's evaluation says; past placementTimeout (from the
            // first look, inspect or wait) the job fails as in wait.
            let why = try? await placementFailure(handle)
            try await failIfUnplacedTooLong(handle, why: why)
            s.message = "waiting for a Nomad node: " + (why ?? "its evaluation is not placed yet")
        }
        return s
    }

    /// Deregisters the job and throws `scheduler.unplaceable` once it has waited past placementTimeout.
    func failIfUnplacedTooLong(_ handle: String, why: String?) async throws {
        guard unplaced.waiting(handle) >= placementTimeout else { return }
        unplaced.forget(handle)
        try? await deregister(handle, purge: true)
        throw JobFailure.unplaceable.error(
            "Nomad placed job \(handle) nowhere within \(DurationText.format(placementTimeout)) (placementTimeout): \(why ?? "its evaluation is blocked")")
    }

    func wait(_ handle: String) async throws -> JobStatus {
        guard let labels = try await jobMeta(handle) else {
            throw ProtocolError(.notFound, "no Nomad job \(handle)", reason: "nomad.no_such_job")
        }
        var index = BlockingIndex()
        var waitingForNode = false
        while true {
            // While nothing is placed, block no longer than the placement deadline.
            var wait = blockingWait
            if waitingForNode { wait = max(.seconds(1), min(wait, placementTimeout - unplaced.waiting(handle))) }
            guard let (alloc, next) = try await allocation(handle, after: index.value, wait: wait) else {
                throw ProtocolError(.notFound, "Nomad job \(handle) is gone", reason: "nomad.no_such_job")
            }
            index.update(next)
            if let alloc {
                waitingForNode = false
                unplaced.forget(handle)
                if alloc.isLost {
                    try? await deregister(handle, purge: false)
                    throw JobFailure.lost.error(
                        "Nomad lost allocation \(alloc.id) (node \(alloc.nodeID)): \(alloc.clientDescription.isEmpty ? "its node went away" : alloc.clientDescription); its outcome is unknown"
                    )
                }
                let s = status(handle, alloc, labels: labels)
                if s.state == .exited {
                    guard s.exitCode != nil else {
                        throw JobFailure.rejected.error("Nomad could not run the task (allocation \(alloc.id)): \(alloc.failureMessage)")
                    }
                    return s
                }
            } else {
                waitingForNode = true
                if unplaced.waiting(handle) >= placementTimeout { try await failIfUnplacedTooLong(handle, why: try? await placementFailure(handle)) }
            }
            if next == nil { try await Task.sleep(for: .milliseconds(200)) }  // not a blocking answer: do not spin
        }
    }

    /// Why the job's newest evaluation could not place it.
    func placementFailure(_ id: String) async throws -> String? {
        let r = try await nomad.send("GET", "/v1/job/\(Self.escape(id))/evaluations")
        guard r.status == 200, let evals = r.json?.arrayValue else { return nil }
        let newest = evals.sorted { ($0["CreateIndex"]?.intValue ?? 0) > ($1["CreateIndex"]?.intValue ?? 0) }
        return newest.lazy.compactMap(PlacementFailure.describe).first
    }

    // MARK: - Stop and remove

    func deregister(_ id: String, purge: Bool) async throws {
        let r = try await nomad.send("DELETE", "/v1/job/\(Self.escape(id))", query: [("purge", purge ? "true" : "false")])
        guard r.status == 200 || r.status == 404 else { throw NomadErrors.error("deregistering job \(id)", r) }
    }

    func stop(_ handle: String, grace: Duration) async throws {
        try await deregister(handle, purge: false)
    }

    func remove(_ handle: String) async throws {
        unplaced.forget(handle)
        try await deregister(handle, purge: true)
    }

    // MARK: - Logs

    func logs(_ handle: String, follow: Bool, to output: ExtensionSDK.OutputStream) async throws {
        // The allocation, once there is one that has started (or ended).
        var index = BlockingIndex()
        var alloc: NomadAllocation?
        while true {
            guard let (found, next) = try await allocation(handle, after: index.value, wait: blockingWait) else {
                throw ProtocolError(.notFound, "no Nomad job \(handle)", reason: "nomad.no_such_job")
            }
            index.update(next)
            if let found, found.task?.startedAt != nil || found.isDead {
                alloc = found
                break
            }
            if !follow { return }  // nothing has run yet
            if next == nil { try await Task.sleep(for: .milliseconds(200)) }
        }
        guard let alloc else { return }
        let nomad = self.nomad
        let scheduler = self
        try await withThrowingTaskGroup(of: Void.self) { group in
            for fd in ["stdout", "stderr"] {
                group.addTask {
                    try await NomadLogs(nomad: nomad, allocation: alloc.id, fd: fd).copy(follow: follow, to: output) {
                        guard let (a, _) = try await scheduler.allocation(handle) else { return true }
                        return a?.isDead ?? true
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    func list(labels: [String: String]) async throws -> [JobStatus] {
        let r = try await nomad.send("GET", "/v1/jobs", query: [("prefix", "gofer-"), ("meta", "true")])
        guard r.status == 200, let stubs = r.json?.arrayValue else { throw NomadErrors.error("listing jobs", r) }
        var out: [JobStatus] = []
        for stub in stubs {
            guard let id = stub["ID"]?.stringValue else { continue }
            var meta: [String: String] = [:]
            if let m = stub["Meta"]?.objectValue {
                for (k, v) in m { meta[k] = v.stringValue }
            } else if let m = try await jobMeta(id) {
                meta = m  // a Nomad older than `meta=true`
            }
            guard labels.allSatisfy({ meta[$0.key] == $0.value }), meta[NomadJob.executionMeta] != nil else { continue }
            if let (alloc, _) = try await allocation(id) { out.append(status(id, alloc, labels: meta)) }
        }
        return out
    }

    static func escape(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? s
    }
}
