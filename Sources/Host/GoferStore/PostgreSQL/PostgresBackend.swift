import ExtensionSDK
import Foundation
import GoferModel
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// The PostgreSQL backend: a few connections to one database, each transaction's body run
/// synchronously on a thread of the backend's own pool (as GRDB runs SQLite's), with one
/// connection of its own.
///
/// Write transactions take a transaction-scoped advisory lock first, so they never interleave —
/// across every server on the same database too — and each sees the one before it committed,
/// exactly as SQLite's single writer does. Reads run in `REPEATABLE READ` snapshots and never
/// wait for writes.
package final class PostgresBackend: SQLBackend {
    package var dialect: SQLDialect { .postgres }
    package var location: String { url.redacted }

    let url: PostgresURL
    private let connections: PostgresConnections
    private let threads: NIOThreadPool
    /// The connection holding ``serverLock`` while this server runs (see ``claimInstallation()``).
    private let claim: PostgresConnections

    /// The advisory lock every write transaction holds (any number, the same for every server).
    static let writeLock: Int64 = 0x676F_6665_7200
    /// The advisory lock a running server holds for as long as it runs (one server per database).
    static let serverLock: Int64 = 0x676F_6665

    private init(url: PostgresURL, connections: PostgresConnections, threads: NIOThreadPool) {
        self.url = url
        self.connections = connections
        self.threads = threads
        claim = PostgresConnections(url: url, group: MultiThreadedEventLoopGroup.singleton)
    }

    /// Connects (one connection, to fail early with a clear message) and brings the schema up to date.
    package static func connect(_ url: PostgresURL) async throws -> PostgresBackend {
        let threads = NIOThreadPool(numberOfThreads: url.poolSize)
        threads.start()
        let connections = PostgresConnections(url: url, group: MultiThreadedEventLoopGroup.singleton)
        let backend = PostgresBackend(url: url, connections: connections, threads: threads)
        do {
            _ = try await backend.write { db in try migrate(db) }
        } catch {
            await backend.close()
            throw error
        }
        return backend
    }

    /// Runs the migrations not yet run (under the write lock: two servers starting at once migrate once).
    static func migrate(_ db: Database) throws {
        try db.execute(sql: "CREATE TABLE IF NOT EXISTS gofer_migrations (id TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)")
        let done = Set(try String.fetchAll(db, sql: "SELECT id FROM gofer_migrations"))
        for migration in PostgresSchema.migrations where !done.contains(migration.id) {
            for statement in migration.statements { try db.execute(sql: statement) }
            try db.execute(sql: "INSERT INTO gofer_migrations (id, applied_at) VALUES (?, ?)", arguments: [migration.id, Date()])
        }
    }

    package func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        try await transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", lock: false, body)
    }

    package func write<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        try await transaction("BEGIN", lock: true, body)
    }

    private func transaction<T: Sendable>(
        _ begin: String, lock: Bool, _ body: @Sendable @escaping (Database) throws -> T
    ) async throws -> T {
        let connections = self.connections
        let location = self.location
        do {
            return try await threads.runIfActive {
                try connections.with { connection in
                    let db = Database(connection)
                    try connection.execute(begin, [], cached: false)
                    do {
                        if lock { try connection.execute("SELECT pg_advisory_xact_lock(?)", [.integer(Self.writeLock)], cached: false) }
                        let result = try body(db)
                        try connection.execute("COMMIT", [], cached: false)
                        return result
                    } catch {
                        // A broken connection rolls back on its own (the server ends the transaction with it).
                        try? connection.execute("ROLLBACK", [], cached: false)
                        throw error
                    }
                }
            }
        } catch let error as PostgresQueryFailure {
            throw StoreError.storageFailed(path: location, detail: error.description)
        } catch is NIOThreadPoolError.ThreadPoolInactive {
            throw StoreError.storageFailed(path: location, detail: "the store is closed")
        }
    }

    /// Creates database `name` on the server of `url` unless it exists (`name`: lowercase letters,
    /// digits and `_`). For setting up an installation, and for tests.
    package static func createDatabase(_ name: String, at url: PostgresURL) async throws {
        try checkName(name)
        try await once(at: url) { c in
            if try c.rows("SELECT 1 FROM pg_database WHERE datname = ?", [.text(name)], cached: false).isEmpty {
                try c.execute("CREATE DATABASE \(name)", [], cached: false)
            }
        }
    }

    /// Drops database `name` on the server of `url`, closing its connections (tests clean up with it).
    package static func dropDatabase(_ name: String, at url: PostgresURL) async throws {
        try checkName(name)
        try await once(at: url) { c in try c.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)", [], cached: false) }
    }

    /// Runs `body` outside any transaction on a connection of its own, closed before this returns.
    private static func once(at url: PostgresURL, _ body: @Sendable @escaping (PostgresSQLConnection) throws -> Void) async throws {
        let connections = PostgresConnections(url: url, group: MultiThreadedEventLoopGroup.singleton)
        let threads = NIOThreadPool(numberOfThreads: 1)
        threads.start()
        do {
            try await threads.runIfActive { try connections.with(body) }
        } catch {
            await connections.closeAll()
            try? await threads.shutdownGracefully()
            throw error
        }
        await connections.closeAll()
        try? await threads.shutdownGracefully()
    }

    private static func checkName(_ name: String) throws {
        guard !name.isEmpty, name.count <= 63, name.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 }) else {
            throw StoreError.conflict("database name \"\(name)\" must be 1–63 lowercase letters, digits or _")
        }
    }

    /// Takes the database for this server alone: a session advisory lock on a connection kept
    /// open while the server runs (PostgreSQL drops it when the connection ends — a crash, a
    /// cut network, ``close()``). A second server on the same database is refused naming the
    /// first, instead of both running the same runs.
    package func claimInstallation() async throws {
        let claim = self.claim
        let location = self.location
        // A server that just died (kill -9) holds the lock until PostgreSQL notices its socket
        // closed: a restart right after it waits a few seconds before calling it a second server.
        var holders: [String]?
        for attempt in 0..<30 {
            if attempt > 0 { try await Task.sleep(for: .milliseconds(200)) }
            holders = try await claimOnce(claim)
            if holders == nil { return }
        }
        if let holders {
            throw StoreError.conflict(
                "another Gofer server (\(holders.isEmpty ? "unknown" : holders.joined(separator: "; "))) is using the database \(location); one server per database for now: stop it first, or give this server its own database_url"
            )
        }
    }

    /// Tries the lock once: nil when taken, else who holds it.
    private func claimOnce(_ claim: PostgresConnections) async throws -> [String]? {
        try await threads.runIfActive {
            try claim.hold(keep: { $0 == nil }) { c in
                let got = try c.rows("SELECT CASE WHEN pg_try_advisory_lock(?) THEN 1 ELSE 0 END AS got", [.integer(Self.serverLock)], cached: false)
                if let row = got.first, let taken: Int = row[0], taken == 1 { return nil }
                let rows = try c.rows(
                    """
                    SELECT a.application_name AS name, COALESCE(host(a.client_addr), 'a local socket') AS address
                    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                    WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid::bigint = ?
                        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    """, [.integer(Self.serverLock)], cached: false)
                return rows.map { row in "\(row["name"] ?? "a Gofer server") from \(row["address"] ?? "?")" }
            }
        }
    }

    package func integrityCheck() async throws -> String {
        // PostgreSQL checks its own pages; what is left to check is that the database answers.
        try await read { db in try Int.fetchOne(db, sql: "SELECT 1") == 1 ? "ok" : "the database did not answer SELECT 1" }
    }

    package func close() async {
        await claim.closeAll()
        await connections.closeAll()
        try? await threads.shutdownGracefully()
    }
}

