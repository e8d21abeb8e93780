import ExtensionSDK
import Foundation

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
        config: .object([
            "endpoint": .string(description: "Docker API endpoint.", default: "unix:///var/run/docker.sock"),
            "pull": .string(description: "When to pull images.", enum: ["missing", "always", "never"], default: "missing"),
            "registryUsername": .string(description: "Registry user for pulls when a task gives no registry_auth."),
            "registryPassword": .string(description: "Password or token for registryUsername.", writeOnly: true),
            "logMaxSize": .string(
                description: "Size of the engine's own json-file log of a task container before it rotates (Docker's max-size).",
                default: "64m"),
            "logMaxFiles": .integer(description: "Rotated files the engine keeps per task container.", minimum: 1, default: 2),
            "pidsLimit": .integer(description: "Processes a task container may have at once (fork bombs stop there).", minimum: 16, default: 4096),
            "memoryDefaultMB": .integer(
                description: "Memory limit of tasks that set none, in MB; 0 for none.", minimum: 0, default: 4096),
            "user": .string(description: "Run task containers as this user (uid:gid or name) instead of the image's."),
        ]))

    struct Config: Decodable, Sendable {
        var endpoint: String?
        var pull: String?
        var registryUsername: String?
        var registryPassword: String?
        var logMaxSize: String?
        var logMaxFiles: Int?
        var pidsLimit: Int?
        var memoryDefaultMB: Int?
        var user: String?
    }

    /// What every task container gets, whatever its pipeline says: a pipeline config can ask for
    /// CPU and memory, never for privileges, devices, host mounts or host namespaces.
    struct ContainerDefaults: Sendable {
        var logMaxSize = "64m"
        var logMaxFiles = 2
        var pidsLimit = 4096
        var memoryDefaultMB = 4096
        var user: String?
    }

    let docker: DockerAPI
    let pullPolicy: String
    /// Admin-level registry credentials, used when a task brings none.
    let defaultAuth: RegistryAuth?
    let defaults: ContainerDefaults

    init(config: Config, context: ExtensionContext) throws {
        let text = config.endpoint ?? "unix:///var/run/docker.sock"
        guard let endpoint = HTTPEndpoint(text) else {
            throw ProtocolError(
                .invalidConfig, "endpoint \"\(text)\" is not unix:///path or http://host:port",
                diagnostics: [Diagnostic(path: "/config/admin/endpoint", message: "use unix:///var/run/docker.sock or http://host:port")])
        }
        docker = DockerAPI(client: SimpleHTTPClient(endpoint: endpoint))
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
        if let n = config.pidsLimit { d.pidsLimit = n }
        if let n = config.memoryDefaultMB { d.memoryDefaultMB = n }
        if let u = config.user, !u.isEmpty { d.user = u }
        defaults = d
        if let user = config.registryUsername, let password = config.registryPassword {
            defaultAuth = RegistryAuth(username: user, password: password)
        } else if config.registryUsername != nil || config.registryPassword != nil {
            throw ProtocolError(
                .invalidConfig, "registryUsername and registryPassword go together",
                diagnostics: [
                    Diagnostic(
                        path: config.registryUsername == nil ? "/config/admin/registryUsername" : "/config/admin/registryPassword",
                        message: "set both registryUsername and registryPassword, or neither")
                ])
        } else {
            defaultAuth = nil
        }
    }

    func health() async -> HealthReport {
        do {
            let version = try await docker.negotiate()
            return HealthReport(status: .healthy, detail: "Docker engine API \(version)")
        } catch {
            return HealthReport(status: .unhealthy, detail: "\(error)")
        }
    }

    func start(_ job: JobSpec) async throws -> String {
        // Idempotent: a container for this task execution may already exist (a retried start,
        // or a host that crashed between start and recording the handle).
        if let existing = try await docker.containers(labels: ["gofer.task_execution": job.taskExecutionID]).first {
            // Created but never started (a crash between create and start): start it now. Never
            // start one that has run: Docker would run it again.
            if try await docker.inspect(existing.handle).state == .created { try await docker.start(existing.handle) }
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
            "LogConfig": [
                "Type": "json-file", "Config": ["max-size": .string(defaults.logMaxSize), "max-file": .string(String(defaults.logMaxFiles))],
            ],
        ]
        if let cpus = job.cpus { host["NanoCpus"] = .int(Int64(cpus * 1e9)) }
        if let mb = job.memoryMB ?? (defaults.memoryDefaultMB > 0 ? defaults.memoryDefaultMB : nil) {
            host["Memory"] = .int(Int64(mb) * 1_048_576)
            host["MemorySwap"] = .int(Int64(mb) * 1_048_576)
        }
        body["HostConfig"] = .object(host)
        let name = "gofer-" + job.taskExecutionID.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" }
        let id: String
        do {
            id = try await docker.create(name: String(name.prefix(200)), body: body)
        } catch let error as ProtocolError where error.code == .conflict {
            // Created concurrently under the same name: use that one.
            if let existing = try await docker.containers(labels: ["gofer.task_execution": job.taskExecutionID]).first {
                return existing.handle
            }
            throw error
        }
        try await docker.start(id)
        return id
    }

    func ensureImage(_ image: String, auth: RegistryAuth?) async throws {
        let present = try await docker.imageExists(image)
        if present && pullPolicy != "always" { return }
        if !present && pullPolicy == "never" {
            throw ProtocolError(
                .notFound, "image \(image) is not present and the pull policy is \"never\"", reason: "docker.image_not_found")
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

    func remove(_ handle: String) async throws { try await docker.remove(handle) }

    func logs(_ handle: String, follow: Bool, to output: ExtensionSDK.OutputStream) async throws {
        try await docker.logs(handle, follow: follow) { fd, bytes in try await output.write(bytes, fd: fd) }
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
