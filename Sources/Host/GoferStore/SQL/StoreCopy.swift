import Crypto
import Foundation
import GoferModel

/// Copies every table of one store into another — an embedded installation into PostgreSQL
/// (`gofer service migrate`) — and proves the copy: per table, the same number of rows and the
/// same SHA-256 over every row's values, read back from both sides.
///
/// Resumable: each table is copied in batches, one transaction each, as upserts on its primary
/// key, so a copy cut off half-way is finished by running it again; a table whose count and
/// checksum already match is skipped. Nothing is deleted on either side.
package struct StoreCopy: Sendable {
    /// One table's outcome.
    package struct TableResult: Sendable, Equatable {
        package var table: String
        package var rows: Int
        /// Hex SHA-256 over the table's rows (the same on both sides when ``verified``).
        package var checksum: String
        /// Rows written by this copy (0 when the table was already there whole).
        package var copied: Int
    }

    /// The source and target disagree after the copy: what differs, where.
    package struct Mismatch: Error, CustomStringConvertible {
        package var table: String
        package var detail: String
        package var description: String { "table \(table) differs after the copy: \(detail); run the migration again, and if it persists, report it" }
    }

    /// A column and how its values are read and bound.
    struct Column {
        enum Kind { case integer, text, time, bytes, real }
        var name: String
        var kind: Kind
    }

    let source: SQLStore
    let target: SQLStore
    /// Rows per transaction.
    var batchSize = 500

    package init(from source: SQLStore, to target: SQLStore) {
        self.source = source
        self.target = target
    }

    /// The tables, in the order their foreign keys allow (the order the schema creates them).
    static var tables: [String] {
        PostgresSchema.migrations.flatMap(\.statements).compactMap { statement -> String? in
            let words = statement.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "(" })
            guard words.count > 2, words[0] == "CREATE", words[1] == "TABLE" else { return nil }
            return String(words[2])
        }
    }

    /// Copies and verifies every table; `progress` hears of each as it is done.
    package func run(progress: @Sendable (TableResult) -> Void = { _ in }) async throws -> [TableResult] {
        var results: [TableResult] = []
        for table in Self.tables {
            let columns = try await Self.columns(of: table, in: target)
            let keys = try await Self.primaryKey(of: table, in: target)
            let before = try await Self.summary(table, columns, keys, in: source)
            let there = try await Self.summary(table, columns, keys, in: target)
            var copied = 0
            if before != there {
                copied = try await copy(table, columns, keys)
                try await Self.advanceIdentities(table, columns, in: target)
            }
            let after = try await Self.summary(table, columns, keys, in: target)
            guard after == before else {
                throw Mismatch(
                    table: table, detail: "the source has \(before.rows) rows (sha256 \(before.checksum)), the target \(after.rows) (sha256 \(after.checksum))")
            }
            let result = TableResult(table: table, rows: before.rows, checksum: before.checksum, copied: copied)
            progress(result)
            results.append(result)
        }
        return results
    }

    /// Copies `table` in batches (SQLite's `rowid` order: the insertion order, which PostgreSQL's
    /// own `rowid` columns then follow).
    private func copy(_ table: String, _ columns: [Column], _ keys: [String]) async throws -> Int {
        let names = columns.map(\.name)
        let list = names.joined(separator: ", ")
        let updates = names.filter { !keys.contains($0) }.map { "\($0) = excluded.\($0)" }
        let conflict = updates.isEmpty ? "DO NOTHING" : "DO UPDATE SET " + updates.joined(separator: ", ")
        var after: Int64 = 0
        var copied = 0
        while true {
            let batchSize = self.batchSize
            let from = after
            let page = try await source.read { db -> (rows: [[SQLValue]], last: Int64?) in
                let rows = try Row.fetchAll(
                    db, sql: "SELECT rowid AS gofer_rowid, \(list) FROM \(table) WHERE rowid > ? ORDER BY rowid LIMIT ?", arguments: [from, batchSize])
                return (rows.map { row in columns.map { Self.value(row, $0) } }, rows.last.flatMap { $0["gofer_rowid"] })
            }
            guard let last = page.last, !page.rows.isEmpty else { return copied }
            let marks = "(" + Array(repeating: "?", count: columns.count).joined(separator: ", ") + ")"
            let sql =
                "INSERT INTO \(table) (\(list)) VALUES \(Array(repeating: marks, count: page.rows.count).joined(separator: ", ")) ON CONFLICT ON CONSTRAINT \(table)_pkey \(conflict)"
            let values = page.rows.flatMap { $0 }
            try await target.write { db in try db.connection.execute(sql, values, cached: false) }
            copied += page.rows.count
            after = last
        }
    }

    /// Identity columns continue after the highest copied value (the next event gets the next id).
    private static func advanceIdentities(_ table: String, _ columns: [Column], in store: SQLStore) async throws {
        try await store.write { db in
            guard db.dialect == .postgres else { return }
            let identities = try String.fetchAll(
                db, sql: "SELECT column_name::text FROM information_schema.columns WHERE table_schema = 'public' AND table_name = ? AND is_identity = 'YES'",
                arguments: [table])
            for column in identities where columns.contains(where: { $0.name == column }) {
                try db.execute(
                    sql: "SELECT setval(pg_get_serial_sequence('\(table)', '\(column)'), GREATEST(COALESCE((SELECT MAX(\(column)) FROM \(table)), 0), 1))")
            }
        }
    }

    /// A table's columns as PostgreSQL's schema lists them (the same as SQLite's: `SchemaDriftTests`),
    /// without PostgreSQL's own `rowid`, which each side assigns.
    static func columns(of table: String, in store: SQLStore) async throws -> [Column] {
        try await store.read { db in
            try Row.fetchAll(
                db,
                sql:
                    "SELECT column_name::text AS name, data_type::text AS type FROM information_schema.columns WHERE table_schema = 'public' AND table_name = ? ORDER BY ordinal_position",
                arguments: [table]
            ).compactMap { row -> Column? in
                let name: String = row["name"]
                guard name != "rowid" else { return nil }
                let type: String = row["type"]
                let kind: Column.Kind =
                    switch type {
                    case "bigint", "integer": .integer
                    case "timestamp with time zone": .time
                    case "bytea": .bytes
                    case "double precision": .real
                    default: .text
                    }
                return Column(name: name, kind: kind)
            }
        }
    }

    /// The columns of a table's primary key, in key order.
    static func primaryKey(of table: String, in store: SQLStore) async throws -> [String] {
        try await store.read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                    WHERE i.indrelid = CAST(? AS regclass) AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)
                    """, arguments: [table])
        }
    }

    struct Summary: Equatable {
        var rows: Int
        var checksum: String
    }

    /// The number of rows and a SHA-256 over their values in primary-key order, read a page at a
    /// time (`(k1, k2) > (?, ?)`: both dialects compare row values), so a large table is never
    /// held whole in memory.
    static func summary(_ table: String, _ columns: [Column], _ keys: [String], in store: SQLStore, page: Int = 2000) async throws -> Summary {
        var hash = SHA256()
        var count = 0
        let list = columns.map(\.name).joined(separator: ", ")
        let keyColumns = keys.compactMap { key in columns.first { $0.name == key } }
        let keyList = keyColumns.map(\.name).joined(separator: ", ")
        var last: [SQLValue]?
        while true {
            let after = last
            let rows = try await store.read { db -> [[SQLValue]] in
                let condition = after.map { _ in "WHERE (\(keyList)) > (\(keyColumns.map { _ in "?" }.joined(separator: ", ")))" } ?? ""
                return try db.connection.rows(
                    "SELECT \(list) FROM \(table) \(condition) ORDER BY \(keyList) LIMIT \(page)", after ?? [], cached: false
                ).map { row in columns.map { value(row, $0) } }
            }
            for row in rows {
                count += 1
                for v in row { hash.update(data: canonical(v)) }
                hash.update(data: Data([0x1E]))
            }
            guard rows.count == page, let lastRow = rows.last else { break }
            last = keyColumns.compactMap { key in columns.firstIndex { $0.name == key.name }.map { lastRow[$0] } }
        }
        return Summary(rows: count, checksum: hash.finalize().map { String(format: "%02x", $0) }.joined())
    }

    /// A column's value as the target binds it.
    static func value(_ row: Row, _ column: Column) -> SQLValue {
        switch column.kind {
        case .integer: (row[column.name] as Int64?).map(SQLValue.integer) ?? .null
        case .text: (row[column.name] as String?).map(SQLValue.text) ?? .null
        case .time: (row[column.name] as Date?).map(SQLValue.date) ?? .null
        case .bytes: (row[column.name] as Data?).map(SQLValue.blob) ?? .null
        case .real: (row[column.name] as Double?).map(SQLValue.real) ?? .null
        }
    }

    /// One value's bytes for the checksum: its kind, then its value (times to the millisecond, as
    /// the embedded file keeps them), then a separator.
    static func canonical(_ value: SQLValue) -> Data {
        let text: String =
            switch value {
            case .null: "n"
            case .integer(let v): "i\(v)"
            case .real(let v): "r\(v)"
            case .text(let v): "t\(v.utf8.count):\(v)"
            case .blob(let v): "b" + v.base64EncodedString()
            case .date(let v): "d\((v.timeIntervalSince1970 * 1000).rounded())"
            }
        return Data((text + "\u{1F}").utf8)
    }
}
