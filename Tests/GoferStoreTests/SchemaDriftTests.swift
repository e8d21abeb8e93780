import Foundation
import GoferStore
import Testing

/// The embedded database builds its schema up by migrations; PostgreSQL's is written out whole
/// (`PostgresSchema.swift`). Both must hold the same tables with the same columns, of the same
/// kind and nullability — a column added to one and not the other fails here, not in production.
@Suite(.enabled(if: StoreBackend.enabled.contains(.postgres), "needs GOFER_TEST_POSTGRES_URL (or GOFER_REQUIRE_POSTGRES=1)"))
struct SchemaDriftTests {
    /// `table.column` → `kind, null|not null`.
    typealias Schema = [String: String]

    /// SQLite's declared types and PostgreSQL's `data_type`, as one vocabulary.
    static func kind(_ declared: String) -> String {
        switch declared.lowercased() {
        case "integer", "bigint": "integer"
        case "text": "text"
        case "datetime", "timestamp with time zone": "time"
        case "blob", "bytea": "bytes"
        default: "other: \(declared)"
        }
    }

    /// Bookkeeping of each backend's own (its migrations, SQLite's sequences, the insertion order
    /// PostgreSQL keeps in `rowid` where SQLite has it built in).
    static func isBookkeeping(_ key: String) -> Bool {
        key.hasPrefix("grdb_migrations.") || key.hasPrefix("sqlite_sequence.") || key.hasPrefix("gofer_migrations.")
            || key == "task_executions.rowid" || key == "objects.rowid"
    }

    static func schema(of store: SQLStore) async throws -> Schema {
        try await store.read { db in
            let sql =
                switch db.dialect {
                case .sqlite:
                    """
                    SELECT m.name AS t, p.name AS c, p.type AS k, (p."notnull" OR p.pk > 0) AS nn
                    FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table'
                    """
                case .postgres:
                    """
                    SELECT table_name::text AS t, column_name::text AS c, data_type::text AS k,
                        CASE WHEN is_nullable = 'NO' THEN 1 ELSE 0 END AS nn
                    FROM information_schema.columns WHERE table_schema = 'public'
                    """
                }
            var schema: Schema = [:]
            for row in try Row.fetchAll(db, sql: sql) {
                let t: String = row["t"]
                let c: String = row["c"]
                let k: String = row["k"]
                let notNull: Bool = row["nn"]
                // SQLite lets a TEXT primary key hold NULL; every key column is NOT NULL in PostgreSQL.
                schema["\(t).\(c)"] = "\(kind(k)), \(notNull ? "not null" : "null")"
            }
            return schema.filter { !isBookkeeping($0.key) }
        }
    }

    @Test func bothBackendsHaveTheSameTablesAndColumns() async throws {
        var schemas: [StoreBackend: Schema] = [:]
        for backend in [StoreBackend.sqlite, .postgres] {
            try await backend.scratch { scratch in schemas[backend] = try await Self.schema(of: try await scratch.open()) }
        }
        let sqlite = try #require(schemas[.sqlite])
        let postgres = try #require(schemas[.postgres])
        #expect(sqlite.count > 100, "the schema was read: \(sqlite.count) columns")
        let keys = Set(sqlite.keys).union(postgres.keys).sorted()
        let differ = keys.filter { sqlite[$0] != postgres[$0] }.map { "\($0): sqlite \(sqlite[$0] ?? "missing"), postgres \(postgres[$0] ?? "missing")" }
        #expect(differ.isEmpty, "columns that differ:\n\(differ.joined(separator: "\n"))")
    }
}
