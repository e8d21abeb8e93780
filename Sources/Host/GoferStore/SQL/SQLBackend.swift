import Foundation

/// Where a ``SQLStore`` keeps its tables: the embedded SQLite file or a PostgreSQL server. A
/// backend runs each transaction's body synchronously on a thread of its own, on one connection.
package protocol SQLBackend: Sendable {
    var dialect: SQLDialect { get }
    /// Where the data is, for messages: a file path, or a URL without its password.
    var location: String { get }
    /// A read-only transaction that sees one snapshot.
    func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T
    /// A write transaction: committed when `body` returns, rolled back when it throws. Writes never
    /// interleave: one write transaction at a time, across every server on the same database.
    func write<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T
    /// The backend's own consistency check: `"ok"`, or what it found wrong.
    func integrityCheck() async throws -> String
    /// Takes the database for this server alone while it runs, or throws naming the server that
    /// has it (the embedded file: the data directory's lock does this already).
    func claimInstallation() async throws
    /// Closes the connections (a no-op where closing happens on release).
    func close() async
}
