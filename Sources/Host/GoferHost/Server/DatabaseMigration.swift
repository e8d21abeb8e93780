import Foundation
import GoferStore

/// `gofer service migrate --from DIR --to URL`: an embedded installation's database copied into
/// PostgreSQL, verified table by table, with neither side's server running.
public enum DatabaseMigration {
    /// One table, copied and verified.
    public struct Table: Sendable {
        public var name: String
        public var rows: Int
        public var copied: Int
        public var sha256: String
    }

    /// Copies `DATA_DIR/gofer.sqlite` into the PostgreSQL database at `url` (which must exist; its
    /// tables are created) and verifies every table by count and checksum. Refuses while a server
    /// runs on the data directory or on the database. Resumable: run it again after a failure.
    public static func run(from dataDir: String, to url: String, progress: @Sendable (Table) -> Void) async throws -> [Table] {
        let target = try PostgresURL(url)
        let file = dataDir + "/gofer.sqlite"
        guard FileManager.default.fileExists(atPath: file) else {
            throw ServerError("no Gofer database in \(dataDir) (no gofer.sqlite): pass the server's --data-dir")
        }
        if DataDirLock.isHeld(dataDir: dataDir) {
            throw ServerError(
                "a Gofer server\(DataDirLock.pid(dataDir: dataDir).map { " (pid \($0))" } ?? "") is running on \(dataDir); stop it first (gofer service stop --data-dir \(dataDir)): a copy of a database in use would miss what it writes meanwhile"
            )
        }
        // The data directory's lock for the length of the copy: no server starts on it meanwhile.
        let lock = try DataDirLock(dataDir: dataDir)
        defer { lock.release() }
        let source = try SQLStore(path: file)
        let destination = try await SQLStore.openForCopy(postgres: target)
        do {
            // Refuses when a server runs on the target, and keeps one from starting there until done.
            try await destination.claimInstallation()
            let results = try await StoreCopy(from: source, to: destination).run { result in
                progress(Table(name: result.table, rows: result.rows, copied: result.copied, sha256: result.checksum))
            }
            await destination.close()
            await source.close()
            return results.map { Table(name: $0.table, rows: $0.rows, copied: $0.copied, sha256: $0.checksum) }
        } catch {
            await destination.close()
            await source.close()
            throw error
        }
    }
}
