import ExtensionSDK
import Foundation

/// A Nomad constraint (`LTarget`, `Operand`, `RTarget`), as the job JSON writes it.
public struct NomadConstraint: Sendable, Codable, Equatable {
    public var attribute: String
    public var `operator`: String
    public var value: String?

    public init(attribute: String, operator op: String, value: String?) {
        self.attribute = attribute
        self.operator = op
        self.value = value
    }

    var json: JSONValue {
        ["LTarget": .string(attribute), "Operand": .string(`operator`), "RTarget": .string(value ?? "")]
    }

    /// Nomad's constraint operators.
    public static let operators = [
        "=", "!=", ">", ">=", "<", "<=", "distinct_hosts", "distinct_property", "regexp", "set_contains", "set_contains_all",
        "set_contains_any", "version", "semver", "is_set", "is_not_set",
    ]
}

/// Where a task may run: the per-task placement a pipeline gives (the scheduler's params schema).
public struct NomadPlacement: Sendable, Codable, Equatable {
    public var datacenters: [String]?
    public var nodePool: String?
    public var constraints: [NomadConstraint]?

    public init(datacenters: [String]? = nil, nodePool: String? = nil, constraints: [NomadConstraint]? = nil) {
        self.datacenters = datacenters
        self.nodePool = nodePool
        self.constraints = constraints
    }
}

/// Cluster-wide settings for every job (admin config).
public struct NomadJobDefaults: Sendable {
    public var datacenters: [String]
    public var nodePool: String?
    public var constraints: [NomadConstraint]
    /// CPU of one core in MHz: a task's `cpu: 0.5` asks Nomad for half of it.
    public var mhzPerCore: Int
    public var memoryDefaultMB: Int
    public var logMaxFiles: Int
    public var logMaxFileSizeMB: Int
    public var registryAuth: RegistryAuth?

    public init(
        datacenters: [String] = ["*"], nodePool: String? = nil, constraints: [NomadConstraint] = [], mhzPerCore: Int = 1000,
        memoryDefaultMB: Int = 4096, logMaxFiles: Int = 2, logMaxFileSizeMB: Int = 64, registryAuth: RegistryAuth? = nil
    ) {
        self.datacenters = datacenters
        self.nodePool = nodePool
        self.constraints = constraints
        self.mhzPerCore = mhzPerCore
        self.memoryDefaultMB = memoryDefaultMB
        self.logMaxFiles = logMaxFiles
        self.logMaxFileSizeMB = logMaxFileSizeMB
        self.registryAuth = registryAuth
    }
}

/// The Nomad job Gofer registers for one task execution: a batch job with one group and one
/// docker task, never restarted or rescheduled by Nomad (Gofer decides retries).
public enum NomadJob {
    /// The task and group name inside every Gofer job.
    public static let taskName = "task"
    public static let executionMeta = "gofer.task_execution"

    /// A job ID derived from the task execution (so a retried start finds the same job):
    /// readable, unique by a hash of the whole id.
    public static func id(for executionID: String) -> String { JobName.derived(from: executionID, readableLength: 48) }

    /// The register body (`POST /v1/jobs`): `EnforceIndex` with `JobModifyIndex` 0 registers
    /// only a job that does not exist yet.
    public static func registration(_ job: JobSpec, placement: NomadPlacement?, defaults: NomadJobDefaults, namespace: String) -> JSONValue {
        var meta = job.labels
        meta[executionMeta] = job.taskExecutionID
        var config: [String: JSONValue] = ["image": .string(job.image)]
        if let entrypoint = job.entrypoint { config["entrypoint"] = .array(entrypoint.map(JSONValue.string)) }
        if let command = job.command, let first = command.first {
            config["command"] = .string(first)
            config["args"] = .array(command.dropFirst().map(JSONValue.string))
        }
        if let auth = job.registryAuth ?? defaults.registryAuth {
            config["auth"] = ["username": .string(auth.username), "password": .string(auth.password)]
        }
        var resources: [String: JSONValue] = [:]
        if let cpus = job.cpus { resources["CPU"] = .int(max(1, Checked.int64(cpus, times: Double(defaults.mhzPerCore)) ?? Int64.max)) }
        if let mb = job.memoryMB ?? (defaults.memoryDefaultMB > 0 ? defaults.memoryDefaultMB : nil) { resources["MemoryMB"] = .int(Int64(mb)) }
        let task: JSONValue = [
            "Name": .string(taskName), "Driver": "docker", "Config": .object(config),
            "Env": .object(job.env.mapValues(JSONValue.string)), "Meta": .object(meta.mapValues(JSONValue.string)),
            "Resources": .object(resources), "KillTimeout": .int(job.stopGraceNanoseconds),
            "LogConfig": ["MaxFiles": .int(Int64(defaults.logMaxFiles)), "MaxFileSizeMB": .int(Int64(defaults.logMaxFileSizeMB))],
        ]
        let group: JSONValue = [
            "Name": .string(taskName), "Count": 1, "Tasks": [task],
            "RestartPolicy": ["Attempts": 0, "Mode": "fail"],
            "ReschedulePolicy": ["Attempts": 0, "Unlimited": false],
        ]
        let constraints = defaults.constraints + (placement?.constraints ?? [])
        var spec: [String: JSONValue] = [
            "ID": .string(id(for: job.taskExecutionID)), "Name": .string(id(for: job.taskExecutionID)), "Type": "batch",
            "Namespace": .string(namespace), "Datacenters": .array((placement?.datacenters ?? defaults.datacenters).map(JSONValue.string)),
            "Meta": .object(meta.mapValues(JSONValue.string)), "TaskGroups": [group],
            "Constraints": .array(constraints.map(\.json)),
        ]
        if let pool = placement?.nodePool ?? defaults.nodePool { spec["NodePool"] = .string(pool) }
        return ["Job": .object(spec), "EnforceIndex": true, "JobModifyIndex": 0]
    }

    /// Nomad's answer to a register that found the job already there (`EnforceIndex` with 0).
    public static func alreadyExists(_ r: NomadResponse) -> Bool {
        r.status >= 400 && r.text.contains("job already exists")
    }
}

/// Nomad's HTTP errors as protocol errors. Nomad's bodies are plain text: they are reported as
/// they are, with what was being done.
public enum NomadErrors {
    public static func error(_ what: String, _ r: NomadResponse) -> ProtocolError {
        let body = r.text.isEmpty ? "(empty body)" : r.text
        switch r.status {
        case 400: return ProtocolError(.invalidParams, "Nomad refused \(what) (HTTP 400): \(body)", reason: "nomad.bad_request")
        case 401, 403:
            return ProtocolError(
                .permissionDenied, "Nomad refused \(what) (HTTP \(r.status)): \(body); check the ACL token (token) and its policy",
                reason: "nomad.permission_denied")
        case 404: return ProtocolError(.notFound, "Nomad: \(what): \(body)", reason: "nomad.not_found")
        case 500..<600:
            // Nomad: 5xx means the same request should not be expected to succeed.
            return ProtocolError(
                .failedPrecondition, "Nomad refused \(what) (HTTP \(r.status)): \(body)", reason: "nomad.server_error", retryable: false)
        default: return ProtocolError(.unavailable, "Nomad: \(what): unexpected HTTP \(r.status): \(body)", reason: "nomad.error")
        }
    }
}
