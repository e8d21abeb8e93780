import ExtensionSDK
import Foundation
import GoferHost
import GoferStore
import TestSupport
import Testing

/// `gofer service migrate`: an embedded installation with runs, logs, versions and
/// tokens, copied into PostgreSQL, is the same installation when the server starts on it.
@Suite(
    .serialized,
    .enabled(
        if: ProcessInfo.processInfo.environment["GOFER_TEST_POSTGRES_URL"] != nil || ProcessInfo.processInfo.environment["GOFER_REQUIRE_POSTGRES"] == "1",
        "needs GOFER_TEST_POSTGRES_URL (or GOFER_REQUIRE_POSTGRES=1)"))
struct MigrationTests {
    static func migrate(_ from: String, _ to: String) async throws -> (ok: Bool, stdout: String, stderr: String) {
        let r = try await ChildProcess.run(
            BuiltProducts.path("gofer"), arguments: ["service", "migrate", "--from", from, "--to", to, "--json"],
            environment: ProcessInfo.processInfo.environment, timeout: .seconds(300))
        return (r.status == .exited(0), String(decoding: r.stdout, as: UTF8.self), String(decoding: r.stderr, as: UTF8.self))
    }

    /// The `table` lines of `--json` output, by table: (rows, copied).
    static func tables(_ out: String) throws -> [String: (rows: Int64, copied: Int64)] {
        var tables: [String: (rows: Int64, copied: Int64)] = [:]
        for line in out.split(separator: "\n") {
            let value = try JSONParser().parse(String(line))
            if let table = value["table"]?.stringValue, case .int(let rows)? = value["rows"], case .int(let copied)? = value["copied"] {
                tables[table] = (rows, copied)
            }
        }
        return tables
    }

    @Test func anEmbeddedInstallationMovesToPostgreSQLWholeAndVerified() async throws {
        let env = ProcessInfo.processInfo.environment
        let server = try PostgresURL(try #require(env["GOFER_TEST_POSTGRES_URL"], "GOFER_TEST_POSTGRES_URL names the test server"))
        let name = "gofer_migrate_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        try await PostgresBackend.createDatabase(name, at: server)
        let url = "postgres://\(server.user)@\(server.host):\(server.port)/\(name)?sslmode=disable"

        // An embedded installation in use: two runs with logs, a second version, a token.
        let h = try await ServerHarness(embedded: true)
        let yaml = "id: app\ntasks:\n  - { id: build, image: none, command: [\"echo\", \"built\"] }\n  - { id: test, image: none, command: [\"echo\", \"tested\"], depends_on: { build: success } }\n"
        _ = try await h.apply(yaml)
        let (first, _) = try await h.runToEnd("app")
        _ = try await h.apply(yaml.replacingOccurrences(of: "tested", with: "tested again"))
        let (second, _) = try await h.runToEnd("app")
        #expect(first.state == .succeeded && second.state == .succeeded)
        let ci = try await h.makeToken("ci", roles: ["admin"])
        let before = try await h.server.store.events(namespace: nil, pipeline: nil, after: 0, limit: 10_000).items

        // Refused while the server runs: a copy would miss what it writes meanwhile.
        let whileUp = try await Self.migrate(h.dir.path, url)
        #expect(!whileUp.ok && (whileUp.stdout + whileUp.stderr).contains("is running on \(h.dir.path)"), "\(whileUp.stdout)\(whileUp.stderr)")
        let settings = h.server.settings
        await h.stop()

        let copy = try await Self.migrate(h.dir.path, url)
        #expect(copy.ok, "\(copy.stdout)\(copy.stderr)")
        let tables = try Self.tables(copy.stdout)
        #expect(tables["runs"]?.rows == 2 && tables["task_executions"]?.rows == 4 && tables["pipeline_versions"]?.rows == 2, "\(tables)")
        #expect(tables["events"]?.rows == Int64(before.count) && tables["tokens"]?.rows == 2, "\(tables)")
        #expect(tables.count >= 18, "every table is reported: \(tables.keys.sorted())")

        // Again: nothing left to copy. And cut short (rows lost on the target): the next run completes it.
        let again = try Self.tables(try await Self.migrate(h.dir.path, url).stdout)
        #expect(again.values.allSatisfy { $0.copied == 0 }, "a finished copy copies nothing again: \(again)")
        var target = server
        target.database = name
        let store = try await SQLStore.open(postgres: target)
        try await store.executeForTesting("DELETE FROM events WHERE id > 3")
        await store.close()
        let resumed = try await Self.migrate(h.dir.path, url)
        let refilled = try Self.tables(resumed.stdout)["events"]?.copied ?? 0
        #expect(resumed.ok && refilled > 0, "\(resumed.stdout)\(resumed.stderr)")

        // The server on PostgreSQL, same data directory: the same runs, logs, versions, token.
        var onPostgres = settings
        onPostgres.databaseURL = url
        let moved = try await GoferServer(settings: onPostgres)
        try await stopping({ await moved.stop() }) {
            let runs = try await moved.store.runs(namespace: "default", pipeline: "app", before: nil, limit: 10).items
            #expect(runs.map(\.id) == [2, 1] && runs.allSatisfy { $0.state == .succeeded })
            #expect(runs.map(\.pipelineVersion) == [2, 1], "each run keeps the version it ran")
            #expect(h.log("app", run: 2, task: "test").contains("tested again"), "logs stay in the data directory")
            let tasks = try await moved.store.tasks(namespace: "default", pipeline: "app", run: 1)
            #expect(tasks.map(\.task) == ["build", "test"], "task order is kept")
            guard case .valid = try await moved.store.token(hash: try TokenSecret(parsing: ci).hash) else {
                Issue.record("the migrated token is not valid")
                return
            }
            // New rows continue after the copied ones.
            let third = try await moved.engine.startRun(namespace: "default", pipeline: "app", initiator: .system)
            #expect(third.id == 3)
            let after = try await moved.store.events(namespace: nil, pipeline: nil, after: 0, limit: 10_000).items
            #expect(Set(after.map(\.id)).count == after.count && after.map(\.id).max() ?? 0 > before.map(\.id).max() ?? 0)
            _ = try await moved.engine.waitForRun(namespace: "default", pipeline: "app", run: 3)
        }
        try await PostgresBackend.dropDatabase(name, at: server)
    }
}
