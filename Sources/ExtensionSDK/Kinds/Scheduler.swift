/// An extension that runs task containers: Docker, Nomad, or anything that can start a job,
/// report its exit and stream its logs.
///
/// The SDK validates every ``JobSpec`` before ``start(_:)`` sees it. Jobs belong to the engine,
/// not to the extension process: a restarted scheduler finds them again with ``list(labels:)`` and
/// ``inspect(_:)``, so `shutdown` must not stop running jobs.
public protocol Scheduler: Extension {
    /// Starts a job and returns its handle. Must be idempotent per ``JobSpec/taskExecutionID``:
    /// a second start for the same id returns the existing job's handle and starts nothing.
    func start(_ job: JobSpec) async throws -> String
    /// The job's current state. Throws ``ErrorCode/notFound`` for an unknown handle.
    func inspect(_ handle: String) async throws -> JobStatus
    /// Waits until the job has exited and returns its final state.
    func wait(_ handle: String) async throws -> JobStatus
    /// Stops a running job: SIGTERM, then SIGKILL after `grace`. Stopping a finished or unknown job succeeds.
    func stop(_ handle: String, grace: Duration) async throws
    /// Removes a finished job and its resources. Removing an unknown job succeeds.
    func remove(_ handle: String) async throws
    /// Writes the job's logs to `output`, from the start; with `follow`, until the job exits.
    func logs(_ handle: String, follow: Bool, to output: OutputStream) async throws
    /// Every job whose labels include all of `labels`.
    func list(labels: [String: String]) async throws -> [JobStatus]
    /// Runs `session.command` inside the running job and carries its terminal both ways until it
    /// exits; returns its exit code. Only called when the manifest advertises the `attach`
    /// capability (``Manifest/capabilities``); the default refuses.
    func attach(_ session: AttachSession) async throws -> Int
}

extension Scheduler {
    /// Refuses with `-32004 NotSupported`: override, and advertise ``Capability/attach``, to run commands inside jobs.
    public func attach(_ session: AttachSession) async throws -> Int {
        throw ProtocolError(.notSupported, "this scheduler cannot run commands inside its jobs")
    }
}

/// One `scheduler/attach`: a command to run inside a running job, the host's input for it, and
/// where its output goes.
///
/// ```swift
/// func attach(_ session: AttachSession) async throws -> Int {
///     let exec = try await engine.exec(session.handle, session.command, tty: session.tty)
///     async let _ = { for await i in session.input { try? await exec.send(i) } }()
///     for try await bytes in exec.output { try await session.output.write(bytes) }
///     return try await exec.exitCode()
/// }
/// ```
public struct AttachSession: Sendable {
    /// The job, as ``Scheduler/start(_:)`` returned it.
    public var handle: String
    /// The command and its arguments (at least one).
    public var command: [String]
    /// Whether the command gets a terminal: its output is then one stream, and input is keystrokes.
    public var tty: Bool
    /// The terminal's size at the start, if the host knows it.
    public var size: TerminalSize?
    /// Keystrokes, the end of input and resizes from the host; finishes when the request ends.
    public var input: AsyncStream<AttachInput>
    /// The command's output, under the host's flow control.
    public var output: OutputStream
}

extension Scheduler {
    /// Serves this scheduler over stdin/stdout.
    public static func main() async {
        ExtensionRuntime.main(SchedulerAdapter<Self>())
    }
}

/// What to run.
public struct JobSpec: Sendable, Codable, Hashable {
    /// The host's id for this task execution; the idempotency key of `start`.
    public var taskExecutionID: String
    /// Container image, e.g. `busybox:latest`.
    public var image: String
    /// Overrides the image's entrypoint.
    public var entrypoint: [String]?
    /// Overrides the image's command.
    public var command: [String]?
    /// Environment variables.
    public var env: [String: String]
    /// Labels put on the job, so it can be found again.
    public var labels: [String: String]
    /// CPU limit in cores (e.g. 0.5).
    public var cpus: Double?
    /// Memory limit in MiB.
    public var memoryMB: Int?
    /// Registry credentials for pulling the image.
    public var registryAuth: RegistryAuth?
    /// Where to run the job, in this scheduler's own terms (Swarm constraints, Nomad datacenters…):
    /// the task's `placement` from the pipeline config, already checked against the manifest's
    /// ``Manifest/params`` schema when the pipeline was applied. `nil` when the task sets none.
    public var placement: JSONValue?
    /// The grace the host will give this job when it stops it (the same value it sends as
    /// `graceMs` to `scheduler/stop`). Engines that fix the grace when a job is created (Swarm's
    /// `StopGracePeriod`, Nomad's `kill_timeout`) take it from here.
    public var stopGraceMs: Int?

