import ExtensionSDK
import DockerEngine
import Foundation
import Synchronization

/// Runs task containers on a Docker engine through its HTTP API (Engine API 1.41 or newer).
///
/// - Containers carry the labels the host asks for plus `gofer.task_execution=<id>`; a second
///   start for the same task execution returns the existing container (never a second one).
/// - Never AutoRemove (a dockerd restart would erase the exit code); `remove` deletes explicitly.
/// - Never re-issues `start` on an exited container (Docker would run it again).
/// - Pulls only when the image is missing, scanning the pull stream for errors.
@main
struct DockerScheduler: Scheduler {
    static let manifest = Manifest(
        name: "docker", version: "0.1.0", summary: "Runs task containers on a Docker engine.",
        config: .object(
            RegistryAuth.adminConfigProperties.merging(DockerAPI.changeTimeoutConfig) { a, _ in a }.merging([
            "endpoint": .string(description: "Docker API endpoint.", default: "unix:///var/run/docker.sock"),
            "pull": .string(description: "When to pull images.", enum: ["missing", "always", "never"], default: "missing"),
            "logMaxSize": .string(
                description: "Size of the engine's own log of a task container before it rotates (Docker's max-size).",
                default: "64m"),
            "logMaxFiles": .integer(description: "Rotated files the engine keeps per task container.", minimum: 1, default: 2),
            "liveLogMaxBytes": .integer(
                description:
                    "Output of a container captured live (spooled on disk while Gofer reads it); past it, the rest is read from the engine's log.",
                minimum: 1_048_576, default: 268_435_456),
            "logDriver": .string(
                description:
                    "The engine's own log of a task container: local (kept, rotated, the engine's binary format: output is recovered after a restart of Gofer; faster to write than json-file), json-file (kept, rotated) or none (fastest: output is only what Gofer captures live, so what a task prints while Gofer is down is lost).",
                enum: LogDriver.allCases.map(\.rawValue), default: LogDriver.local.rawValue),
            "pidsLimit": .integer(description: "Processes a task container may have at once (fork bombs stop there).", minimum: 16, default: 4096),
            "memoryDefaultMB": .integer(
                description: "Memory limit of tasks that set none, in MB; 0 for none.", minimum: 0, default: 4096),
            "user": .string(description: "Run task containers as this user (uid:gid or name) instead of the image's."),
        ]) { a, _ in a }),
        capabilities: Capability.set([.attach]))

    struct Config: Decodable, Sendable {
        var endpoint: String?
        var pull: String?
        var registryUsername: String?
        var registryPassword: String?
        var logMaxSize: String?
        var logMaxFiles: Int?
        var logDriver: LogDriver?
        var liveLogMaxBytes: Int?
        var pidsLimit: Int?
        var memoryDefaultMB: Int?
        var user: String?
        var requestTimeoutSeconds: Int?
    }

    /// What every task container gets, whatever its pipeline says: a pipeline config can ask for
    /// CPU and memory, never for privileges, devices, host mounts or host namespaces.
    struct ContainerDefaults: Sendable {
        var logMaxSize = "64m"
        var logMaxFiles = 2
        var logDriver = LogDriver.local
        var liveLogMaxBytes = 256 << 20
        var pidsLimit = 4096
        var memoryDefaultMB = 4096
        var user: String?
    }

    let docker: DockerAPI
    let pullPolicy: String
    /// Admin-level registry credentials, used when a task brings none.
    let defaultAuth: RegistryAuth?
    let defaults: ContainerDefaults
    /// Output of the containers this process attached to, captured live.
    let attached = AttachedOutputs()
    let spoolDirectory: String

