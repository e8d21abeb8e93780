import ArgumentParser
import ExtensionSDK
import Foundation
import GoferHost

/// Options every client command takes. The server is found by `--host`, then `GOFER_HOST`, then
/// `GOFER_API_URL` (what a task is given), then the CLI config file (`~/.gofer/cli.json`), then
/// 127.0.0.1:8080; the namespace likewise. The token: `--token`, then `GOFER_TOKEN`, then
/// `GOFER_API_TOKEN` (a task's run token), then the CLI config (`gofer login`), then — for a server
/// on this machine — the first admin token the server wrote to its data directory, if readable.
/// So inside a task (the `gofer-cli` image) the CLI talks to the server that runs it, as the run.
struct ClientOptions: ParsableArguments {
    @Option(help: "Gofer server address (host:port). Default: GOFER_HOST, GOFER_API_URL (in a task), the CLI config, or 127.0.0.1:8080.")
    var host: String?

    @Option(help: "API token. Default: GOFER_TOKEN, GOFER_API_TOKEN (a task's run token), the CLI config (gofer login), or a local server's admin-token file.")
    var token: String?

    @Option(help: "For an https:// server: PEM file of the CA that signed its certificate. Default: GOFER_CA_CERT, the CLI config, or the system's CAs.")
    var caCert: String?

    @Option(name: [.short, .long], help: "Namespace. Default: GOFER_NAMESPACE, the CLI config (`gofer namespace set`), or default.")
    var namespace: String?

    @Flag(help: "Print JSON instead of tables.")
    var json = false

    var address: String {
        let env = ProcessInfo.processInfo.environment
        return host ?? env["GOFER_HOST"] ?? env["GOFER_API_URL"] ?? CLIConfig.load().host ?? "127.0.0.1:8080"
    }

    var client: APIClient {
        get throws {
            let ca = caCert ?? ProcessInfo.processInfo.environment["GOFER_CA_CERT"] ?? CLIConfig.load().caCert
            do { return try APIClient(address: address, token: resolvedToken, caCertificate: ca) } catch let e as APIError {
                throw ValidationError(e.message)
            }
        }
    }

    var resolvedToken: String? {
        let env = ProcessInfo.processInfo.environment
        if let token { return token }
        if let t = env["GOFER_TOKEN"], !t.isEmpty { return t }
        if let t = env["GOFER_API_TOKEN"], !t.isEmpty { return t }
        if let t = CLIConfig.load().token { return t }
        // A server on this machine: its first admin token, if this user may read it.
        let host = URL(string: address.contains("://") ? address : "http://" + address)?.host ?? ""
        if host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]" {
            let dir = env["GOFER_DATA_DIR"].map { ($0 as NSString).expandingTildeInPath } ?? ServerSettings.defaultDataDir
            if let text = try? String(contentsOfFile: AdminBootstrap.tokenFile(dataDir: dir), encoding: .utf8) {
                return text.trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
        return nil
    }

    var ns: String { namespace ?? ProcessInfo.processInfo.environment["GOFER_NAMESPACE"] ?? CLIConfig.load().namespace ?? "default" }
}

/// The CLI's own settings file.
struct CLIConfig: Codable {
    var host: String?
    var namespace: String?
    /// From `gofer login`; the file is kept 0600.
    var token: String?
    /// CA certificate for an https:// server (`gofer login --ca-cert`).
    var caCert: String?

    static var path: String { (ProcessInfo.processInfo.environment["GOFER_CLI_CONFIG"]) ?? ServerSettings.defaultDataDir + "/cli.json" }

    static func load() -> CLIConfig {
        guard let data = FileManager.default.contents(atPath: path), let c = try? JSONDecoder().decode(CLIConfig.self, from: data) else {
            return CLIConfig()
        }
        return c
    }

    func save() throws {
        try FileManager.default.createDirectory(
            atPath: (Self.path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        // It may hold a token: readable by this user only, replaced whole.
        let data = try e.encode(self)
        let tmp = Self.path + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw ValidationError("cannot write \(tmp)")
        }
        chmod(tmp, 0o600)
        guard rename(tmp, Self.path) == 0 else { throw ValidationError("cannot replace \(Self.path): \(String(cString: strerror(errno)))") }
    }
}

/// Paths of the API.
enum Paths {
    static func ns(_ ns: String) -> String { "/api/namespaces/\(APIClient.segment(ns))" }
    static func pipeline(_ ns: String, _ p: String) -> String { self.ns(ns) + "/pipelines/\(APIClient.segment(p))" }
    static func run(_ ns: String, _ p: String, _ r: Int) -> String { pipeline(ns, p) + "/runs/\(r)" }
    static func task(_ ns: String, _ p: String, _ r: Int, _ t: String) -> String { run(ns, p, r) + "/tasks/\(APIClient.segment(t))" }
}

/// Turns API errors into clean CLI failures (message, exit code 1).
func cli<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let e as APIError {
        report(e)
        throw ExitCode.failure
    }
}

/// An API error on stderr: its message and details, as text or (with `--json`) as JSON.
func report(_ e: APIError) {
    if Output.jsonMode { Output.error(e.message, details: e.details) } else { Output.error(e.description) }
}

/// Pagination flags shared by list commands.
struct PageOptions: ParsableArguments {
    @Option(help: "How many items to show (1–1000).") var limit: Int = 20
    @Option(help: "Continue from this cursor (printed after a page).") var cursor: String?

    func query() -> String {
        var q = "?limit=\(limit)"
        if let cursor { q += "&cursor=\(APIClient.segment(cursor))" }
        return q
    }

    func validate() throws {
        guard (1...1000).contains(limit) else { throw ValidationError("--limit must be between 1 and 1000") }
    }
}

func printNextCursor(_ cursor: String?) {
    if let cursor { print(Output.color("more: --cursor \(cursor)", "2")) }
}

/// Starting a server from the CLI (`service start`, `demo`), with its errors said plainly.
enum ServerStartup {
    /// The help of every command's `--scheduler` (service start, demo).
    /// The bundled names come from the bundled registry, so a scheduler added there shows here.
    static let schedulerHelp = ArgumentHelp(
        "Scheduler extension by name: "
            + RegistryIndex.bundled.extensions.filter { $0.kind == .scheduler }.map(\.name).joined(separator: ", ")
            + " (bundled), one installed (`gofer extension list`), or one a configured registry lists (installed when selected).")

    /// Applies settings with `configure`, sets up the process's metrics and traces (Prometheus,
    /// and OTLP when `otlp_endpoint` is set), then starts the server. Bad settings exit 64, a
    /// failed start 1.
    static func start(_ what: String, configure: (inout ServerSettings) throws -> Void) async throws -> (GoferServer, Telemetry) {
        var settings = ServerSettings()
        do {
            try configure(&settings)
        } catch {
            Output.error(ErrorText.describe(error))
            throw ExitCode.validationFailure
        }
        do {
            let telemetry = try Telemetry.bootstrap(otlpEndpoint: settings.otlpEndpoint)
            return (try await GoferServer(settings: settings), telemetry)
        } catch {
            Output.error(ErrorText.wrapping("cannot start \(what)", error))
            throw ExitCode.failure
        }
    }

    /// The scheduler extension's `health` answer: status and detail.
    static func schedulerHealth(_ server: GoferServer) async -> (status: String, detail: String) {
        let health = try? await server.supervisor.call(ProtocolMethod.health.rawValue, timeout: .seconds(10))
        return (health?["status"]?.stringValue ?? "unknown", health?["detail"]?.stringValue ?? "no answer")
    }
}
