import Foundation

/// The SQL dialect a backend speaks, for the few statements the two write differently.
package enum SQLDialect: String, Sendable {
    /// The embedded file (GRDB).
    case sqlite
    /// A PostgreSQL server (postgres-nio).
    case postgres
}

/// One connection inside one transaction, as the store's SQL sees it — the same whichever backend
/// runs it. Statements use `?` placeholders (the PostgreSQL backend numbers them); everything
/// runs synchronously on the thread the backend gave the transaction.
package protocol SQLConnection {
    var dialect: SQLDialect { get }
    /// Runs a statement that returns no rows. `cached`: the statement is run often (the backend may
    /// keep it prepared).
    func execute(_ sql: String, _ arguments: [SQLValue], cached: Bool) throws
    /// Runs a query and returns all its rows.
    func rows(_ sql: String, _ arguments: [SQLValue], cached: Bool) throws -> [Row]
    /// Runs an `INSERT` into a table whose key is an `id` the database assigns, and returns that id.
    func insertReturningID(_ sql: String, _ arguments: [SQLValue]) throws -> Int64
}

/// The connection a store transaction runs on (named as GRDB names its own, which the store was
/// first written against).
package struct Database {
    package let connection: any SQLConnection

    package init(_ connection: any SQLConnection) { self.connection = connection }

    package var dialect: SQLDialect { connection.dialect }

    package func execute(sql: String, arguments: StatementArguments = []) throws {
        try connection.execute(sql, arguments.values, cached: false)
    }

    /// A statement that runs often; the backend may keep it prepared.
    package func cachedStatement(sql: String) -> Statement { Statement(db: self, sql: sql, cached: true) }

    /// Runs an `INSERT` into a table with a generated `id` and returns it.
    package func insertReturningID(sql: String, arguments: StatementArguments) throws -> Int64 {
        try connection.insertReturningID(sql, arguments.values)
    }
}

/// A statement with its SQL, from ``Database/cachedStatement(sql:)``.
package struct Statement {
    let db: Database
    let sql: String
    let cached: Bool

    package func execute(arguments: StatementArguments = []) throws {
        try db.connection.execute(sql, arguments.values, cached: cached)
    }
}

/// A value bound to a `?` or read from a column.
package enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)
    /// A point in time: SQLite stores it as GRDB's text (`yyyy-MM-dd HH:mm:ss.SSS`, UTC), PostgreSQL as `timestamptz`.
    case date(Date)
}

/// A Swift value that binds to a statement's `?` and decodes from a column.
package protocol SQLValueConvertible: Sendable {
    var sqlValue: SQLValue { get }
    /// The value of column `index` of `row`, or nil when it is NULL or not of this type.
    static func decode(_ row: Row, _ column: RowColumn) -> Self?
}

/// What a statement's `?` placeholders are bound to, in order.
package struct StatementArguments: ExpressibleByArrayLiteral, Sendable {
    package var values: [SQLValue]

    package init(arrayLiteral elements: (any SQLValueConvertible)?...) {
        values = elements.map { $0?.sqlValue ?? .null }
    }

    package init(_ elements: [(any SQLValueConvertible)?]) {
        values = elements.map { $0?.sqlValue ?? .null }
    }

    package init<S: Sequence>(_ elements: S) where S.Element: SQLValueConvertible {
        values = elements.map(\.sqlValue)
    }

    package static func + (lhs: StatementArguments, rhs: StatementArguments) -> StatementArguments {
        var all = lhs
        all.values += rhs.values
        return all
    }

    package static func += (lhs: inout StatementArguments, rhs: StatementArguments) { lhs.values += rhs.values }
}

/// A column of a row: by position (0 is the first selected) or by name (case-insensitive).
package enum RowColumn {
    case index(Int)
    case name(String)
}

/// How a backend's row hands out its columns: nil when the column is missing, NULL, or does not
/// convert to the type asked for.
package protocol RowStorage {
    func int64(_ column: RowColumn) -> Int64?
    func double(_ column: RowColumn) -> Double?
    func string(_ column: RowColumn) -> String?
    func data(_ column: RowColumn) -> Data?
    func date(_ column: RowColumn) -> Date?
}