    init(config: Config, context: ExtensionContext) throws {
        spoolDirectory = context.temporaryDirectory ?? NSTemporaryDirectory()
        let text = config.endpoint ?? "unix:///var/run/docker.sock"
        guard let endpoint = HTTPEndpoint(text) else {
            throw ProtocolError(
                .invalidConfig, "endpoint \"\(text)\" is not unix:///path or http://host:port",
                diagnostics: [Diagnostic(path: "/config/admin/endpoint", message: "use unix:///var/run/docker.sock or http://host:port")])
        }
        docker = DockerAPI(
            client: SimpleHTTPClient(endpoint: endpoint),
            changeTimeout: DockerAPI.changeTimeout(seconds: config.requestTimeoutSeconds))
        pullPolicy = config.pull ?? "missing"
        var d = ContainerDefaults()
        if let size = config.logMaxSize {
            guard size.range(of: "^[0-9]+[kmg]?$", options: .regularExpression) != nil else {
                throw ProtocolError(
                    .invalidConfig, "logMaxSize \"\(size)\" is not a size such as 64m",
                    diagnostics: [Diagnostic(path: "/config/admin/logMaxSize", message: "a number with k, m or g, e.g. 64m")])
            }
            d.logMaxSize = size
        }
        if let n = config.logMaxFiles { d.logMaxFiles = n }
        if let driver = config.logDriver { d.logDriver = driver }
        if let n = config.liveLogMaxBytes { d.liveLogMaxBytes = n }
        if let n = config.pidsLimit { d.pidsLimit = n }
        if let n = config.memoryDefaultMB { d.memoryDefaultMB = n }
        if let u = config.user, !u.isEmpty { d.user = u }
        defaults = d
        defaultAuth = try RegistryAuth.fromAdminConfig(username: config.registryUsername, password: config.registryPassword)
    }

    func health() async -> HealthReport {
        do {
            let version = try await docker.negotiate()
            return HealthReport(status: .healthy, detail: "Docker engine API \(version)")
        } catch {
            return HealthReport(status: .unhealthy, detail: ErrorText.describe(error))
        }
    }

    /// How long a start keeps finding out what a busy engine did with a request it did not answer
    /// in time. The host allows `scheduler/start` 10 minutes.
    static let startBudget: Duration = .seconds(300)

    /// Creates and starts the task's container, or finds the one already there.
    ///
    /// A busy engine may take a request and not answer in time. The container may then exist, or
    /// even run: the next attempt finds it by its `gofer.task_execution` label and carries on from
    /// where it is, so a slow engine delays a task instead of failing it — and never starts a
    /// second container for it. A start that fails for good removes what it created.
    func start(_ job: JobSpec) async throws -> String {
        do {
            return try await DockerAPI.retryingUnanswered(for: Self.startBudget, logging: ["task_execution": job.taskExecutionID]) {
                try await startOnce(job)
            }
        } catch {
            if !Task.isCancelled { await removeLeftovers(of: job) }
            throw error
        }
    }

    /// Removes the containers of a task execution whose start failed (created, never started;
    /// or started by an engine that answered too late).
    func removeLeftovers(of job: JobSpec) async {
        guard let leftovers = try? await docker.containers(labels: ["gofer.task_execution": job.taskExecutionID]) else { return }
        for container in leftovers {
            try? await docker.remove(container.handle, force: true)
            attached.remove(container.handle)
        }
    }

    /// How many times a start looks again when the container it found vanished or its name was
    /// taken by another start of the same task execution.
    static let lookAgainLimit = 4

    private func startOnce(_ job: JobSpec) async throws -> String {
        for _ in 0..<Self.lookAgainLimit {
            if let handle = try await startOrCreate(job) { return handle }
        }
        throw ProtocolError(
            .unavailable,
            "the container of task execution \(job.taskExecutionID) kept vanishing or changing while it was started (\(Self.lookAgainLimit) looks); something else removes this task's containers",
            reason: "docker.error", retryable: true)
    }

