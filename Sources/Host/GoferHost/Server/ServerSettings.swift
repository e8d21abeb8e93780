import ExtensionSDK
import Foundation
import Yams

/// Server settings: defaults, then a config file (YAML), then `GOFER_…` environment variables,
/// then command-line flags. Documented in docs/server-config.md.
public struct ServerSettings: Sendable, Equatable {
    public var listen = "127.0.0.1:8080"
    public var dataDir = ServerSettings.defaultDataDir
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
    /// The engine's own log of a task container: `json-file` (kept; output is recovered after a
    /// restart) or `none` (fastest; Gofer's live capture is the only copy).
    public var taskLogDriver = "json-file"
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

    /// Every setting: (file key, env var, type, default, description). docs/server-config.md mirrors this.
    public static let keys: [(key: String, env: String, type: String, defaultValue: String, required: Bool, summary: String)] = [
        ("listen", "GOFER_LISTEN", "host:port", "127.0.0.1:8080", false, "Address of the REST API."),
        ("data_dir", "GOFER_DATA_DIR", "path", "~/.gofer", false, "SQLite database, task logs and extension state."),
        (
            "scheduler", "GOFER_SCHEDULER", "string", "docker", false,
            "Scheduler extension by name: docker, swarm, nomad, process (runs commands on the host; tests only), or any installed scheduler."
        ),
        (
            "extensions_dir", "GOFER_EXTENSIONS_DIR", "path", "directory of the gofer executable", false,
            "Where bundled extension executables are found."
        ),
        ("docker_endpoint", "GOFER_DOCKER_ENDPOINT", "url", "unix:///var/run/docker.sock", false, "Docker Engine API endpoint."),
        (
            "docker_request_timeout", "GOFER_DOCKER_REQUEST_TIMEOUT", "duration", "3m", false,
            "Docker and Swarm schedulers: how long creating or starting a task's container waits for a busy engine's answer; one that answers later has often done it, and the scheduler then finds the container and carries on."
        ),
        ("task_timeout_min", "GOFER_TASK_TIMEOUT_MIN", "duration", "5m", false, "Shortest timeout a task may set."),
        (
            "task_timeout_max", "GOFER_TASK_TIMEOUT_MAX", "duration", "8h", false,
            "Longest timeout a task may set; also the timeout of tasks that set none."
        ),
        ("run_timeout", "GOFER_RUN_TIMEOUT", "duration", "24h", false, "Longest a whole run may take."),
        ("max_concurrent_tasks", "GOFER_MAX_CONCURRENT_TASKS", "integer", "32", false, "Task executions running at once across all runs."),
        ("stop_grace", "GOFER_STOP_GRACE", "duration", "10s", false, "Time between SIGTERM and SIGKILL when a task is stopped."),
        (
            "max_log_bytes", "GOFER_MAX_LOG_BYTES", "size", "64MB", false,
            "Output stored per task; beyond it the head and the last 1 MiB are kept, with a marker."
        ),
        ("log_level", "GOFER_LOG_LEVEL", "string", "info", false, "debug, info, warning or error."),
        (
            "first_start_extensions", "GOFER_FIRST_START_EXTENSIONS", "list", "none", false,
            "Extensions to install on the first start besides the bundled defaults (e.g. github)."
        ),
        ("registries", "GOFER_REGISTRIES", "list", "none", false, "Extra registry indexes (paths or https URLs), comma-separated."),
        ("trigger_interval_min", "GOFER_TRIGGER_INTERVAL_MIN", "duration", "1m", false, "Shortest interval an interval trigger accepts."),
        (
            "trigger_interval_jitter", "GOFER_TRIGGER_INTERVAL_JITTER", "duration range", "2m-5m", false,
            "Random delay before an interval subscription starts counting after a (re)start; 0s for none."
        ),
        (
            "github_webhook_secret", "GOFER_GITHUB_WEBHOOK_SECRET", "secret", "none", false,
            "Secret of the GitHub webhook (verifies X-Hub-Signature-256). Without it, the github trigger refuses every delivery."
        ),
        (
            "external_max_body_bytes", "GOFER_EXTERNAL_MAX_BODY_BYTES", "size", "2MB", false,
            "Largest webhook body accepted (at most about 3 MB fits the protocol's 4 MiB frame)."
        ),
        ("secret_store", "GOFER_SECRET_STORE", "string", "embedded", false, "embedded, vault, memory (tests), none, or any installed secret store."),
        (
            "secret_store_switch", "GOFER_SECRET_STORE_SWITCH", "boolean", "false", false,
            "Start with another secret store although secrets are stored in the previous one."
        ),
        (
            "secret_store_key", "GOFER_SECRET_STORE_KEY", "secret", "DATA_DIR/secrets.key", false,
            "Key of the embedded store: 32 bytes, base64. Without it one is created in DATA_DIR/secrets.key (0600)."
        ),
        ("vault_address", "GOFER_VAULT_ADDRESS", "url", "none", false, "Vault/OpenBao address for secret_store: vault."),
        ("vault_token", "GOFER_VAULT_TOKEN", "secret", "none", false, "Vault token (or vault_role_id + vault_secret_id)."),
        ("vault_role_id", "GOFER_VAULT_ROLE_ID", "string", "none", false, "AppRole role id."),
        ("vault_secret_id", "GOFER_VAULT_SECRET_ID", "secret", "none", false, "AppRole secret id."),
        ("vault_mount", "GOFER_VAULT_MOUNT", "string", "secret", false, "KV v2 mount."),
        ("vault_prefix", "GOFER_VAULT_PREFIX", "string", "gofer", false, "Path under the mount that Gofer owns."),
        ("vault_namespace", "GOFER_VAULT_NAMESPACE", "string", "none", false, "Vault namespace."),
        ("secret_cleanup", "GOFER_SECRET_CLEANUP", "boolean", "true", false, "Delete a pipeline's secrets with the pipeline."),
        ("object_max_size", "GOFER_OBJECT_MAX_SIZE", "size", "4GB", false, "The largest single object."),
        (
            "pipeline_objects_max_count", "GOFER_PIPELINE_OBJECTS_MAX_COUNT", "integer", "100", false,
            "Objects kept per pipeline; past it the oldest is evicted (an object_evicted event)."
        ),
        (
            "pipeline_objects_max_size", "GOFER_PIPELINE_OBJECTS_MAX_SIZE", "size", "10GB", false,
            "Bytes of objects kept per pipeline; past it the oldest are evicted."
        ),
        ("run_objects_max_size", "GOFER_RUN_OBJECTS_MAX_SIZE", "size", "10GB", false, "Bytes of objects one run may hold."),
        (
            "run_objects_keep_runs", "GOFER_RUN_OBJECTS_KEEP_RUNS", "integer", "10", false,
            "A run's objects expire once the pipeline has this many newer runs (an object_expired event each)."
        ),
        ("extension_objects_max_size", "GOFER_EXTENSION_OBJECTS_MAX_SIZE", "size", "1GB", false, "Bytes of objects one extension may hold."),
        ("object_cleanup", "GOFER_OBJECT_CLEANUP", "boolean", "true", false, "Delete a pipeline's objects with the pipeline."),
        (
            "task_attach", "GOFER_TASK_ATTACH", "boolean", "true", false,
            "Allow gofer task attach (a shell in a running task, for tokens with attach:write); false removes the route."
        ),
        (
            "rate_limit_public", "GOFER_RATE_LIMIT_PUBLIC", "rate", "300/1m", false,
            "Requests to the routes that need no token (health, webhooks) per client address; over it: 429 with Retry-After."
        ),
        (
            "rate_limit_auth_failures", "GOFER_RATE_LIMIT_AUTH_FAILURES", "rate", "30/1m", false,
            "Failed authentications per client address; over it every request from that address gets 429 until the bucket refills."
        ),
        (
            "trusted_proxies", "GOFER_TRUSTED_PROXIES", "list", "none", false,
            "Reverse proxies (addresses or CIDR ranges) whose X-Forwarded-For names the client."
        ),
        (
            "otlp_endpoint", "GOFER_OTLP_ENDPOINT", "url | off", "off", false,
            "OpenTelemetry: send traces (one per run) and metrics over OTLP/HTTP to this collector (e.g. http://otel:4318). OTEL_EXPORTER_OTLP_* variables refine it."
        ),
        (
            "task_api_url", "GOFER_TASK_API_URL", "url", "worked out", false,
            "GOFER_API_URL given to tasks. Default: the Docker bridge gateway (docker scheduler) or the listen address (process scheduler)."
        ),
        (
            "task_listen", "GOFER_TASK_LISTEN", "host:port | auto | off", "auto", false,
            "An extra address for tasks to reach the API. auto: the Docker bridge gateway, same port, when listen is loopback."
        ),
        (
            "task_log_max_size", "GOFER_TASK_LOG_MAX_SIZE", "size", "64m", false,
            "Docker scheduler: size at which the engine's own json-file log of a task container rotates."
        ),
        ("task_log_max_files", "GOFER_TASK_LOG_MAX_FILES", "integer", "2", false, "Docker scheduler: rotated engine log files kept per task container."),
        (
            "task_log_driver", "GOFER_TASK_LOG_DRIVER", "json-file|none", "json-file", false,
            "Docker scheduler: the engine's own log of a task container. none is fastest, but output a task prints while Gofer is down is lost."
        ),
        ("task_pids_limit", "GOFER_TASK_PIDS_LIMIT", "integer", "4096", false, "Docker scheduler: processes a task container may have at once."),
        (
            "task_memory_default", "GOFER_TASK_MEMORY_DEFAULT", "size", "4GB", false,
            "Docker scheduler: memory limit of tasks that set no memory; 0 for none."
        ),
        ("task_user", "GOFER_TASK_USER", "string", "the image's", false, "Docker scheduler: run task containers as this user (uid:gid)."),
        (
            "http_header_timeout", "GOFER_HTTP_HEADER_TIMEOUT", "duration", "10s", false,
            "A new connection that has not sent a whole request head within this is closed (slowloris)."
        ),
        ("http_idle_timeout", "GOFER_HTTP_IDLE_TIMEOUT", "duration", "60s", false, "A kept-alive connection with no request in progress is closed after this."),
        (
            "http_body_timeout", "GOFER_HTTP_BODY_TIMEOUT", "duration", "60s", false,
            "The longest pause while a request body is being read; past it the connection is closed."
        ),
        (
            "http_max_connections_per_address", "GOFER_HTTP_MAX_CONNECTIONS_PER_ADDRESS", "integer", "256", false,
            "Connections one client address may hold open at once; more are closed at once. Trusted proxies are not limited."
        ),
        (
            "task_cpu_max", "GOFER_TASK_CPU_MAX", "number", "64", false,
            "The most CPUs a task's cpu may ask for (at most 4096); a pipeline asking for more is refused at apply."
        ),
        (
            "task_memory_max", "GOFER_TASK_MEMORY_MAX", "size", "256GiB", false,
            "The most memory a task's memory may ask for (at most 1PiB); a pipeline asking for more is refused at apply."
        ),
        (
            "public_mode", "GOFER_PUBLIC_MODE", "boolean", "false", false,
            "Anyone may get a trial token (POST /api/trial) for a fresh namespace, within trial_budget and low caps (docs/security.md#public-mode). Needs the docker or swarm scheduler; tasks run as a non-root user."
        ),
        ("trial_budget", "GOFER_TRIAL_BUDGET", "duration", "5m", false, "Public mode: container time one trial token's tasks may use in all."),
        (
            "trial_budget_per_address", "GOFER_TRIAL_BUDGET_PER_ADDRESS", "duration", "5m", false,
            "Public mode: container time the trials of one client address may use in all."
        ),
        ("trial_rate_limit", "GOFER_TRIAL_RATE_LIMIT", "rate", "3/1h", false, "Public mode: trial tokens one client address may get."),
        (
            "swarm_constraints", "GOFER_SWARM_CONSTRAINTS", "list", "none", false,
            "Swarm scheduler: placement constraints every task gets (e.g. node.role==worker), before a task's own placement."
        ),
        (
            "placement_timeout", "GOFER_PLACEMENT_TIMEOUT", "duration", "5m", false,
            "Swarm and Nomad schedulers: how long a task may wait for a node that can take it before it fails."
        ),
        ("nomad_address", "GOFER_NOMAD_ADDRESS", "url", "http://127.0.0.1:4646", false, "Nomad scheduler: the cluster's HTTP API."),
        ("nomad_token", "GOFER_NOMAD_TOKEN", "secret", "none", false, "Nomad scheduler: ACL token (submit-job, read-job, read-logs)."),
        ("nomad_ca_file", "GOFER_NOMAD_CA_FILE", "path", "system CAs", false, "Nomad scheduler: PEM CA of the API's HTTPS certificate."),
        ("nomad_namespace", "GOFER_NOMAD_NAMESPACE", "string", "default", false, "Nomad scheduler: namespace of Gofer's jobs."),
        ("nomad_region", "GOFER_NOMAD_REGION", "string", "the agent's", false, "Nomad scheduler: region of Gofer's jobs."),
        ("nomad_datacenters", "GOFER_NOMAD_DATACENTERS", "list", "*", false, "Nomad scheduler: datacenters tasks may run in."),
        ("tls_cert", "GOFER_TLS_CERT", "path", "none", false, "PEM certificate chain; with tls_key the server speaks HTTPS only."),
        ("tls_key", "GOFER_TLS_KEY", "path", "none", false, "PEM private key for tls_cert."),
        (
            "public_url", "GOFER_PUBLIC_URL", "url", "none", false,
            "Where people reach this server; runs get a link (GOFER_RUN_URL, commit statuses, alerts)."
        ),
        ("default_task_image", "GOFER_DEFAULT_TASK_IMAGE", "string", "busybox:latest", false, "The image of tasks that give only run:."),
        (
            "keep_versions", "GOFER_KEEP_VERSIONS", "integer", "100", false,
            "Versions kept per pipeline; older ones are deleted unless in use. A pipeline's keep_versions overrides it."
        ),
    ]