    enum CodingKeys: String, CodingKey {
        case taskExecutionID = "taskExecutionId", image, entrypoint, command, env, labels, cpus, memoryMB, registryAuth, placement, stopGraceMs
    }

    /// A job spec, as the host sends it in `scheduler/start`.
    public init(
        taskExecutionID: String, image: String, entrypoint: [String]? = nil, command: [String]? = nil, env: [String: String] = [:],
        labels: [String: String] = [:], cpus: Double? = nil, memoryMB: Int? = nil, registryAuth: RegistryAuth? = nil,
        placement: JSONValue? = nil, stopGraceMs: Int? = nil
    ) {
        self.taskExecutionID = taskExecutionID
        self.image = image
        self.entrypoint = entrypoint
        self.command = command
        self.env = env
        self.labels = labels
        self.cpus = cpus
        self.memoryMB = memoryMB
        self.registryAuth = registryAuth
        self.placement = placement
        self.stopGraceMs = stopGraceMs
    }

    /// Decodes the wire form; absent env and labels are empty.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        taskExecutionID = try c.decode(String.self, forKey: .taskExecutionID)
        image = try c.decode(String.self, forKey: .image)
        entrypoint = try c.decodeIfPresent([String].self, forKey: .entrypoint)
        command = try c.decodeIfPresent([String].self, forKey: .command)
        env = try c.decodeIfPresent([String: String].self, forKey: .env) ?? [:]
        labels = try c.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
        cpus = try c.decodeIfPresent(Double.self, forKey: .cpus)
        memoryMB = try c.decodeIfPresent(Int.self, forKey: .memoryMB)
        registryAuth = try c.decodeIfPresent(RegistryAuth.self, forKey: .registryAuth)
        placement = try c.decodeIfPresent(JSONValue.self, forKey: .placement)
        stopGraceMs = try c.decodeIfPresent(Int.self, forKey: .stopGraceMs)
    }

    /// The JSON Schema of `scheduler/start` params.
    /// The published schema of `scheduler/start` params (one definition: ``ProtocolSchemas``).
    /// Unknown members are ignored, as the protocol says.
    public static let schema = JSONSchema(ProtocolSchemas.method(.schedulerStart).params)

    /// Every reason a scheduler built on this SDK would refuse to `start` this job (the
    /// `scheduler/start` schema and the checks it cannot express: env names, cpus, memory and
    /// stop grace in range); empty when any such scheduler accepts it.
    ///
    /// A host checks a job before sending it, and a property test checks that whatever apply
    /// accepts passes:
    ///
    /// ```swift
    /// let job = JobSpec(taskExecutionID: "t1", image: "busybox:latest", cpus: 1e10)
    /// job.problems().map(\.message)  // ["10000000000.0 is not a number of cores above 0 and at most 1000000"]
    /// ```
    public func problems() -> [Diagnostic] {
        guard let params = try? JSONCodec.encode(self) else {
            return [Diagnostic(path: "", message: "the job cannot be written as JSON")]
        }
        let schemaProblems = Self.schema.validate(params)
        return schemaProblems.isEmpty ? semanticProblems() : schemaProblems
    }

    /// Problems the JSON Schema cannot express (env names).
    func semanticProblems() -> [Diagnostic] {
        var out: [Diagnostic] = []
        for key in env.keys.sorted() where key.isEmpty || key.unicodeScalars.contains(where: { $0 == "=" || $0 == "\0" }) {
            out.append(
                Diagnostic(
                    path: "/env/\(JSONSchema.escape(key))", message: "environment variable names cannot be empty or contain '=' or NUL"))
        }
        for (key, value) in env.sorted(by: { $0.key < $1.key }) where value.unicodeScalars.contains("\0") {
            out.append(Diagnostic(path: "/env/\(JSONSchema.escape(key))", message: "environment variable values cannot contain NUL"))
        }
        if let cpus, !(cpus.isFinite && cpus > 0 && cpus <= Self.maxCPUs) {
            out.append(Diagnostic(path: "/cpus", message: "\(cpus) is not a number of cores above 0 and at most \(Int(Self.maxCPUs))"))
        }
        if let memoryMB, memoryMB > Self.maxMemoryMB {
            out.append(Diagnostic(path: "/memoryMB", message: "\(memoryMB) MiB is more than any engine can be given (at most \(Self.maxMemoryMB))"))
        }
        if let stopGraceMs, stopGraceMs < 0 || stopGraceMs > Self.maxStopGraceMs {
            out.append(Diagnostic(path: "/stopGraceMs", message: "\(stopGraceMs) is not a grace from 0 to \(Self.maxStopGraceMs) ms"))
        }
        return out
    }

    /// The most cores a job may ask for: every engine's unit (NanoCPUs, MHz) holds it without overflow.
    public static let maxCPUs = 1_000_000.0
    /// The most memory a job may ask for, in MiB (4 PiB): its bytes still fit an `Int64`.
    public static let maxMemoryMB = 1 << 32
    /// The longest stop grace, in milliseconds (about 35 years): its nanoseconds still fit an `Int64`.
    public static let maxStopGraceMs = 1 << 40

    /// ``cpus`` in billionths of a core (Docker's `NanoCpus`, Swarm's `NanoCPUs`); nil when unset.
    /// Checked, never trapping: the SDK refused a `start` whose `cpus` is out of range before
    /// the scheduler saw it.
    public var nanoCPUs: Int64? { cpus.flatMap { Checked.int64($0, times: 1e9) } }

    /// The memory limit in bytes: ``memoryMB``, else `defaultMB` when it is above 0, else nil.
    /// Checked like ``nanoCPUs``.
    public func memoryBytes(defaultMB: Int) -> Int64? {
        guard let mb = memoryMB ?? (defaultMB > 0 ? defaultMB : nil) else { return nil }
        return Checked.multiply(Int64(mb), 1 << 20)
    }

    /// ``stopGraceMs`` (10 s when unset) in nanoseconds, as Swarm and Nomad take it. Checked like ``nanoCPUs``.
    public var stopGraceNanoseconds: Int64 { Checked.multiply(Int64(stopGraceMs ?? 10_000), 1_000_000) ?? Int64(Self.maxStopGraceMs) * 1_000_000 }
}

