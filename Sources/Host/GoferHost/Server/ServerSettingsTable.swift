import ExtensionSDK
import Foundation
import GoferStore

/// Every server setting, each declared once: its file key (the `GOFER_…` variable derives from it),
/// its command-line flag, how docs/server-config.md documents it, and how a value is read into
/// ``ServerSettings`` — checked, with an error naming the source. The documentation's table is
/// generated from this list (`ServerSettingsTests` fails when they differ and says how to refresh it).
///
/// Adding a setting: a property in ``ServerSettings`` (its default) and one entry here.
extension ServerSettings {
    public static let table: [ServerSetting] = [
        ServerSetting(
            "listen", flag: "--listen", type: "host:port", default: "`127.0.0.1:8080`",
            doc: "Address of the REST API.",
            read: .custom { s, key, value, source in
                guard case .tcp = HTTPEndpoint(value) else { throw fail(source, "listen \"\(value)\" must be host:port, e.g. 127.0.0.1:8080") }
                s.listen = value
            }),
        ServerSetting(
            "data_dir", flag: "--data-dir", type: "path", default: "`~/.gofer`",
            doc: "SQLite database (`gofer.sqlite`, WAL), task logs (`logs/`), extension state (`extensions/`).",
            read: .path(\.dataDir)),
        ServerSetting(
            "database_url", flag: "--database-url", type: "url (may hold a password)", default: "none: `DATA_DIR/gofer.sqlite`",
            doc: "Keep the database on a PostgreSQL server instead of the embedded SQLite file: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`, with `?sslmode=disable` (the default for a loopback host or a Unix socket directory as HOST, percent-encoded), `prefer` or `require` (the default elsewhere; the server's certificate is verified against the system's roots) and `&pool=N` (connections kept, 1–64, default 8). The database must exist; the server creates its tables on first start. Every write takes one advisory lock, so writes are serialized as SQLite's are. The data directory still holds task logs, objects, keys and extension state. See [cluster.md](cluster.md).",
            read: .custom { s, _, value, source in
                do {
                    _ = try PostgresURL(value)
                } catch {
                    throw fail(source, "database_url: \(ErrorText.describe(error))")
                }
                s.databaseURL = value
            }),
        ServerSetting(
            "scheduler", flag: "--scheduler", type: "string", default: "`docker`",
            doc: "The scheduler extension, by name: `docker` (the engine next to the server), `swarm` (a Docker Swarm's nodes), `nomad` (a Nomad cluster), `process` (runs commands on the host, no isolation — tests and benchmarks only), an installed scheduler, or one a configured registry (`registries`) lists — it is installed at start, checked as `gofer extension install` checks it, so selecting a registry's scheduler takes one start; see [schedulers.md](schedulers.md). The same holds for `secret_store`. **Switching** with runs in progress is refused at start: their tasks live on the old scheduler, so start with it until they have finished or been cancelled (drain), then switch.",
            read: .custom { s, key, value, source in
                guard PipelineConfigLoader.isIdentifier(value) else {
                    throw fail(source, "scheduler \"\(value)\" must be the name of a scheduler extension (docker, process, or one installed)")
                }
                s.scheduler = value
            }),
        ServerSetting(
            "extensions_dir", type: "path", default: "directory of the `gofer` executable",
            doc: "Where bundled extension executables (`gofer-scheduler-docker`, …) are found.",
            read: .optionalPath(\.extensionsDir)),
        ServerSetting(
            "docker_endpoint", type: "url", default: "`unix:///var/run/docker.sock`",
            doc: "Docker Engine API endpoint (API 1.41 or newer).",
            read: .custom { s, key, value, source in
                guard HTTPEndpoint(value) != nil else { throw fail(source, "docker_endpoint \"\(value)\" must be unix:///path or http://host:port") }
                s.dockerEndpoint = value
            }),
        ServerSetting(
            "docker_request_timeout", type: "duration", default: "`3m`",
            doc: "Docker and Swarm schedulers: how long creating or starting a task's container (or service) waits for the engine's answer. A busy engine that answers later has usually done it: the scheduler then finds the container by its task execution and carries on — the task is delayed, not failed, and never started twice. A start that fails for good removes what it created.",
            read: .duration(\.dockerRequestTimeout, atLeast: .seconds(1))),
        ServerSetting(
            "task_timeout_min", type: "duration", default: "`5m`",
            doc: "Shortest `timeout` a task may set.",
            read: .duration(\.taskTimeoutMin)),
        ServerSetting(
            "task_timeout_max", type: "duration", default: "`8h`",
            doc: "Longest `timeout` a task may set; also the timeout of tasks that set none.",
            read: .duration(\.taskTimeoutMax)),
        ServerSetting(
            "run_timeout", type: "duration", default: "`24h`",
            doc: "Longest a whole run may take; past it the run is stopped and fails with `run_timeout`.",
            read: .duration(\.runTimeout)),
        ServerSetting(
            "max_concurrent_tasks", type: "integer ≥ 1", default: "`32`",
            doc: "Task executions running at once across all runs; more wait their turn.",
            read: .wholeNumber(\.maxConcurrentTasks, 1...Int.max)),
        ServerSetting(
            "stop_grace", type: "duration", default: "`10s`",
            doc: "Time between SIGTERM and SIGKILL when a task is stopped (cancel, timeout); at most `1h`.",
            read: .duration(\.stopGrace, atMost: .seconds(3600))),
        ServerSetting(
            "max_log_bytes", type: "size", default: "`64MB`",
            doc: "Output stored per task. Beyond it the log keeps its head, a visible `[gofer: log truncated: …]` marker and the last 1 MiB; memory stays bounded.",
            read: .custom { s, key, value, source in
                guard let mb = PipelineConfigLoader.parseMemory(value), mb >= 1, mb <= 1 << 20 else {
                    throw fail(source, "max_log_bytes \"\(value)\" must be a size from 1MB to 1TiB such as 64MB or 1GB")
                }
                s.maxLogBytes = mb << 20
            }),
        ServerSetting(
            "log_level", type: "string", default: "`info`",
            doc: "`debug`, `info`, `warning` or `error`.",
            read: .custom { s, key, value, source in
                guard ["debug", "info", "warning", "error"].contains(value) else { throw fail(source, "log_level must be debug, info, warning or error") }
                s.logLevel = value
            }),
        ServerSetting(
            "first_start_extensions", type: "list", default: "none",
            doc: "Extensions to install on the first start besides the bundled defaults (docker, embedded-secrets, interval, cron), e.g. `github`. Only extensions shipped with gofer (the built-in registry); a name from another registry is refused at start, naming the shipped ones — install those with `gofer extension install` once the server runs.",
            read: .custom { s, key, value, source in
                let names = listItems(value)
                for n in names where !PipelineConfigLoader.isIdentifier(n) {
                    throw fail(source, "first_start_extensions: \"\(n)\" is not an extension name")
                }
                s.firstStartExtensions = names
            }),
        ServerSetting(
            "registries", type: "list", default: "none",
            doc: "Registry indexes besides the bundled one (file paths or https URLs), comma-separated; see [registry.md](registry.md).",
            read: .list(\.registries)),
        ServerSetting(
            "trigger_interval_min", type: "duration", default: "`1m`",
            doc: "Shortest `every` an interval trigger accepts.",
            read: .duration(\.triggerIntervalMin)),
        ServerSetting(
            "trigger_interval_jitter", type: "duration range", default: "`2m-5m`",
            doc: "Random delay before each interval subscription starts counting after a (re)start, so a restart does not fire every pipeline at once. One duration for a fixed delay; `0s` for none.",
            read: .custom { s, key, value, source in
                let parts = value.split(separator: "-", maxSplits: 1).map(String.init)
                guard !parts.isEmpty, parts.allSatisfy({ DurationText.parse($0) != nil }) else {
                    throw fail(source, "trigger_interval_jitter \"\(value)\" must be a duration or a range such as 2m-5m")
                }
                s.triggerIntervalJitter = value
            }),
        ServerSetting(
            "github_webhook_secret", type: "secret", default: "none",
            doc: "The secret set on the GitHub webhook; deliveries whose `X-Hub-Signature-256` does not match it are refused (401). Without it every delivery is refused (503). Never printed.",
            read: .custom { s, key, value, source in
                guard !value.isEmpty else { throw fail(source, "github_webhook_secret is empty") }
                s.githubWebhookSecret = value
            }),
        ServerSetting(
            "secret_store", type: "string", default: "`embedded`",
            doc: "`embedded` (AES-256-GCM file in the data directory), `vault`, `memory` (tests), `none`, an installed secret store, or one a configured registry lists (installed at start, as for `scheduler`). See [secrets.md](secrets.md). **Switching** away from a store that may hold secrets is refused at start (they would silently become unreachable and runs fail later): start with the old store, or set `secret_store_switch: true` to switch anyway, then store the secrets again in the new one.",
            read: .custom { s, key, value, source in
                guard PipelineConfigLoader.isIdentifier(value) else {
                    throw fail(source, "secret_store \"\(value)\" must be embedded, vault, memory, none, or the name of an installed secret store")
                }
                s.secretStore = value
            }),
        ServerSetting(
            "secret_store_switch", type: "boolean", default: "`false`",
            doc: "Start with a different `secret_store` than last time although the previous one may hold secrets (they stay there, unreachable to this server).",
            read: .boolean(\.secretStoreSwitch)),
        ServerSetting(
            "secret_store_key", type: "secret", default: "created in `DATA_DIR/secrets.key`",
            doc: "The embedded store's key: 32 random bytes, base64. Without it one is created once in `DATA_DIR/secrets.key` (0600) — back it up. Never printed.",
            read: .custom { s, key, value, source in
                guard let raw = Data(base64Encoded: value.trimmingCharacters(in: .whitespacesAndNewlines)), raw.count == 32 else {
                    throw fail(source, "secret_store_key must be 32 random bytes in base64 (head -c 32 /dev/urandom | base64)")
                }
                s.secretStoreKey = value
            }),
        ServerSetting(
            "vault_address", type: "url", default: "none", required: "with `vault`",
            doc: "Vault or OpenBao address.",
            read: .httpAddress(\.vaultAddress)),
        ServerSetting(
            "vault_token", type: "secret", default: "none", required: "`vault`: this or AppRole",
            doc: "A Vault token (renewed automatically).",
            read: .optionalText(\.vaultToken)),
        ServerSetting(
            "vault_role_id", type: "string", default: "none", required: "`vault`: this or a token",
            doc: "AppRole login: the role id (with `vault_secret_id`).",
            read: .optionalText(\.vaultRoleID)),
        ServerSetting(
            "vault_secret_id", type: "secret", default: "none", required: "`vault`: this or a token",
            doc: "AppRole login: the secret id (with `vault_role_id`).",
            read: .optionalText(\.vaultSecretID)),
        ServerSetting(
            "vault_mount", type: "string", default: "`secret`",
            doc: "The KV version 2 mount.",
            read: .text(\.vaultMount)),
        ServerSetting(
            "vault_prefix", type: "string", default: "`gofer`",
            doc: "The path under the mount that Gofer owns.",
            read: .text(\.vaultPrefix)),
        ServerSetting(
            "vault_namespace", type: "string", default: "none",
            doc: "Vault namespace (`X-Vault-Namespace`).",
            read: .optionalText(\.vaultNamespace)),
        ServerSetting(
            "secret_cleanup", type: "boolean", default: "`true`",
            doc: "Delete a pipeline's secrets when the pipeline or its namespace is deleted.",
            read: .boolean(\.secretCleanup)),
        ServerSetting(
            "object_max_size", type: "size", default: "`4GiB`",
            doc: "The largest single object.",
            read: .objectBytes(\.objectLimits.maxObjectBytes)),
        ServerSetting(
            "pipeline_objects_max_count", type: "integer", default: "`100`",
            doc: "Objects kept per pipeline; past it the oldest is evicted (an `object_evicted` event).",
            read: .wholeNumber(\.objectLimits.pipelineMaxCount, 1...1_000_000)),
        ServerSetting(
            "pipeline_objects_max_size", type: "size", default: "`10GiB`",
            doc: "Bytes of objects kept per pipeline; past it the oldest are evicted.",
            read: .objectBytes(\.objectLimits.pipelineMaxBytes)),
        ServerSetting(
            "run_objects_max_size", type: "size", default: "`10GiB`",
            doc: "Bytes of objects one run may hold; an upload past it is refused (413).",
            read: .objectBytes(\.objectLimits.runMaxBytes)),
        ServerSetting(
            "run_objects_keep_runs", type: "integer", default: "`10`",
            doc: "A run's objects expire once the pipeline has this many newer runs (an `object_expired` event each).",
            read: .wholeNumber(\.objectLimits.runKeepRuns, 1...1_000_000)),
        ServerSetting(
            "extension_objects_max_size", type: "size", default: "`1GiB`",
            doc: "Bytes of objects one extension may hold.",
            read: .objectBytes(\.objectLimits.extensionMaxBytes)),
        ServerSetting(
            "object_cleanup", type: "boolean", default: "`true`",
            doc: "Delete a pipeline's objects when the pipeline or its namespace is deleted.",
            read: .boolean(\.objectCleanup)),
        ServerSetting(
            "task_attach", type: "boolean", default: "`true`",
            doc: "Allow `gofer task attach` (a shell inside a running task, for tokens with `attach:write`). `false`: the route is gone, the scheduler is never asked, and clients are told attach is turned off.",
            read: .boolean(\.taskAttach)),
        ServerSetting(
            "external_max_body_bytes", type: "size", default: "`2MB`",
            doc: "Largest body `POST /api/external/{trigger}` accepts; bigger ones get 413 before any trigger sees them. A forwarded request travels to the trigger in one protocol frame (4 MiB, base64), so about 3 MB is the ceiling whatever this says; GitHub push payloads are typically a few KB (GitHub caps them at 25 MB and then sends none).",
            read: .custom { s, key, value, source in
                guard let mb = PipelineConfigLoader.parseMemory(value), mb >= 1, mb <= 1024 else {
                    throw fail(source, "external_max_body_bytes \"\(value)\" must be a size from 1MB to 1GB such as 2MB")
                }
                s.externalMaxBodyBytes = mb << 20
            }),
        ServerSetting(
            "rate_limit_public", type: "rate", default: "`300/1m`",
            doc: "Requests to the routes that need no token (`/api/health`, `/api/external/*`) per client address, in bursts of up to the count; over it: 429 with `Retry-After`.",
            read: .rate(\.rateLimitPublic, example: "300/1m")),
        ServerSetting(
            "rate_limit_auth_failures", type: "rate", default: "`30/1m`",
            doc: "Failed authentications (401) per client address. Over it, every request from that address gets 429 with `Retry-After` — also with a good token — until the bucket refills, so guessing tokens does not pay.",
            read: .rate(\.rateLimitAuthFailures, example: "300/1m")),
        ServerSetting(
            "trusted_proxies", type: "list", default: "none",
            doc: "Reverse proxies (IP addresses or CIDR ranges, comma-separated) whose `X-Forwarded-For` is believed: the client is the right-most address in it that is not a trusted proxy. Without this, `X-Forwarded-For` is ignored.",
            read: .custom { s, key, value, source in
                var list: [CIDR] = []
                for item in listItems(value) {
                    guard let c = CIDR(item) else {
                        throw fail(source, "trusted_proxies: \"\(item)\" is not an IP address or CIDR range such as 10.0.0.0/8")
                    }
                    list.append(c)
                }
                s.trustedProxies = list
            }),
        ServerSetting(
            "otlp_endpoint", type: "url or `off`", default: "`off`",
            doc: "OpenTelemetry: export traces (one trace per run, a span per task execution and per extension call) and metrics over OTLP/HTTP (protobuf) to this collector, e.g. `http://otel-collector:4318`. The standard `OTEL_EXPORTER_OTLP_*`, `OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_BSP_SCHEDULE_DELAY` and `OTEL_RESOURCE_ATTRIBUTES` variables refine it. See [observability.md](observability.md).",
            read: .custom { s, key, value, source in
                if value == "off" || value.isEmpty {
                    s.otlpEndpoint = nil
                    return
                }
                guard value.hasPrefix("http://") || value.hasPrefix("https://"), URL(string: value)?.host != nil else {
                    throw fail(source, "otlp_endpoint \"\(value)\" must be an OTLP/HTTP collector URL such as http://localhost:4318, or off")
                }
                s.otlpEndpoint = value.hasSuffix("/") ? String(value.dropLast()) : value
            }),
        ServerSetting(
            "task_api_url", type: "url", default: "worked out",
            doc: "`GOFER_API_URL` given to tasks. Default: with the docker scheduler, the Docker bridge's gateway (`docker0`, e.g. `http://172.17.0.1:8080`); with the process scheduler, the listen address. Set it when tasks reach the server another way (a DNS name, another network).",
            read: .httpURL(\.taskAPIURL, example: "http://172.17.0.1:8080")),
        ServerSetting(
            "task_listen", type: "`auto`, `off` or host:port", default: "`auto`",
            doc: "An extra address the API listens on so tasks can reach it. `auto`: when the scheduler is docker and `listen` is a loopback address, also listen on the Docker bridge's gateway at the same port (containers cannot reach the host's loopback). Every request there still needs a token.",
            read: .custom { s, key, value, source in
                guard value == "auto" || value == "off" || { if case .tcp = HTTPEndpoint(value) { return true } else { return false } }() else {
                    throw fail(source, "task_listen \"\(value)\" must be auto, off or host:port")
                }
                s.taskListen = value
            }),
        ServerSetting(
            "task_log_max_size", type: "size", default: "`64m`",
            doc: "Docker scheduler: the engine keeps its own log of every task container (`task_log_driver`); it rotates at this size (`k`, `m`, `g`), so a task printing without end cannot fill the engine's disk. Gofer's own copy is capped by `max_log_bytes`.",
            read: .custom { s, key, value, source in
                guard value.range(of: "^[0-9]+[kmg]$", options: .regularExpression) != nil else {
                    throw fail(source, "task_log_max_size \"\(value)\" must be a size such as 64m (k, m or g)")
                }
                s.taskLogMaxSize = value
            }),
        ServerSetting(
            "task_log_max_files", type: "integer ≥ 1", default: "`2`",
            doc: "Docker scheduler: rotated engine log files kept per task container.",
            read: .wholeNumber(\.taskLogMaxFiles, 1...Int.max)),
        ServerSetting(
            "task_log_driver", type: TaskLogDriver.allCases.map { "`\($0.rawValue)`" }.joined(separator: ", "), default: "`local`",
            doc: "Docker scheduler: the engine's own log of a task container. Gofer captures output live either way (attached to the container before it starts); `local` and `json-file` also keep the engine's rotated copy, from which output is recovered after Gofer restarts mid-task — `local` (the engine's binary format, uncompressed) writes it about 1.3× faster than `json-file`. `none` is fastest (a task writes at pipe speed), but what a task prints while Gofer is down is lost and the log says so.",
            read: .custom { s, key, value, source in
                guard let driver = TaskLogDriver(rawValue: value) else {
                    throw fail(
                        source, "task_log_driver \"\(value)\" must be one of \(TaskLogDriver.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                s.taskLogDriver = driver
            }),
        ServerSetting(
            "task_pids_limit", type: "integer ≥ 16", default: "`4096`",
            doc: "Docker scheduler: processes a task container may have at once (a fork bomb stops there).",
            read: .wholeNumber(\.taskPidsLimit, 16...Int.max)),
        ServerSetting(
            "task_memory_default", type: "size", default: "`4GiB`",
            doc: "Docker scheduler: memory limit of tasks that set no `memory`; `0` for none.",
            read: .custom { s, key, value, source in
                if value == "0" {
                    s.taskMemoryDefaultMB = 0
                    return
                }
                guard let mb = PipelineConfigLoader.parseMemory(value), mb >= 4, mb <= TaskResourceLimits.maxMemoryMBSetting else {
                    throw fail(source, "task_memory_default \"\(value)\" must be a size from 4MB to 1PiB such as 4GB, or 0 for none")
                }
                s.taskMemoryDefaultMB = mb
            }),
        ServerSetting(
            "task_user", type: "string", default: "the image's",
            doc: "Docker scheduler: run every task container as this user (`1000:1000`, a name) instead of the image's.",
            read: .custom { s, key, value, source in
                guard !value.isEmpty, value.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 }) else {
                    throw fail(source, "task_user \"\(value)\" must be a user name or uid[:gid]")
                }
                s.taskUser = value
            }),
        ServerSetting(
            "http_header_timeout", type: "duration", default: "`10s`",
            doc: "A new connection that has not sent a whole request head within this is closed (slowloris).",
            read: .duration(\.connectionLimits.headerTimeout)),
        ServerSetting(
            "http_idle_timeout", type: "duration", default: "`60s`",
            doc: "A kept-alive connection with no request in progress is closed after this.",
            read: .duration(\.connectionLimits.idleTimeout)),
        ServerSetting(
            "http_body_timeout", type: "duration", default: "`60s`",
            doc: "The longest pause while a request body is read (an upload may take as long as it likes while it keeps sending); past it the connection is closed.",
            read: .duration(\.connectionLimits.bodyTimeout)),
        ServerSetting(
            "http_max_connections_per_address", type: "integer", default: "`256`",
            doc: "Connections one client address may hold open at once; more are closed as they arrive. Addresses in `trusted_proxies` are not limited (put the limit in the proxy). An answer being written — a log follow, an event stream — is never cut by these limits.",
            read: .wholeNumber(\.connectionLimits.maxPerAddress, 1...1_000_000)),
        ServerSetting(
            "task_cpu_max", type: "number", default: "`64`",
            doc: "The most CPUs a task's `cpu` may ask for (0.01 to 4096). A pipeline asking for more is refused at apply, naming the task and this bound, so no scheduler is handed a value it cannot run.",
            read: .custom { s, key, value, source in
                guard let n = Double(value), n.isFinite, n >= TaskResourceLimits.minCPUs, n <= TaskResourceLimits.maxCPUsSetting else {
                    throw fail(source, "task_cpu_max \"\(value)\" must be a number of CPUs from 0.01 to 4096")
                }
                s.taskLimits.maxCPUs = n
            }),
        ServerSetting(
            "public_mode", type: "boolean", default: "`false`",
            doc: "Anyone may get a trial token (`POST /api/trial`) for a fresh namespace, within `trial_budget` and low caps ([security.md](security.md#public-mode)). Needs the docker or swarm scheduler; task containers run as `65534:65534` unless `task_user` names another non-root user.",
            read: .boolean(\.trials.enabled)),
        ServerSetting(
            "trial_budget", type: "duration", default: "`5m`",
            doc: "Public mode: container time one trial token's tasks may use in all.",
            read: .duration(\.trials.budget)),
        ServerSetting(
            "trial_budget_per_address", type: "duration", default: "`5m`",
            doc: "Public mode: container time the trials of one client address may use in all.",
            read: .duration(\.trials.addressBudget)),
        ServerSetting(
            "trial_rate_limit", type: "rate", default: "`3/1h`",
            doc: "Public mode: trial tokens one client address may get.",
            read: .rate(\.trials.issueRate, example: "3/1h")),
        ServerSetting(
            "task_memory_max", type: "size", default: "`256GiB`",
            doc: "The most memory a task's `memory` may ask for (6MB to 1PiB); more is refused at apply, like `task_cpu_max`.",
            read: .custom { s, key, value, source in
                guard let mb = PipelineConfigLoader.parseMemory(value), mb >= TaskResourceLimits.minMemoryMB, mb <= TaskResourceLimits.maxMemoryMBSetting else {
                    throw fail(source, "task_memory_max \"\(value)\" must be a size from 6MB to 1PiB such as 64GB")
                }
                s.taskLimits.maxMemoryMB = mb
            }),
        ServerSetting(
            "swarm_constraints", type: "list", default: "none",
            doc: "Swarm scheduler: placement constraints every task gets (`node.role==worker`, `node.labels.ci==true`), before a task's own `placement`.",
            read: .list(\.swarmConstraints)),
        ServerSetting(
            "placement_timeout", type: "duration", default: "`5m`",
            doc: "Swarm and Nomad schedulers: how long a task may wait for a node that can take it (constraints, resources) before it fails with the scheduler's reason.",
            read: .duration(\.placementTimeout)),
        ServerSetting(
            "nomad_address", type: "url", default: "Nomad's: `http://127.0.0.1:4646`", required: "with `nomad`",
            doc: "Nomad scheduler: the cluster's HTTP API (any server or client agent).",
            read: .httpAddress(\.nomadAddress)),
        ServerSetting(
            "nomad_token", type: "secret", default: "none", required: "with ACLs",
            doc: "Nomad scheduler: ACL token, sent as `X-Nomad-Token`; its policy needs `submit-job`, `read-job`, `read-logs` in the namespace. Never printed.",
            read: .optionalText(\.nomadToken)),
        ServerSetting(
            "nomad_ca_file", type: "path", default: "system CAs", required: "with a private CA",
            doc: "Nomad scheduler: PEM CA certificate that signed the API's HTTPS certificate.",
            read: .optionalPath(\.nomadCAFile)),
        ServerSetting(
            "nomad_namespace", type: "string", default: "Nomad's: `default`",
            doc: "Nomad scheduler: namespace of Gofer's jobs.",
            read: .optionalText(\.nomadNamespace)),
        ServerSetting(
            "nomad_region", type: "string", default: "the agent's",
            doc: "Nomad scheduler: region of Gofer's jobs.",
            read: .optionalText(\.nomadRegion)),
        ServerSetting(
            "nomad_datacenters", type: "list", default: "all (`*`)",
            doc: "Nomad scheduler: datacenters tasks may run in (a task's `placement.datacenters` replaces it).",
            read: .list(\.nomadDatacenters)),
        ServerSetting(
            "tls_cert", type: "path", default: "none", required: "with `tls_key`",
            doc: "PEM certificate chain. With `tls_key`, the server speaks HTTPS only (on `listen` and `task_listen`). See [security.md](security.md).",
            read: .optionalPath(\.tlsCert)),
        ServerSetting(
            "tls_key", type: "path", default: "none", required: "with `tls_cert`",
            doc: "PEM private key of `tls_cert`.",
            read: .optionalPath(\.tlsKey)),
        ServerSetting(
            "public_url", type: "url", default: "none",
            doc: "Where people reach this server (`https://ci.example.com`). Runs then get a link, `PUBLIC_URL/ui/namespaces/NS/pipelines/P/runs/N` (the web UI's run page, [docs/web-ui.md](web-ui.md)) — `GOFER_RUN_URL` for tasks, the target URL of GitHub commit statuses, the link in alerts.",
            read: .httpURL(\.publicURL, example: "https://ci.example.com")),
        ServerSetting(
            "default_task_image", type: "string", default: "`busybox:latest`",
            doc: "The image of tasks that give only `run: \"make test\"` (a shell command).",
            read: .custom { s, key, value, source in
                guard !value.isEmpty, value.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 }) else {
                    throw fail(source, "default_task_image \"\(value)\" must be an image reference such as debian:stable-slim")
                }
                s.defaultTaskImage = value
            }),
        ServerSetting(
            "keep_versions", type: "integer 1–100000", default: "`100`",
            doc: "Versions kept per pipeline. After an apply, rollback or rollout, the oldest beyond this are deleted — never the live one, the one live before it (the default rollback target), a rollout's canary and base, or a version a run in progress uses. A pipeline's own `keep_versions` overrides it. See [pipelines.md](pipelines.md#versions-rollback-and-canary-rollouts).",
            read: .wholeNumber(\.keepVersions, 1...100_000)),
    ]
}
