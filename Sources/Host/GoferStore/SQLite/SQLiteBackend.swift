import Foundation
import GoferModel
import GRDB

/// The embedded backend: one SQLite file in WAL mode, through GRDB (one writer, concurrent readers).
package final class SQLiteBackend: SQLBackend {
    package let pool: DatabasePool
    package var dialect: SQLDialect { .sqlite }
    package var location: String { pool.path }

    /// Opens (and migrates) the database at `path`.
    package init(path: String) throws {
        var config = Configuration()
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        config.busyMode = .timeout(10)
        pool = try DatabasePool(path: path, configuration: config)
        try Self.migrator.migrate(pool)
        // Migrations may have removed secrets from rows (v7): fold the WAL into the database so no
        // copy of the old pages stays behind in it.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
    }

    package func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        try await pool.read { db in try body(Database(SQLiteConnection(db))) }
    }

    /// A full disk or an I/O error rolls the whole transaction back (SQLite guarantees it) and
    /// comes out as a ``StoreError`` that says so.
    package func write<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do {
            return try await pool.write { db in try body(Database(SQLiteConnection(db))) }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_FULL {
            throw StoreError.storageFull(path: pool.path)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_IOERR {
            throw StoreError.storageFailed(path: pool.path, detail: error.message ?? "I/O error")
        }
    }

    /// A write transaction run on the calling thread (opening the store, before anything is async).
    package func writeNow<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.write { db in try body(Database(SQLiteConnection(db))) }
    }

    /// Caps the database at `pages` pages, as a full disk would.
    package func limitPages(_ pages: Int) async throws {
        try await pool.write { db in _ = try GRDB.Row.fetchOne(db, sql: "PRAGMA max_page_count = \(pages)") }
    }

    /// The database's size in pages.
    package func pageCount() async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0 }
    }

    package func integrityCheck() async throws -> String {
        try await pool.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "" }
    }

    /// The data directory's lock (one server per directory) covers the file.
    package func claimInstallation() async throws {}

    package func close() async {}
}

/// A GRDB connection as the store's SQL sees it.
package struct SQLiteConnection: SQLConnection {
    let db: GRDB.Database

    package init(_ db: GRDB.Database) { self.db = db }

    package var dialect: SQLDialect { .sqlite }

    package func execute(_ sql: String, _ arguments: [SQLValue], cached: Bool) throws {
        if cached {
            try db.cachedStatement(sql: sql).execute(arguments: Self.arguments(arguments))
        } else {
            try db.execute(sql: sql, arguments: Self.arguments(arguments))
        }
    }

    package func rows(_ sql: String, _ arguments: [SQLValue], cached: Bool) throws -> [Row] {
        let rows =
            cached
            ? try GRDB.Row.fetchAll(db.cachedStatement(sql: sql), arguments: Self.arguments(arguments))
            : try GRDB.Row.fetchAll(db, sql: sql, arguments: Self.arguments(arguments))
        return rows.map { Row(SQLiteRow(row: $0)) }
    }

    package func insertReturningID(_ sql: String, _ arguments: [SQLValue]) throws -> Int64 {
        try db.cachedStatement(sql: sql).execute(arguments: Self.arguments(arguments))
        return db.lastInsertedRowID
    }

    static func arguments(_ values: [SQLValue]) -> GRDB.StatementArguments {
        GRDB.StatementArguments(
            values.map { value -> DatabaseValue in
                switch value {
                case .null: .null
                case .integer(let v): v.databaseValue
                case .real(let v): v.databaseValue
                case .text(let v): v.databaseValue
                case .blob(let v): v.databaseValue
                // GRDB's own text form, so rows written before and after compare and sort alike.
                case .date(let v): v.databaseValue
                }
            })
    }
}

/// A GRDB row's columns, decoded the way GRDB decodes them (a failed conversion is nil, never a trap).
struct SQLiteRow: RowStorage {
    let row: GRDB.Row

    func value(_ column: RowColumn) -> DatabaseValue? {
        switch column {
        case .index(let i): i >= 0 && i < row.count ? row[i] : nil
        case .name(let name): row[name]
        }
    }
    func int64(_ column: RowColumn) -> Int64? { value(column).flatMap(Int64.fromDatabaseValue) }
    func double(_ column: RowColumn) -> Double? { value(column).flatMap(Double.fromDatabaseValue) }
    func string(_ column: RowColumn) -> String? { value(column).flatMap(String.fromDatabaseValue) }
    func data(_ column: RowColumn) -> Data? { value(column).flatMap(Data.fromDatabaseValue) }
    func date(_ column: RowColumn) -> Date? { value(column).flatMap(Date.fromDatabaseValue) }
}
