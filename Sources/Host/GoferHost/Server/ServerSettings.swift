import ExtensionSDK
import Foundation
import Yams

/// Server settings: defaults, then a config file (YAML), then `GOFER_…` environment variables,
/// then command-line flags. Each setting is declared once, in ``table`` (ServerSettingsTable.swift);
/// docs/server-config.md's table is generated from it.
public struct ServerSettings: Sendable, Equatable {
    public var listen = "127.0.0.1:8080"
    public var dataDir = ServerSettings.defaultDataDir
    /// `postgres://…`: the database is on a PostgreSQL server instead of `DATA_DIR/gofer.sqlite`.
    /// Checked when set (``PostgresURL``); it may hold a password, so it is never printed whole.
    public var databaseURL: String?
    /// Name of the scheduler extension: `docker` (default), `swarm`, `nomad`, `process`, or any installed one.
    public var scheduler = "docker"
    /// Where extension executables are found; default: next to the `gofer` executable.
    public var extensionsDir: String?
    public var dockerEndpoint = "unix:///var/run/docker.sock"
    public var taskTimeoutMin: Duration = .seconds(300)
    public var taskTimeoutMax: Duration = .seconds(8 * 3600)
    public var runTimeout: Duration = .seconds(24 * 3600)
    public var maxConcurrentTasks = 32
    public var stopGrace: Duration = .seconds(10)
    /// Bytes of output stored per task.
    public var maxLogBytes = 64 << 20
    /// Log level of the server's own log: debug, info, warning, error.
    public var logLevel = "info"
    /// Extensions to install on the first start, besides the bundled registry's defaults
    /// (docker, embedded-secrets, interval, cron).
    public var firstStartExtensions: [String] = []
    /// Registry indexes besides the bundled one (file paths or https URLs), searched in order.
    public var registries: [String] = []
    /// The shortest `every` an interval trigger accepts.
    public var triggerIntervalMin: Duration = .seconds(60)
    /// Random delay before an interval subscription starts counting: `2m-5m`, or one duration (`0s` for none).
    public var triggerIntervalJitter = "2m-5m"
    /// The secret GitHub signs webhooks with (X-Hub-Signature-256). Never printed.
    public var githubWebhookSecret: String?
    /// Largest body `POST /api/external/{trigger}` accepts. A forwarded request travels in one
    /// protocol frame (4 MiB, base64), so about 3 MB is the most a trigger can take anyway.
    public var externalMaxBodyBytes = 2 << 20
    /// The secret store: `embedded` (an encrypted file in the data directory), `vault`, `memory`
    /// (lost on restart; tests) or `none`.
    public var secretStore = "embedded"
    /// Start with a different secret store than last time although secrets were stored in the old
    /// one (they stay there, unreachable to this server).
    public var secretStoreSwitch = false
    /// The embedded store's key (32 bytes, base64). Without it a key is created once in
    /// `DATA_DIR/secrets.key` (mode 0600). Never printed.
    public var secretStoreKey: String?
    public var vaultAddress: String?
    public var vaultToken: String?
    public var vaultRoleID: String?
    public var vaultSecretID: String?
    public var vaultMount = "secret"
    public var vaultPrefix = "gofer"
    public var vaultNamespace: String?
    /// Delete a pipeline's secrets when the pipeline (or its namespace) is deleted.
    public var secretCleanup = true
    /// Object store limits (see docs/objects.md).
    public var objectLimits = ObjectLimits()
    /// Delete a pipeline's objects when the pipeline (or its namespace) is deleted.
    public var objectCleanup = true
    /// Allow `gofer task attach` (a shell inside a running task). Off: no route, no scheduler call.
    public var taskAttach = true
    /// Requests to open routes (health, webhooks) per client address.
    public var rateLimitPublic = RateLimit(count: 300, per: .seconds(60))
    /// Failed authentications per client address; past it every request from there gets 429.
    public var rateLimitAuthFailures = RateLimit(count: 30, per: .seconds(60))
    /// Proxies whose `X-Forwarded-For` is believed (addresses or CIDR ranges).
    public var trustedProxies: [CIDR] = []
    /// The API address given to tasks as GOFER_API_URL; nil: worked out from `listen` and the scheduler.
    public var taskAPIURL: String?
    /// OpenTelemetry collector (OTLP/HTTP) for traces and metrics; nil: no export.
    public var otlpEndpoint: String?
    /// An extra address the API listens on for tasks: `auto` (the Docker bridge's gateway, when
    /// the scheduler is docker and `listen` is a loopback address), `off`, or host:port.
    public var taskListen = "auto"
    /// Task containers (docker scheduler): the engine's own log of each (rotated at this size,
    /// this many files), processes at once, memory of tasks that set none (MB, 0 = none), user.
    public var taskLogMaxSize = "64m"
    public var taskLogMaxFiles = 2
    /// The engine's own log of a task container (``TaskLogDriver``).
    public var taskLogDriver = TaskLogDriver.local
    public var taskPidsLimit = 4096
    public var taskMemoryDefaultMB = 4096
    public var taskUser: String?
    /// Public mode: trial tokens for anyone, their budgets and caps.
    public var trials = TrialPolicy()
    /// The user task containers run as: `task_user`, else (public mode) nobody, never root.
    public var effectiveTaskUser: String? { taskUser ?? (trials.enabled ? TrialPolicy.taskUser : nil) }
    /// The most CPUs and memory a task may ask for (checked at apply).
    public var taskLimits = TaskResourceLimits()
    /// How long clients may take over requests, and how many connections one address may hold.
    public var connectionLimits = ConnectionLimits()
    /// Swarm scheduler: placement constraints every task gets (e.g. `node.role==worker`).
    public var swarmConstraints: [String] = []
    /// Docker and Swarm schedulers: how long creating or starting a container or service waits for
    /// the engine's answer before the scheduler looks at what the engine did.
    public var dockerRequestTimeout: Duration = .seconds(180)
    /// Swarm and Nomad schedulers: how long a task may wait for a node before it fails.
    public var placementTimeout: Duration = .seconds(300)
    /// Nomad scheduler: the cluster's HTTP API, the ACL token (never printed), the CA of its
    /// HTTPS certificate, and where Gofer's jobs go.
    public var nomadAddress: String?
    public var nomadToken: String?
    public var nomadCAFile: String?
    public var nomadNamespace: String?
    public var nomadRegion: String?
    public var nomadDatacenters: [String] = []
    /// PEM certificate chain and private key: with both, the server speaks HTTPS.
    public var tlsCert: String?
    public var tlsKey: String?
    /// Versions kept per pipeline (a pipeline's `keep_versions` overrides it).
    public var keepVersions = 100
    /// Where people reach this server (a run's link in commit statuses and alerts).
    public var publicURL: String?
    /// The image of tasks that give only `run:`.
    public var defaultTaskImage = "busybox:latest"