/// A statement PostgreSQL refused or could not run, with the server's own words.
struct PostgresQueryFailure: Error, CustomStringConvertible {
    var description: String

    init(_ error: any Error, sql: String) {
        let statement = sql.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ").prefix(160)
        if let psql = error as? PSQLError {
            let server = psql.serverInfo
            let message = server?[.message] ?? (psql.underlying.map { "\(psql.code): \($0)" } ?? "\(psql.code)")
            let state = server?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            description = "\(message)\(state) in: \(statement)"
        } else {
            description = "\(ErrorText.describe(error)) in: \(statement)"
        }
    }
}

/// The backend's open connections: one per thread of its pool at most, so a transaction never
/// waits for one. A connection that broke is replaced on its next use.
final class PostgresConnections: Sendable {
    private let url: PostgresURL
    private let group: any EventLoopGroup
    private let idle = Mutex<[PostgresConnection]>([])
    private let held = Mutex<[PostgresConnection]>([])
    private let closed = Mutex(false)
    private let logger = Logger(label: "gofer.store.postgres")

    init(url: PostgresURL, group: any EventLoopGroup) {
        self.url = url
        self.group = group
    }

    /// A store released without ``closeAll()`` still closes its connections.
    deinit { startClosingAll() }

    /// Closes every idle and held connection without waiting: each stays referenced until its
    /// close completes (a connection must be closed before it is released).
    func startClosingAll() {
        closed.withLock { $0 = true }
        let all = idle.withLock { list in defer { list = [] }; return list } + held.withLock { list in defer { list = [] }; return list }
        for connection in all where !connection.isClosed {
            (connection.close() as EventLoopFuture<Void>).whenComplete { _ in withExtendedLifetime(connection) {} }
        }
    }