    /// Starts the task execution's container, creating it when there is none. nil: look again —
    /// the container found vanished before it was started (an engine that dropped it, a removal
    /// in progress), or another start of the same task execution created it meanwhile.
    private func startOrCreate(_ job: JobSpec) async throws -> String? {
        // Idempotent: a container for this task execution may already exist (a retried start,
        // an engine that took the last request without answering in time, or a host that crashed
        // between start and recording the handle).
        if let existing = try await docker.containers(labels: ["gofer.task_execution": job.taskExecutionID]).first {
            do {
                // Created but never started (a crash between create and start): start it now.
                // Never start one that has run: Docker would run it again.
                if try await docker.inspect(existing.handle).state == .created { try await attachAndStart(existing.handle) }
            } catch let error as ProtocolError where error.code == .notFound {
                ExtensionLog().warning(
                    "the task's container vanished before it was started; looking again",
                    ["task_execution": job.taskExecutionID, "container": existing.handle])
                return nil
            }
            return existing.handle
        }
        try await ensureImage(job.image, auth: job.registryAuth ?? defaultAuth)
        var labels = job.labels
        labels["gofer.task_execution"] = job.taskExecutionID
        var body: JSONValue = [
            "Image": .string(job.image),
            "Env": .array(job.env.sorted { $0.key < $1.key }.map { .string("\($0.key)=\($0.value)") }),
            "Labels": .object(labels.mapValues(JSONValue.string)),
            "Tty": false, "AttachStdout": false, "AttachStderr": false, "OpenStdin": false,
        ]
        if let command = job.command { body["Cmd"] = .array(command.map(JSONValue.string)) }
        if let entrypoint = job.entrypoint { body["Entrypoint"] = .array(entrypoint.map(JSONValue.string)) }
        if let user = defaults.user { body["User"] = .string(user) }
        var host: [String: JSONValue] = [
            "AutoRemove": false, "Privileged": false, "PidsLimit": .int(Int64(defaults.pidsLimit)),
            "LogConfig": defaults.logDriver.logConfig(maxSize: defaults.logMaxSize, maxFiles: defaults.logMaxFiles),
        ]
        if let nano = job.nanoCPUs { host["NanoCpus"] = .int(try await cpuLimit(nano)) }
        if let bytes = job.memoryBytes(defaultMB: defaults.memoryDefaultMB) {
            host["Memory"] = .int(bytes)
            host["MemorySwap"] = .int(bytes)
        }
        body["HostConfig"] = .object(host)
        let name = "gofer-" + job.taskExecutionID.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" }
        let id: String
        do {
            id = try await docker.create(name: String(name.prefix(200)), body: body)
        } catch let error as ProtocolError where error.code == .conflict {
            // Created concurrently under the same name (or one of that name is being removed):
            // look again — the next look starts the one that exists if it never ran.
            return nil
        }
        do {
            try await attachAndStart(id)
        } catch let error as ProtocolError where error.code == .notFound {
            return nil  // removed between create and start: look again
        }
        return id
    }

    /// `nano` billionths of a core, at most the engine's CPUs: Docker refuses a container that
    /// asks for more cores than its host has ("Range of CPUs is from 0.01 to 2.00"), while a
    /// limit above the host's CPUs is no limit at all — so a config accepted at apply (up to
    /// `task_cpu_max`) runs on a smaller machine with every core it has.
    func cpuLimit(_ nano: Int64) async throws -> Int64 {
        guard nano > 1_000_000_000, let cpus = try await docker.cpuCount(), cpus > 0,
            let most = Checked.multiply(cpus, 1_000_000_000)
        else { return nano }
        return min(nano, most)
    }

    /// Attaches to the container's output, then starts it: its logs are then served from what was
    /// captured live. Without an attach (an engine that refuses it) the logs come from the engine.
    /// An attempt whose start the engine did not answer keeps its capture: the container may
    /// have started meanwhile, and its first lines are there.
    func attachAndStart(_ id: String) async throws {
        if attached.record(id) == nil {
            let spool = OutputSpool(directory: spoolDirectory, limit: defaults.liveLogMaxBytes, marksTruncation: false)
            let record = AttachedOutputs.Record(spool: spool)
            do {
                record.reader = try await docker.attach(id, into: spool) { error in
                    if let error { record.cut(error) }
                    spool.finish()
                }
                attached.add(id, record)
            } catch {
                ExtensionLog().warning(
                    "cannot attach to the container; its logs will be read from the engine", ["container": id, "error": ErrorText.describe(error)])
            }
        }
        do {
            try await docker.start(id)
        } catch let error as ProtocolError where error.reason == DockerAPI.Reason.noAnswer {
            // The engine may be starting it still: keep the capture; the next attempt looks.
            throw error
        } catch {
            attached.remove(id)  // not started: let go of the attached stream
            throw error
        }
    }

    func ensureImage(_ image: String, auth: RegistryAuth?) async throws {
        let present = try await docker.imageExists(image)
        if present && pullPolicy != "always" { return }
        if !present && pullPolicy == "never" {
            throw ImageFailure.notFound.error("image \(image) is not present and the pull policy is \"never\"")
        }
        try await docker.pull(image, auth: auth)
    }

    func inspect(_ handle: String) async throws -> JobStatus { try await docker.inspect(handle) }

    func wait(_ handle: String) async throws -> JobStatus {
        try await docker.wait(handle)
        return try await docker.inspect(handle)
    }

    func stop(_ handle: String, grace: Duration) async throws {
        try await docker.stop(handle, grace: grace)
    }

    func remove(_ handle: String) async throws {
        try await docker.remove(handle)
        attached.remove(handle)
    }