/// Why a scheduler gave up on a job it had accepted: sent as `data.reason` of the error
/// `scheduler/wait` answers with, so the host can tell the task's own failure from the cluster's.
///
/// ```swift
/// throw JobFailure.unplaceable.error("no node satisfies node.labels.zone==b (waited 5m)")
/// ```
public enum JobFailure: String, Sendable, CaseIterable {
    /// The engine could not place the job on any node within the scheduler's placement wait.
    case unplaceable = "scheduler.unplaceable"
    /// The node refused or failed to start the job (e.g. the image is missing there).
    case rejected = "scheduler.rejected"
    /// The node running the job was lost; the job's outcome is unknown.
    case lost = "scheduler.job_lost"

    /// The error to answer `scheduler/wait` with (``ErrorCode/failedPrecondition``, not retryable).
    public func error(_ message: String) -> ProtocolError {
        ProtocolError(.failedPrecondition, message, reason: rawValue, retryable: false)
    }

    /// The failure a protocol error names, if it names one.
    public init?(_ error: ProtocolError) {
        self.init(rawValue: error.reason)
    }
}

/// Why a scheduler could not get a task's image: sent as `data.reason` of the error
/// `scheduler/start` answers with, so the host tells a missing image (fix the pipeline) from a
/// registry it could not reach (DNS, network, TLS: retry or fix the network) and one that refused
/// the pull (fix the credentials).
///
/// ```swift
/// throw ImageFailure.registryUnreachable.error("cannot pull busybox:1: lookup registry-1.docker.io: no such host")
/// ```
public enum ImageFailure: String, Sendable, CaseIterable {
    /// The registry answered: there is no such image or tag.
    case notFound = "image.not_found"
    /// The registry could not be reached: name resolution, connection or TLS failed.
    case registryUnreachable = "image.registry_unreachable"
    /// The registry refused the pull: credentials missing or wrong, or no access.
    case denied = "image.denied"

    /// The error to answer `scheduler/start` with: ``ErrorCode/notFound``,
    /// ``ErrorCode/unavailable`` (retryable) or ``ErrorCode/permissionDenied``.
    public func error(_ message: String) -> ProtocolError {
        switch self {
        case .notFound: ProtocolError(.notFound, message, reason: rawValue, retryable: false)
        case .registryUnreachable: ProtocolError(.unavailable, message, reason: rawValue, retryable: true)
        case .denied: ProtocolError(.permissionDenied, message, reason: rawValue, retryable: false)
        }
    }