    /// Runs `body` on a connection (blocking the calling thread: call it on the backend's pool only).
    func with<T>(_ body: (PostgresSQLConnection) throws -> T) throws -> T {
        let connection = try checkOut()
        defer { checkIn(connection) }
        return try body(PostgresSQLConnection(connection: connection))
    }

    /// Runs `body` on a connection that, when `keep` says so of the result, stays checked out
    /// (and open) until ``closeAll()``: a session's advisory lock lives as long as its connection.
    func hold<T>(keep: (T) -> Bool, _ body: (PostgresSQLConnection) throws -> T) throws -> T {
        let connection = try checkOut()
        do {
            let result = try body(PostgresSQLConnection(connection: connection))
            if keep(result) { held.withLock { $0.append(connection) } } else { checkIn(connection) }
            return result
        } catch {
            checkIn(connection)
            throw error
        }
    }

    private func checkOut() throws -> PostgresConnection {
        while let connection = idle.withLock({ $0.popLast() }) {
            if !connection.isClosed { return connection }
        }
        return try open()
    }

    private func checkIn(_ connection: PostgresConnection) {
        let keep = !connection.isClosed && !closed.withLock { $0 }
        if keep {
            idle.withLock { $0.append(connection) }
        } else if !connection.isClosed {
            (connection.close() as EventLoopFuture<Void>).whenComplete { _ in withExtendedLifetime(connection) {} }
        }
    }

    /// Closes the idle connections; one still in use closes when it comes back.
    func closeAll() async {
        closed.withLock { $0 = true }
        for connection in idle.withLock({ list in defer { list = [] }; return list }) { try? await connection.close() }
        for connection in held.withLock({ list in defer { list = [] }; return list }) {
            // Let go of its session locks now: the server ends the session only once it notices
            // the socket closed, and a server starting right after this one must find them free.
            _ = try? await connection.query(PostgresQuery(unsafeSQL: "SELECT pg_advisory_unlock_all()"), logger: logger)
            try? await connection.close()
        }
    }

    static let applicationName: String = {
        let host = ProcessInfo.processInfo.hostName.prefix(40)
        return "gofer on \(host) (pid \(ProcessInfo.processInfo.processIdentifier))"
    }()

    private func open() throws -> PostgresConnection {
        let url = self.url
        var configuration: PostgresConnection.Configuration
        if url.host.hasPrefix("/") {
            let socket = url.host.hasSuffix(".s.PGSQL.\(url.port)") ? url.host : url.host + "/.s.PGSQL.\(url.port)"
            configuration = .init(unixSocketPath: socket, username: url.user, password: url.password, database: url.database)
        } else {
            let tls: PostgresConnection.Configuration.TLS
            switch url.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
            configuration = .init(host: url.host, port: url.port, username: url.user, password: url.password, database: url.database, tls: tls)
        }
        configuration.options.connectTimeout = .seconds(10)
        // Who a connection is, in pg_stat_activity (and in the message refusing a second server).
        configuration.options.additionalStartupParameters = [("application_name", Self.applicationName)]
        let settings = configuration
        let logger = self.logger
        let eventLoop = group.next()
        do {
            return try eventLoop.makeFutureWithTask {
                try await PostgresConnection.connect(on: eventLoop, configuration: settings, id: 1, logger: logger)
            }.wait()
        } catch {
            throw StoreError.unreachable(
                location: url.redacted,
                detail:
                    "\(PostgresQueryFailure(error, sql: "").description.replacingOccurrences(of: " in: ", with: "")) — is the server up, and do database_url's host, port, user, password and database match it?"
            )
        }
    }
}

/// One PostgreSQL connection as the store's SQL sees it: `?` placeholders become `$1, $2 …`.
struct PostgresSQLConnection: SQLConnection {
    let connection: PostgresConnection

