import ExtensionClient
import ExtensionSDK
import Foundation
import GoferHost
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import GoferStore
import TestSupport

/// A real Gofer server (store, scheduler extension, engine, API) in a temporary data directory.
///
/// With `GOFER_TEST_DATABASE=postgres` its database is a fresh one on the PostgreSQL server of
/// `GOFER_TEST_POSTGRES_URL` instead of the embedded file: `.ci/run` runs the host's suites a
/// second time that way. The database outlives ``stop()`` (tests start servers again on the same
/// settings); it goes with the test cluster, which `.ci/run` removes whole.
final class ServerHarness: Sendable {
    let server: GoferServer
    let dir: TemporaryDirectory
    /// The test's own PostgreSQL database, when the suite runs on PostgreSQL.
    let database: (server: PostgresURL, name: String)?

    /// Whether this run keeps the harness's databases on PostgreSQL.
    static var onPostgres: Bool { ProcessInfo.processInfo.environment["GOFER_TEST_DATABASE"] == "postgres" }

    /// `embedded`: the embedded file whatever the run (a test of an embedded installation as such).
    init(scheduler: String = "process", embedded: Bool = false, configure: (inout ServerSettings) -> Void = { _ in }) async throws {
        dir = try TemporaryDirectory()
        var settings = ServerSettings()
        settings.dataDir = dir.path
        settings.scheduler = scheduler
        settings.extensionsDir = BuiltProducts.directory
        settings.listen = "127.0.0.1:0"
        settings.taskTimeoutMin = .seconds(1)
        settings.stopGrace = .seconds(1)
        configure(&settings)
        if Self.onPostgres && !embedded {
            // A harness on the data directory of an earlier one (a restart) finds its database.
            let server = try PostgresURL(ProcessInfo.processInfo.environment["GOFER_TEST_POSTGRES_URL"] ?? "")
            let file = settings.dataDir + "/test-database"
            let name =
                (try? String(contentsOfFile: file, encoding: .utf8))
                ?? "gofer_host_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20)
            try await PostgresBackend.createDatabase(name, at: server)
            try FileManager.default.createDirectory(atPath: settings.dataDir, withIntermediateDirectories: true)
            try name.write(toFile: file, atomically: true, encoding: .utf8)
            settings.databaseURL = "postgres://\(server.user)@\(server.host):\(server.port)/\(name)?sslmode=disable&pool=2"
            database = (server, name)
        } else {
            database = nil
        }
        server = try await GoferServer(settings: settings)
    }

    /// The admin token the server wrote on its first start.
    var adminToken: String {
        ((try? String(contentsOfFile: AdminBootstrap.tokenFile(dataDir: dir.path), encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// An API client of the live server (after `startHTTP`), with the admin token unless told otherwise.
    func client(port: Int, token: String? = nil) throws -> APIClient {
        try APIClient(address: "127.0.0.1:\(port)", token: token ?? adminToken)
    }

    /// The router, driven in-process, with `token` (default: the admin token) on every request.
    func withRouter(token: String? = nil, _ body: @Sendable (AuthorizedClient) async throws -> Void) async throws {
        let app = Application(router: server.api.router())
        let token = token ?? adminToken
        try await app.test(.router) { client in try await body(AuthorizedClient(base: client, token: token.isEmpty ? nil : token)) }
    }

    /// Makes a token with these roles (through the store, as `gofer token create` would) and returns its secret.
    func makeToken(_ name: String, roles: [String], namespaces: [String] = ["*"]) async throws -> String {
        let secret = TokenSecret.generate()
        try await server.store.createToken(
            APIToken(
                id: "tok_" + name.filter { $0.isLetter || $0.isNumber }.lowercased(), name: name, kind: .user, roles: roles,
                namespaces: namespaces, createdAt: Date()),
            hash: secret.hash)
        return secret.text
    }

    func apply(_ yaml: String, namespace: String = "default") async throws -> ApplyResult {
        let config = try server.api.loader.load(yaml, file: "test.yaml")
        return try await server.store.apply(namespace: namespace, config: config)
    }

    func runToEnd(_ pipeline: String, namespace: String = "default") async throws -> (Run, [TaskExecution]) {
        let run = try await server.engine.startRun(namespace: namespace, pipeline: pipeline, initiator: .system)
        let done = try await server.engine.waitForRun(namespace: namespace, pipeline: pipeline, run: run.id)
        return (done, try await server.store.tasks(namespace: namespace, pipeline: pipeline, run: run.id))
    }

    func log(_ pipeline: String, run: Int, task: String, namespace: String = "default") -> String {
        let path = LogFiles(root: dir.path + "/logs").path(namespace: namespace, pipeline: pipeline, run: run, task: task)
        return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    func stop() async { await server.stop() }
}

/// A HummingbirdTesting client that sends `Authorization: Bearer <token>` with every request
/// (unless the request sets its own).
struct AuthorizedClient: Sendable {
    let base: any TestClientProtocol
    let token: String?

    func execute(uri: String, method: HTTPRequest.Method, headers: HTTPFields = [:], body: ByteBuffer? = nil) async throws -> TestResponse {
        var h = headers
        if let token, h[.authorization] == nil { h[.authorization] = "Bearer \(token)" }
        return try await base.execute(uri: uri, method: method, headers: h, body: body)
    }
}