    /// The failure a protocol error names, if it names one.
    public init?(_ error: ProtocolError) {
        self.init(rawValue: error.reason)
    }
}

/// Credentials for an image registry.
public struct RegistryAuth: Sendable, Codable, Hashable {
    /// The registry user.
    public var username: String
    /// The password or token; never logged.
    public var password: String

    /// Credentials for one registry.
    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    /// The admin config members of a scheduler's default registry credentials (used for tasks
    /// that bring none), for its ``Manifest/config`` schema.
    public static let adminConfigProperties: [String: JSONSchema] = [
        "registryUsername": .string(description: "Registry user for pulls when a task gives no registry_auth."),
        "registryPassword": .string(description: "Password or token for registryUsername.", writeOnly: true),
    ]

    /// The default credentials from admin config: both members or neither.
    ///
    /// ```swift
    /// defaultAuth = try RegistryAuth.fromAdminConfig(username: config.registryUsername, password: config.registryPassword)
    /// ```
    public static func fromAdminConfig(username: String?, password: String?) throws -> RegistryAuth? {
        switch (username, password) {
        case (let user?, let password?): return RegistryAuth(username: user, password: password)
        case (nil, nil): return nil
        default:
            throw ProtocolError(
                .invalidConfig, "registryUsername and registryPassword go together",
                diagnostics: [
                    Diagnostic(
                        path: username == nil ? "/config/admin/registryUsername" : "/config/admin/registryPassword",
                        message: "set both registryUsername and registryPassword, or neither")
                ])
        }
    }
}

/// A name for the engine's job of one task execution (a container, a Swarm service, a Nomad job):
/// readable, the same for the same execution (so a retried start finds it), unique by a hash of
/// the whole id, and within engines' name limits (≤ 63 characters of `a-z0-9-`).
///
/// ```swift
/// JobName.derived(from: "3f2a-ci-build-1-test")  // "gofer-3f2a-ci-build-1-test-9c0ffee1234abcd5"
/// ```
public enum JobName {
    /// The job name for `executionID`: `prefix`, up to `readableLength` characters of the id, and a hash of all of it.
    public static func derived(from executionID: String, prefix: String = "gofer-", readableLength: Int = 36) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a, 64-bit: stable across processes and releases
        for byte in executionID.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        let readable = String(executionID.lowercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "-" }.prefix(readableLength))
        return "\(prefix)\(readable)-\(String(hash, radix: 16))"
    }
}

/// A job's state as the engine reports it.
public struct JobStatus: Sendable, Codable, Hashable {
    /// Where a job stands: `created` (waiting to run), `running`, `exited`, or `unknown` (the engine cannot tell now).
    public enum State: String, Sendable, Codable {
        /// Accepted, not running yet (an image pull, a wait for a node).
        case created
        /// Running.
        case running
        /// Ended: ``JobStatus/exitCode`` says how.
        case exited
        /// The engine cannot tell now (a node unreachable for a moment): ask again.
        case unknown
    }
    /// The job's handle, as `scheduler/start` returned it.
    public var handle: String
    /// Where the job stands.
    public var state: State
    /// Exit code, once exited.
    public var exitCode: Int?
    /// Killed because it ran out of memory.
    public var oomKilled: Bool
    /// When the engine started and finished the job (RFC 3339), not when anyone looked.
    public var startedAt: String?
    /// When the job exited, as the engine recorded it (RFC 3339).
    public var finishedAt: String?
    /// The labels the job was started with.
    public var labels: [String: String]
    /// Why a `created` job does not run yet, in the engine's words ("no suitable node
    /// (scheduling constraints not satisfied on 2 nodes)"); shown on the task while it waits
    /// (protocol 1.1, capability ``Capability/placement``).
    public var message: String?

    /// A job's status.
    public init(
        handle: String, state: State, exitCode: Int? = nil, oomKilled: Bool = false, startedAt: String? = nil, finishedAt: String? = nil,
        labels: [String: String] = [:], message: String? = nil
    ) {
        self.handle = handle
        self.state = state
        self.exitCode = exitCode
        self.oomKilled = oomKilled
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.labels = labels
        self.message = message
    }
}