    var dialect: SQLDialect { .postgres }

    func execute(_ sql: String, _ arguments: [SQLValue], cached: Bool) throws {
        _ = try run(sql, arguments)
    }

    func rows(_ sql: String, _ arguments: [SQLValue], cached: Bool) throws -> [Row] {
        let result = try run(sql, arguments)
        guard let first = result.rows.first else { return [] }
        let columns = PostgresColumns(first)
        return result.rows.map { Row(PostgresRowStorage(row: $0.makeRandomAccess(), columns: columns)) }
    }

    func insertReturningID(_ sql: String, _ arguments: [SQLValue]) throws -> Int64 {
        let result = try run(sql + " RETURNING id", arguments)
        guard let row = result.rows.first, let id: Int64 = Row(PostgresRowStorage(row: row.makeRandomAccess(), columns: PostgresColumns(row)))[0] else {
            throw PostgresQueryFailure(StoreError.conflict("no id came back"), sql: sql)
        }
        return id
    }

    private func run(_ sql: String, _ arguments: [SQLValue]) throws -> PostgresQueryResult {
        let text = PlaceholderNumbering.numbered(sql)
        do {
            return try connection.query(text, arguments.map(Self.bind)).wait()
        } catch {
            throw PostgresQueryFailure(error, sql: sql)
        }
    }

    static func bind(_ value: SQLValue) -> PostgresData {
        switch value {
        // No type: PostgreSQL infers it from where the parameter stands.
        case .null: .null
        case .integer(let v): PostgresData(int64: v)
        case .real(let v): PostgresData(double: v)
        case .text(let v): PostgresData(string: v)
        case .blob(let v): PostgresData(bytes: [UInt8](v))
        case .date(let v): PostgresData(date: v)
        }
    }
}

/// `?` placeholders numbered `$1, $2 …` for PostgreSQL, outside quoted text and identifiers.
package enum PlaceholderNumbering {
    private static let cache = Mutex<[String: String]>([:])

    package static func numbered(_ sql: String) -> String {
        if let hit = cache.withLock({ $0[sql] }) { return hit }
        var out = ""
        out.reserveCapacity(sql.utf8.count + 16)
        var n = 0
        var quote: Character?
        for c in sql {
            if let q = quote {
                if c == q { quote = nil }
                out.append(c)
            } else if c == "'" || c == "\"" {
                quote = c
                out.append(c)
            } else if c == "?" {
                n += 1
                out += "$\(n)"
            } else {
                out.append(c)
            }
        }
        // Statements are the store's own (a bounded set, IN lists aside): cache them, up to a bound.
        cache.withLock { if $0.count < 4096 { $0[sql] = out } }
        return out
    }
}

/// A result's column names, looked up once per result.
final class PostgresColumns {
    let indexByName: [String: Int]

    init(_ row: PostgresRow) {
        var names: [String: Int] = [:]
        for (i, cell) in row.enumerated() where names[cell.columnName] == nil { names[cell.columnName] = i }
        indexByName = names
    }
}

/// A PostgreSQL row's columns: NULL, a missing column or another type reads as nil.
struct PostgresRowStorage: RowStorage {
    let row: PostgresRandomAccessRow
    let columns: PostgresColumns

    func cell(_ column: RowColumn) -> PostgresCell? {
        let index: Int?
        switch column {
        case .index(let i): index = i >= 0 && i < row.count ? i : nil
        case .name(let name): index = columns.indexByName[name] ?? columns.indexByName[name.lowercased()]
        }
        guard let index else { return nil }
        let cell = row[index]
        return cell.bytes == nil ? nil : cell
    }

    func int64(_ column: RowColumn) -> Int64? {
        guard let cell = cell(column) else { return nil }
        if let v = try? cell.decode(Int64.self) { return v }
        // numeric (SUM) and text hold digits.
        return (try? cell.decode(String.self)).flatMap { Int64($0) }
    }

    func double(_ column: RowColumn) -> Double? { cell(column).flatMap { try? $0.decode(Double.self) } }
    func string(_ column: RowColumn) -> String? { cell(column).flatMap { try? $0.decode(String.self) } }
    func data(_ column: RowColumn) -> Data? {
        cell(column).flatMap { try? $0.decode(ByteBuffer.self) }.map { Data($0.readableBytesView) }
    }
    func date(_ column: RowColumn) -> Date? { cell(column).flatMap { try? $0.decode(Date.self) } }
}
