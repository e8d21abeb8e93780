import ArgumentParser
import ExtensionSDK
import Foundation
import GoferHost

/// Options every client command takes. The server is found by `--host`, then `GOFER_HOST`, then
/// the CLI config file (`~/.gofer/cli.json`), then 127.0.0.1:8080; the namespace likewise.
struct ClientOptions: ParsableArguments {
    @Option(help: "Gofer server address (host:port). Default: GOFER_HOST, the CLI config, or 127.0.0.1:8080.")
    var host: String?

    @Option(name: [.short, .long], help: "Namespace. Default: GOFER_NAMESPACE, the CLI config (`gofer namespace set`), or default.")
    var namespace: String?

    @Flag(help: "Print JSON instead of tables.")
    var json = false

    var client: APIClient {
        get throws {
            let address = host ?? ProcessInfo.processInfo.environment["GOFER_HOST"] ?? CLIConfig.load().host ?? "127.0.0.1:8080"
            do { return try APIClient(address: address) } catch let e as APIError { throw ValidationError(e.message) }
        }
    }

    var ns: String { namespace ?? ProcessInfo.processInfo.environment["GOFER_NAMESPACE"] ?? CLIConfig.load().namespace ?? "default" }
}

/// The CLI's own settings file.
struct CLIConfig: Codable {
    var host: String?
    var namespace: String?

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
        try e.encode(self).write(to: URL(fileURLWithPath: Self.path))
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
        Output.error(e.description)
        throw ExitCode.failure
    }
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
    /// Applies settings with `configure`, then starts the server. Bad settings exit 64, a failed start 1.
    static func start(_ what: String, configure: (inout ServerSettings) throws -> Void) async throws -> GoferServer {
        var settings = ServerSettings()
        do {
            try configure(&settings)
        } catch {
            Output.error("\(error)")
            throw ExitCode.validationFailure
        }
        do {
            return try await GoferServer(settings: settings)
        } catch {
            Output.error("cannot start \(what): \(error)")
            throw ExitCode.failure
        }
    }

    /// The scheduler extension's `health` answer: status and detail.
    static func schedulerHealth(_ server: GoferServer) async -> (status: String, detail: String) {
        let health = try? await server.supervisor.call("health", timeout: .seconds(10))
        return (health?["status"]?.stringValue ?? "unknown", health?["detail"]?.stringValue ?? "no answer")
    }
}