struct SchedulerAdapter<T: Scheduler>: KindAdapter {
    var kind: ExtensionKind { .scheduler }
    var manifest: Manifest { T.manifest }

    func start(config: JSONValue, context: ExtensionContext) async throws -> [String: RequestHandler] {
        let ext = try await T(config: Self.decodeConfig(T.Config.self, config), context: context)
        var handlers = commonHandlers(ext)
        handlers[ProtocolMethod.schedulerStart.rawValue] = { _, params in
            var problems = JobSpec.schema.validate(params)
            if problems.isEmpty {
                let spec = try JSONCodec.decode(JobSpec.self, from: params)
                problems = spec.semanticProblems()
                // Placement is in this scheduler's own terms: its params schema says what it reads.
                if let placement = spec.placement { problems += T.manifest.params.validate(placement, basePath: "/placement") }
                if problems.isEmpty {
                    let handle = try await ext.start(spec)
                    return ["handle": .string(handle)]
                }
            }
            throw ProtocolError.invalidParams(diagnostics: problems)
        }
        // Params are typed by the same declarations the host sends with (ProtocolCalls).
        @Sendable func handle(_ ref: JobRef) throws -> String {
            guard !ref.handle.isEmpty else {
                throw ProtocolError.invalidParams(diagnostics: [Diagnostic(path: "/handle", message: "must not be empty")])
            }
            return ref.handle
        }
        handlers[ProtocolMethod.schedulerInspect.rawValue] = { _, params in
            try JSONCodec.encode(try await ext.inspect(try handle(try ProtocolCalls.schedulerInspect.decodeParams(params))))
        }
        handlers[ProtocolMethod.schedulerWait.rawValue] = { _, params in
            try JSONCodec.encode(try await ext.wait(try handle(try ProtocolCalls.schedulerWait.decodeParams(params))))
        }
        handlers[ProtocolMethod.schedulerStop.rawValue] = { _, params in
            let stop = try ProtocolCalls.schedulerStop.decodeParams(params)
            let grace = stop.graceMs ?? 10_000
            guard grace >= 0 else {
                throw ProtocolError.invalidParams(diagnostics: [Diagnostic(path: "/graceMs", message: "must be ≥ 0")])
            }
            try await ext.stop(try handle(JobRef(handle: stop.handle)), grace: .milliseconds(grace))
            return .emptyObject
        }
        handlers[ProtocolMethod.schedulerRemove.rawValue] = { _, params in
            try await ext.remove(try handle(try ProtocolCalls.schedulerRemove.decodeParams(params)))
            return .emptyObject
        }
        handlers[ProtocolMethod.schedulerLogs.rawValue] = { ctx, params in
            let logs = try ProtocolCalls.schedulerLogs.decodeParams(params)
            let h = try handle(JobRef(handle: logs.handle))
            guard let stream = ctx.stream else {
                throw ProtocolError.invalidParams(diagnostics: [Diagnostic(path: "/_meta/stream", message: "scheduler/logs needs a stream")]
                )
            }
            try await ext.logs(h, follow: logs.follow ?? false, to: stream)
            return .emptyObject
        }
        if T.manifest.capabilities.has(.attach) {
            handlers[ProtocolMethod.schedulerAttach.rawValue] = { ctx, params in
                let request = try ProtocolCalls.schedulerAttach.decodeParams(params)
                let h = try handle(JobRef(handle: request.handle))
                guard !request.command.isEmpty else {
                    throw ProtocolError.invalidParams(diagnostics: [Diagnostic(path: "/command", message: "give the command to run")])
                }
                guard let stream = ctx.stream, let input = ctx.input else {
                    throw ProtocolError.invalidParams(diagnostics: [Diagnostic(path: "/_meta/stream", message: "scheduler/attach needs a stream")])
                }
                let size = request.rows.flatMap { r in request.cols.map { TerminalSize(rows: r, cols: $0) } }
                let code = try await ext.attach(
                    AttachSession(handle: h, command: request.command, tty: request.tty ?? true, size: size, input: input, output: stream))
                return try JSONCodec.encode(AttachResult(exitCode: code))
            }
        }
        handlers[ProtocolMethod.schedulerList.rawValue] = { _, params in
            let filter = try ProtocolCalls.schedulerList.decodeParams(params)
            return try JSONCodec.encode(JobList(jobs: try await ext.list(labels: filter.labels ?? [:])))
        }
        return handlers
    }
}