    /// A problem with a setting, naming its source.
    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    /// Applies one setting from any source; `source` names it in errors (`gofer.yaml:3`, `GOFER_LISTEN`, `--listen`).
    public mutating func set(_ key: String, _ value: String, source: String) throws {
        func duration() throws -> Duration {
            guard let d = DurationText.parse(value), d > .zero else {
                throw Problem(description: "\(source): \(key) \"\(value)\" is not a duration such as 30s, 5m, 8h")
            }
            return d
        }
        switch key {
        case "listen":
            guard case .tcp = HTTPEndpoint(value) else {
                throw Problem(description: "\(source): listen \"\(value)\" must be host:port, e.g. 127.0.0.1:8080")
            }
            listen = value
        case "data_dir": dataDir = (value as NSString).expandingTildeInPath
        case "scheduler":
            guard value.range(of: PipelineConfigLoader.idPattern, options: .regularExpression) != nil else {
                throw Problem(description: "\(source): scheduler \"\(value)\" must be the name of a scheduler extension (docker, process, or one installed)")
            }
            scheduler = value
        case "extensions_dir": extensionsDir = (value as NSString).expandingTildeInPath
        case "docker_endpoint":
            guard HTTPEndpoint(value) != nil else {
                throw Problem(description: "\(source): docker_endpoint \"\(value)\" must be unix:///path or http://host:port")
            }
            dockerEndpoint = value
        case "task_timeout_min": taskTimeoutMin = try duration()
        case "task_timeout_max": taskTimeoutMax = try duration()
        case "run_timeout": runTimeout = try duration()
        case "stop_grace":
            let d = try duration()
            guard d <= .seconds(3600) else { throw Problem(description: "\(source): stop_grace \"\(value)\" must be at most 1h") }
            stopGrace = d
        case "max_concurrent_tasks":
            guard let n = Int(value), n >= 1 else {
                throw Problem(description: "\(source): max_concurrent_tasks \"\(value)\" must be a whole number ≥ 1")
            }
            maxConcurrentTasks = n
        case "max_log_bytes":
            guard let mb = PipelineConfigLoader.parseMemory(value), mb >= 1, mb <= 1 << 20 else {
                throw Problem(description: "\(source): max_log_bytes \"\(value)\" must be a size from 1MB to 1TiB such as 64MB or 1GB")
            }
            maxLogBytes = mb << 20
        case "log_level":
            guard ["debug", "info", "warning", "error"].contains(value) else {
                throw Problem(description: "\(source): log_level must be debug, info, warning or error")
            }
            logLevel = value
        case "first_start_extensions":
            let names = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            for n in names where n.range(of: PipelineConfigLoader.idPattern, options: .regularExpression) == nil {
                throw Problem(description: "\(source): first_start_extensions: \"\(n)\" is not an extension name")
            }
            firstStartExtensions = names
        case "registries":
            registries = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        case "trigger_interval_min": triggerIntervalMin = try duration()
        case "trigger_interval_jitter":
            let parts = value.split(separator: "-", maxSplits: 1).map(String.init)
            guard !parts.isEmpty, parts.allSatisfy({ DurationText.parse($0) != nil }) else {
                throw Problem(description: "\(source): trigger_interval_jitter \"\(value)\" must be a duration or a range such as 2m-5m")
            }
            triggerIntervalJitter = value
        case "github_webhook_secret":
            guard !value.isEmpty else { throw Problem(description: "\(source): github_webhook_secret is empty") }
            githubWebhookSecret = value
        case "secret_store":
            guard value.range(of: PipelineConfigLoader.idPattern, options: .regularExpression) != nil else {
                throw Problem(
                    description: "\(source): secret_store \"\(value)\" must be embedded, vault, memory, none, or the name of an installed secret store")
            }
            secretStore = value
        case "secret_store_switch":
            guard let b = Bool(value) else { throw Problem(description: "\(source): secret_store_switch must be true or false") }
            secretStoreSwitch = b
        case "secret_store_key":
            guard let raw = Data(base64Encoded: value.trimmingCharacters(in: .whitespacesAndNewlines)), raw.count == 32 else {
                throw Problem(
                    description: "\(source): secret_store_key must be 32 random bytes in base64 (head -c 32 /dev/urandom | base64)")
            }
            secretStoreKey = value
        case "vault_address":
            guard value.hasPrefix("http://") || value.hasPrefix("https://") else {
                throw Problem(description: "\(source): vault_address \"\(value)\" must start with https:// (or http://)")
            }
            vaultAddress = value
        case "vault_token": vaultToken = value
        case "vault_role_id": vaultRoleID = value
        case "vault_secret_id": vaultSecretID = value
        case "vault_mount": vaultMount = value
        case "vault_prefix": vaultPrefix = value
        case "vault_namespace": vaultNamespace = value
        case "secret_cleanup", "object_cleanup", "task_attach":
            guard let b = Bool(value.lowercased()) else { throw Problem(description: "\(source): \(key) must be true or false") }
            switch key {
            case "secret_cleanup": secretCleanup = b
            case "object_cleanup": objectCleanup = b
            default: taskAttach = b
            }
        case "object_max_size", "pipeline_objects_max_size", "run_objects_max_size", "extension_objects_max_size":
            guard let mb = PipelineConfigLoader.parseMemory(value), mb >= 1, mb <= 1 << 30 else {
                throw Problem(description: "\(source): \(key) \"\(value)\" must be a size from 1MB to 1PiB such as 512MB or 4GB")
            }
            let bytes = Int64(mb) << 20
            switch key {
            case "object_max_size": objectLimits.maxObjectBytes = bytes
            case "pipeline_objects_max_size": objectLimits.pipelineMaxBytes = bytes
            case "run_objects_max_size": objectLimits.runMaxBytes = bytes
            default: objectLimits.extensionMaxBytes = bytes
            }
        case "pipeline_objects_max_count", "run_objects_keep_runs":
            guard let n = Int(value), n >= 1, n <= 1_000_000 else {
                throw Problem(description: "\(source): \(key) \"\(value)\" must be a whole number from 1 to 1000000")
            }
            if key == "pipeline_objects_max_count" { objectLimits.pipelineMaxCount = n } else { objectLimits.runKeepRuns = n }
        case "rate_limit_public", "rate_limit_auth_failures":
            guard let rate = RateLimit(value) else {
                throw Problem(description: "\(source): \(key) \"\(value)\" must be COUNT/DURATION such as 300/1m")
            }
            if key == "rate_limit_public" { rateLimitPublic = rate } else { rateLimitAuthFailures = rate }
        case "trusted_proxies":
            var list: [CIDR] = []
            for item in value.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
                guard let c = CIDR(item) else {
                    throw Problem(description: "\(source): trusted_proxies: \"\(item)\" is not an IP address or CIDR range such as 10.0.0.0/8")
                }
                list.append(c)
            }
            trustedProxies = list
        case "otlp_endpoint":
            if value == "off" || value.isEmpty {
                otlpEndpoint = nil
                return
            }
            guard value.hasPrefix("http://") || value.hasPrefix("https://"), URL(string: value)?.host != nil else {
                throw Problem(description: "\(source): otlp_endpoint \"\(value)\" must be an OTLP/HTTP collector URL such as http://localhost:4318, or off")
            }
            otlpEndpoint = value.hasSuffix("/") ? String(value.dropLast()) : value
        case "task_api_url":
            guard value.hasPrefix("http://") || value.hasPrefix("https://"), URL(string: value)?.host != nil else {
                throw Problem(description: "\(source): task_api_url \"\(value)\" must be a URL such as http://172.17.0.1:8080")
            }
            taskAPIURL = value.hasSuffix("/") ? String(value.dropLast()) : value
        case "task_listen":
            guard value == "auto" || value == "off" || { if case .tcp = HTTPEndpoint(value) { return true } else { return false } }() else {
                throw Problem(description: "\(source): task_listen \"\(value)\" must be auto, off or host:port")
            }
            taskListen = value
        case "task_log_max_size":
            guard value.range(of: "^[0-9]+[kmg]$", options: .regularExpression) != nil else {
                throw Problem(description: "\(source): task_log_max_size \"\(value)\" must be a size such as 64m (k, m or g)")
            }
            taskLogMaxSize = value
        case "task_log_max_files", "task_pids_limit":
            let minimum = key == "task_pids_limit" ? 16 : 1
            guard let n = Int(value), n >= minimum else {
                throw Problem(description: "\(source): \(key) \"\(value)\" must be a whole number ≥ \(minimum)")
            }
            if key == "task_pids_limit" { taskPidsLimit = n } else { taskLogMaxFiles = n }
        case "task_memory_default":
            if value == "0" {
                taskMemoryDefaultMB = 0
            } else {
                guard let mb = PipelineConfigLoader.parseMemory(value), mb >= 4, mb <= TaskResourceLimits.maxMemoryMBSetting else {
                    throw Problem(description: "\(source): task_memory_default \"\(value)\" must be a size from 4MB to 1PiB such as 4GB, or 0 for none")
                }
                taskMemoryDefaultMB = mb
            }
        case "task_log_driver":
            guard ["json-file", "none"].contains(value) else {
                throw Problem(description: "\(source): task_log_driver \"\(value)\" must be json-file or none")
            }
            taskLogDriver = value
        case "swarm_constraints":
            swarmConstraints = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        case "placement_timeout": placementTimeout = try duration()
        case "docker_request_timeout":
            let d = try duration()
            guard d >= .seconds(1) else { throw Problem(description: "\(source): docker_request_timeout \"\(value)\" must be at least 1s") }
            dockerRequestTimeout = d
        case "nomad_address":
            guard value.hasPrefix("http://") || value.hasPrefix("https://") else {
                throw Problem(description: "\(source): nomad_address \"\(value)\" must start with https:// (or http://)")
            }
            nomadAddress = value
        case "nomad_token": nomadToken = value
        case "nomad_ca_file": nomadCAFile = (value as NSString).expandingTildeInPath
        case "nomad_namespace": nomadNamespace = value
        case "nomad_region": nomadRegion = value
        case "nomad_datacenters":
            nomadDatacenters = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        case "task_user":
            guard !value.isEmpty, value.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 }) else {
                throw Problem(description: "\(source): task_user \"\(value)\" must be a user name or uid[:gid]")
            }
            taskUser = value
        case "http_header_timeout": connectionLimits.headerTimeout = try duration()
        case "http_idle_timeout": connectionLimits.idleTimeout = try duration()
        case "http_body_timeout": connectionLimits.bodyTimeout = try duration()
        case "http_max_connections_per_address":
            guard let n = Int(value), n >= 1, n <= 1_000_000 else {
                throw Problem(description: "\(source): http_max_connections_per_address \"\(value)\" must be a whole number from 1 to 1000000")
            }
            connectionLimits.maxPerAddress = n
        case "public_mode":
            guard let b = Bool(value.lowercased()) else { throw Problem(description: "\(source): public_mode must be true or false") }
            trials.enabled = b
        case "trial_budget": trials.budget = try duration()
        case "trial_budget_per_address": trials.addressBudget = try duration()
        case "trial_rate_limit":
            guard let rate = RateLimit(value) else {
                throw Problem(description: "\(source): trial_rate_limit \"\(value)\" must be COUNT/DURATION such as 3/1h")
            }
            trials.issueRate = rate
        case "task_cpu_max":
            guard let n = Double(value), n.isFinite, n >= TaskResourceLimits.minCPUs, n <= TaskResourceLimits.maxCPUsSetting else {
                throw Problem(description: "\(source): task_cpu_max \"\(value)\" must be a number of CPUs from 0.01 to 4096")
            }
            taskLimits.maxCPUs = n
        case "task_memory_max":
            guard let mb = PipelineConfigLoader.parseMemory(value), mb >= TaskResourceLimits.minMemoryMB, mb <= TaskResourceLimits.maxMemoryMBSetting else {
                throw Problem(description: "\(source): task_memory_max \"\(value)\" must be a size from 6MB to 1PiB such as 64GB")
            }
            taskLimits.maxMemoryMB = mb
        case "public_url":
            guard value.hasPrefix("http://") || value.hasPrefix("https://"), URL(string: value)?.host != nil else {
                throw Problem(description: "\(source): public_url \"\(value)\" must be a URL such as https://ci.example.com")
            }
            publicURL = value.hasSuffix("/") ? String(value.dropLast()) : value
        case "default_task_image":
            guard !value.isEmpty, value.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 }) else {
                throw Problem(description: "\(source): default_task_image \"\(value)\" must be an image reference such as debian:stable-slim")
            }
            defaultTaskImage = value
        case "keep_versions":
            guard let n = Int(value), n >= 1, n <= 100_000 else {
                throw Problem(description: "\(source): keep_versions \"\(value)\" must be a whole number from 1 to 100000")
            }
            keepVersions = n
        case "tls_cert": tlsCert = (value as NSString).expandingTildeInPath
        case "tls_key": tlsKey = (value as NSString).expandingTildeInPath
        case "external_max_body_bytes":
            guard let mb = PipelineConfigLoader.parseMemory(value), mb >= 1, mb <= 1024 else {
                throw Problem(description: "\(source): external_max_body_bytes \"\(value)\" must be a size from 1MB to 1GB such as 2MB")
            }
            externalMaxBodyBytes = mb << 20
        default:
            throw Problem(description: "\(source): unknown setting \"\(key)\" (known: \(Self.keys.map(\.key).joined(separator: ", ")))")
        }
    }

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
        guard let entry = keys.first(where: { $0.key == key }) else {
            throw Problem(description: "\(source): unknown setting \"\(key)\" (known: \(keys.map(\.key).joined(separator: ", ")))")
        }
        guard entry.type == "list" else {
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
        for entry in Self.keys {
            if let value = environment[entry.env] { try set(entry.key, value, source: entry.env) }
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
