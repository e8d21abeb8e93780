import Foundation
import GoferStore
import Testing

/// A backend of ``Store``, opened empty. Every contract test runs against each enabled case.
///
/// PostgreSQL needs a server: `GOFER_TEST_POSTGRES_URL` names one the tests may create and drop
/// databases on (`.ci/run` starts one with `scripts/test-postgres.sh`). Without it the PostgreSQL
/// case is left out — unless `GOFER_REQUIRE_POSTGRES=1`, when it runs and fails saying what is missing.
enum StoreBackend: String, CaseIterable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    /// The backends this run tests.
    static var enabled: [StoreBackend] {
        let env = ProcessInfo.processInfo.environment
        let postgres = env["GOFER_TEST_POSTGRES_URL"] != nil || env["GOFER_REQUIRE_POSTGRES"] == "1"
        return postgres ? [.sqlite, .postgres] : [.sqlite]
    }

    /// The server the PostgreSQL case creates its databases on.
    static func postgresServer() throws -> PostgresURL {
        guard let text = ProcessInfo.processInfo.environment["GOFER_TEST_POSTGRES_URL"] else {
            throw ScratchStore.Missing(
                description:
                    "GOFER_REQUIRE_POSTGRES=1 but GOFER_TEST_POSTGRES_URL is not set: start a server with `eval \"$(scripts/test-postgres.sh start)\"`")
        }
        return try PostgresURL(text)
    }

    /// Runs `body` with a store of its own — an empty directory (SQLite) or an empty database
    /// (PostgreSQL) — and removes it afterwards, whether `body` passed or threw.
    func scratch(_ body: (ScratchStore) async throws -> Void) async throws {
        let scratch = try await ScratchStore(backend: self)
        do {
            try await body(scratch)
        } catch {
            await scratch.remove()
            throw error
        }
        await scratch.remove()
    }
}

/// One test's store: ``open()`` opens it (again: the same data), ``remove()`` deletes it.
final class ScratchStore: @unchecked Sendable {
    struct Missing: Error, CustomStringConvertible { var description: String }

    let backend: StoreBackend
    let directory: URL
    /// PostgreSQL: the test's database on the test server.
    let database: (server: PostgresURL, name: String)?
    private var opened: [SQLStore] = []

    init(backend: StoreBackend) async throws {
        self.backend = backend
        let id = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("gofer-store-\(id)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        switch backend {
        case .sqlite:
            database = nil
        case .postgres:
            let server = try StoreBackend.postgresServer()
            let name = "gofer_test_\(id.prefix(20))"
            try await PostgresBackend.createDatabase(name, at: server)
            database = (server, name)
        }
    }

    /// The store (a new connection each time; what an earlier one stored is there).
    func open() async throws -> SQLStore {
        let store: SQLStore
        switch backend {
        case .sqlite:
            store = try SQLStore(path: directory.appendingPathComponent("gofer.sqlite").path)
        case .postgres:
            guard let database else { throw Missing(description: "no database") }
            var url = database.server
            url.database = database.name
            url.poolSize = 4
            store = try await SQLStore.open(postgres: url)
        }
        opened.append(store)
        return store
    }

    /// Closes what was opened and deletes the directory and the database.
    func remove() async {
        for store in opened { await store.close() }
        opened = []
        try? FileManager.default.removeItem(at: directory)
        if let database {
            do {
                try await PostgresBackend.dropDatabase(database.name, at: database.server)
            } catch {
                Issue.record("could not drop the test database \(database.name): \(error)")
            }
        }
    }
}