    func logs(_ handle: String, follow: Bool, to output: ExtensionSDK.OutputStream) async throws {
        var skip: [String: Int] = [:]
        if let record = attached.record(handle) {
            try await record.spool.stream(to: output, follow: follow)
            guard let cut = record.cutError else { return }
            // The live stream broke before the container's output ended: the rest comes from the
            // engine's log, skipping what was already sent (per stream; the engine keeps each in order).
            skip = ["stdout": record.spool.count(fd: "stdout"), "stderr": record.spool.count(fd: "stderr")]
            ExtensionLog().warning("live output was cut; continuing from the engine's log", ["container": handle, "error": "\(cut)"])
        }
        do {
            try await docker.logs(handle, follow: follow) { fd, bytes in
                var bytes = bytes[...]
                if let n = skip[fd], n > 0 {
                    let dropped = min(n, bytes.count)
                    skip[fd] = n - dropped
                    bytes = bytes.dropFirst(dropped)
                }
                if !bytes.isEmpty { try await output.write(Array(bytes), fd: fd) }
            }
        } catch let error as ProtocolError where defaults.logDriver == .none && error.code != .cancelled {
            // The engine keeps no log with the none driver: what was not captured live is gone.
            try await output.write(
                Array("\n[gofer: the engine keeps no log of this container (task log driver none); output printed while Gofer was not attached is lost]\n".utf8),
                fd: "stderr")
        }
    }

    /// `docker exec -it` for the host: keystrokes in, the terminal's output out, the exit code back.
    func attach(_ session: AttachSession) async throws -> Int {
        let (execID, connection) = try await docker.exec(session.handle, command: session.command, tty: session.tty, size: session.size)
        defer { connection.close() }
        // Engines before API 1.42 ignore ConsoleSize: size the terminal once it exists.
        if session.tty, let size = session.size { try? await docker.resizeExec(execID, size) }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            // Input: keystrokes and resizes until the host's input ends or the command exits.
            group.addTask {
                for await input in session.input {
                    if let size = input.size { try? await self.docker.resizeExec(execID, size) }
                    if !input.bytes.isEmpty { try? connection.write(input.bytes) }
                    if input.eof { connection.closeWrite() }
                }
            }
            var pending: [UInt8] = []
            for try await bytes in connection.output {
                if session.tty {
                    try await session.output.write(bytes)
                    continue
                }
                pending += bytes
                var offset = 0
                while let (fd, size) = DockerAPI.frameHeader(pending, at: offset) {
                    try await session.output.write(Array(pending[(offset + 8)..<(offset + 8 + size)]), fd: fd)
                    offset += 8 + size
                }
                pending.removeFirst(offset)
            }
            group.cancelAll()
            // The stream ends as the command exits; the engine records the code a moment later.
            for _ in 0..<50 {
                if let code = try await docker.execExitCode(execID) { return code }
                try await Task.sleep(for: .milliseconds(20))
            }
            throw ProtocolError(.unavailable, "the command's output ended but Docker reports it still running", reason: "docker.error")
        }
    }

    func list(labels: [String: String]) async throws -> [JobStatus] {
        let summaries = try await docker.containers(labels: labels)
        var out: [JobStatus] = []
        for s in summaries {
            if let status = try? await docker.inspect(s.handle) { out.append(status) }
        }
        return out
    }
}

/// The containers this extension attached to, with what each printed so far.
final class AttachedOutputs: Sendable {
    final class Record: Sendable {
        let spool: OutputSpool
        private let state = Mutex<(reader: Task<Void, Never>?, cut: String?)>((nil, nil))

        init(spool: OutputSpool) { self.spool = spool }

        var reader: Task<Void, Never>? {
            get { state.withLock { $0.reader } }
            set { state.withLock { $0.reader = newValue } }
        }

        /// Why the live stream ended before the container's output did, if it did.
        var cutError: String? { state.withLock { $0.cut } }

        func cut(_ error: any Error) { state.withLock { $0.cut = ErrorText.describe(error) } }
    }

    private let records = Mutex<[String: Record]>([:])

    func add(_ id: String, _ record: Record) { records.withLock { $0[id] = record } }

    func record(_ id: String) -> Record? { records.withLock { $0[id] } }

    /// Forgets a removed container (stopping its reader; its spool file goes with it).
    func remove(_ id: String) { records.withLock { $0.removeValue(forKey: id) }?.reader?.cancel() }
}