    public init() {}

    public static var defaultDataDir: String {
        (ProcessInfo.processInfo.environment["HOME"] ?? NSTemporaryDirectory()) + "/.gofer"
    }

    /// A problem with a setting, naming its source.
    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    /// Applies one setting from any source; `source` names it in errors (`gofer.yaml:3`, `GOFER_LISTEN`, `--listen`).
    public mutating func set(_ key: String, _ value: String, source: String) throws {
        guard let setting = Self.setting(key) else {
            throw Problem(description: "\(source): unknown setting \"\(key)\" (known: \(Self.table.map(\.key).joined(separator: ", ")))")
        }
        try setting.apply(value, to: &self, source: source)
    }

    /// The setting with file key `key`.
    public static func setting(_ key: String) -> ServerSetting? { byKey[key] }

    static let byKey = Dictionary(table.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })

    /// Loads a config file: TOML when it ends in `.toml`, else YAML.
    public mutating func load(file path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Problem(description: "cannot read config file \(path)")
        }
        if path.lowercased().hasSuffix(".toml") {
            var reader = TOMLReader(text)
            let root: JSONValue
            do { root = try reader.read() } catch { throw Problem(description: "\(path):\(error.line): invalid TOML: \(error.message)") }
            for (key, value) in (root.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
                let line = reader.marks["/" + key].map { ":\($0.0)" } ?? ""
                let text: String
                switch value {
                case .string(let s): text = s
                case .int(let i): text = String(i)
                case .bool(let b): text = String(b)
                case .array(let items):
                    text = try Self.listText(key, items.map { $0.stringValue }, source: "\(path)\(line)")
                default: throw Problem(description: "\(path)\(line): \(key) must be a string or a number")
                }
                try set(key, text, source: "\(path)\(line)")
            }
            return
        }
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch {
            throw Problem(description: "\(path): \(PipelineConfigLoader.yamlProblem(error, file: path).message)")
        }
        guard let mapping = node?.mapping else {
            if node == nil { return }
            throw Problem(description: "\(path): expected a mapping of settings (key: value)")
        }
        for (k, v) in mapping {
            let line = k.mark.map { ":\($0.line)" } ?? ""
            guard let key = k.scalar?.string else {
                throw Problem(description: "\(path)\(line): each setting must be key: value")
            }
            let value: String
            if let scalar = v.scalar?.string {
                value = scalar
            } else if let sequence = v.sequence {
                // `[a, b]` or a block list, for the settings that are lists.
                value = try Self.listText(key, sequence.map { $0.scalar?.string }, source: "\(path)\(line)")
            } else {
                throw Problem(description: "\(path)\(line): each setting must be key: value (or key: [a, b] for a list)")
            }
            try set(key, value, source: "\(path)\(line)")
        }
    }

    /// A list setting's items as the comma-separated text the environment variable takes; a list
    /// for a setting that is not one, or an item that is not a plain value, is refused.
    static func listText(_ key: String, _ items: [String?], source: String) throws -> String {
        guard let entry = setting(key) else {
            throw Problem(description: "\(source): unknown setting \"\(key)\" (known: \(table.map(\.key).joined(separator: ", ")))")
        }
        guard entry.isList else {
            throw Problem(description: "\(source): \(key) takes one value (\(entry.type)), not a list")
        }
        var out: [String] = []
        for (i, item) in items.enumerated() {
            guard let item, !item.contains(",") else {
                throw Problem(description: "\(source): \(key) item \(i + 1) must be a single value (no commas, lists or mappings)")
            }
            out.append(item)
        }
        return out.joined(separator: ",")
    }

    /// Applies `GOFER_…` environment variables.
    public mutating func load(environment: [String: String]) throws {
        for entry in Self.table {
            if let value = environment[entry.env] { try entry.apply(value, to: &self, source: entry.env) }
        }
    }

    /// Checks settings that depend on each other.
    public func validate() throws {
        if secretStore == "vault" {
            if vaultAddress == nil {
                throw Problem(description: "secret_store is vault but vault_address is not set")
            }
            if vaultToken == nil && (vaultRoleID == nil || vaultSecretID == nil) {
                throw Problem(description: "secret_store is vault: set vault_token, or vault_role_id and vault_secret_id")
            }
        }
        if (tlsCert == nil) != (tlsKey == nil) {
            throw Problem(description: "tls_cert and tls_key go together: set both for HTTPS, or neither")
        }
        for (key, path) in [("tls_cert", tlsCert), ("tls_key", tlsKey)] {
            if let path, !FileManager.default.isReadableFile(atPath: path) {
                throw Problem(description: "\(key): cannot read \(path)")
            }
        }
        if trials.enabled {
            guard scheduler == "docker" || scheduler == "swarm" else {
                throw Problem(
                    description:
                        "public_mode runs strangers' code: it needs the docker or swarm scheduler (containers), not \(scheduler)")
            }
            if let user = taskUser, user == "root" || user == "0" || user.hasPrefix("0:") || user.hasPrefix("root:") {
                throw Problem(description: "public_mode runs tasks as a non-root user: task_user cannot be \(user)")
            }
        }
        if taskTimeoutMin > taskTimeoutMax {
            throw Problem(
                description:
                    "task_timeout_min (\(DurationText.format(taskTimeoutMin))) is longer than task_timeout_max (\(DurationText.format(taskTimeoutMax)))"
            )
        }
    }

    public var engine: EngineSettings {
        var e = EngineSettings()
        e.maxConcurrentTasks = maxConcurrentTasks
        e.runTimeout = runTimeout
        e.defaultTaskTimeout = taskTimeoutMax
        e.stopGrace = stopGrace
        e.maxLogBytes = maxLogBytes
        e.apiURL = taskAPIURL ?? "\(tlsCert == nil ? "http" : "https")://\(listen)"
        e.publicURL = publicURL
        if trials.enabled { e.trialNamespacePrefix = TrialPolicy.namespacePrefix }
        return e
    }
}

/// The Docker engine's own log of a task container. Gofer captures a task's output live either way
/// (attached before the container starts); the engine's copy is what output is recovered from when
/// Gofer restarts while the task runs.
public enum TaskLogDriver: String, CaseIterable, Sendable {
    /// The engine's binary log (rotated, uncompressed): kept, and the fastest that is.
    case local
    /// The engine's JSON-lines log: kept; slower to write than `local` (each line is a JSON object).
    case jsonFile = "json-file"
    /// No engine copy: a task writes at pipe speed, and what it prints while Gofer is down is lost.
    case none
}