/// A row a query returned. Reading a column that is NULL, missing or of another type gives nil (or
/// the type's empty value where a non-optional is asked for): stored data never crashes a read.
package struct Row {
    package let storage: any RowStorage

    package init(_ storage: any RowStorage) { self.storage = storage }

    package subscript<T: SQLValueConvertible>(_ index: Int) -> T? { T.decode(self, .index(index)) }

    package subscript<T: SQLValueConvertible & SQLDefaultValue>(_ index: Int) -> T { T.decode(self, .index(index)) ?? T.sqlDefault }

    package subscript<T: SQLValueConvertible>(_ column: String) -> T? { T.decode(self, .name(column)) }

    package subscript<T: SQLValueConvertible & SQLDefaultValue>(_ column: String) -> T { T.decode(self, .name(column)) ?? T.sqlDefault }

    // GRDB-style fetching, so the store reads the same on every backend.
    package static func fetchAll(_ db: Database, sql: String, arguments: StatementArguments = []) throws -> [Row] {
        try db.connection.rows(sql, arguments.values, cached: false)
    }

    package static func fetchOne(_ db: Database, sql: String, arguments: StatementArguments = []) throws -> Row? {
        try db.connection.rows(sql, arguments.values, cached: false).first
    }

    package static func fetchAll(_ statement: Statement, arguments: StatementArguments = []) throws -> [Row] {
        try statement.db.connection.rows(statement.sql, arguments.values, cached: statement.cached)
    }

    package static func fetchOne(_ statement: Statement, arguments: StatementArguments = []) throws -> Row? {
        try statement.db.connection.rows(statement.sql, arguments.values, cached: statement.cached).first
    }
}

/// What a non-optional read of a NULL or unreadable column gives.
package protocol SQLDefaultValue { static var sqlDefault: Self { get } }

extension SQLValueConvertible {
    /// The first column of the first row, or nil when there is no row or it is NULL.
    package static func fetchOne(_ db: Database, sql: String, arguments: StatementArguments = []) throws -> Self? {
        guard let row = try Row.fetchOne(db, sql: sql, arguments: arguments) else { return nil }
        return row[0]
    }

    /// The first column of every row (NULLs left out).
    package static func fetchAll(_ db: Database, sql: String, arguments: StatementArguments = []) throws -> [Self] {
        try Row.fetchAll(db, sql: sql, arguments: arguments).compactMap { $0[0] }
    }
}

extension String: SQLValueConvertible, SQLDefaultValue {
    package var sqlValue: SQLValue { .text(self) }
    package static func decode(_ row: Row, _ column: RowColumn) -> String? { row.storage.string(column) }
    package static var sqlDefault: String { "" }
}

extension Int64: SQLValueConvertible, SQLDefaultValue {
    package var sqlValue: SQLValue { .integer(self) }
    package static func decode(_ row: Row, _ column: RowColumn) -> Int64? { row.storage.int64(column) }
    package static var sqlDefault: Int64 { 0 }
}

extension Int: SQLValueConvertible, SQLDefaultValue {
    package var sqlValue: SQLValue { .integer(Int64(self)) }
    package static func decode(_ row: Row, _ column: RowColumn) -> Int? { row.storage.int64(column).flatMap { Int(exactly: $0) } }
    package static var sqlDefault: Int { 0 }
}

extension Bool: SQLValueConvertible, SQLDefaultValue {
    /// Stored as 0 or 1 on both backends (columns are integers).
    package var sqlValue: SQLValue { .integer(self ? 1 : 0) }
    package static func decode(_ row: Row, _ column: RowColumn) -> Bool? { row.storage.int64(column).map { $0 != 0 } }
    package static var sqlDefault: Bool { false }
}

extension Double: SQLValueConvertible, SQLDefaultValue {
    package var sqlValue: SQLValue { .real(self) }
    package static func decode(_ row: Row, _ column: RowColumn) -> Double? { row.storage.double(column) }
    package static var sqlDefault: Double { 0 }
}

extension Data: SQLValueConvertible, SQLDefaultValue {
    package var sqlValue: SQLValue { .blob(self) }
    package static func decode(_ row: Row, _ column: RowColumn) -> Data? { row.storage.data(column) }
    package static var sqlDefault: Data { Data() }
}

extension Date: SQLValueConvertible, SQLDefaultValue {
    package var sqlValue: SQLValue { .date(self) }
    package static func decode(_ row: Row, _ column: RowColumn) -> Date? { row.storage.date(column) }
    package static var sqlDefault: Date { Date(timeIntervalSince1970: 0) }
}
