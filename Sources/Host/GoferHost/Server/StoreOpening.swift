import Foundation
import GoferStore

extension ServerSettings {
    /// The store these settings name: PostgreSQL at `database_url` when it is set, else the
    /// embedded file `DATA_DIR/gofer.sqlite`.
    package func openStore() async throws -> SQLStore {
        if let databaseURL {
            return try await SQLStore.open(postgres: try PostgresURL(databaseURL), keepVersions: keepVersions)
        }
        return try SQLStore(path: dataDir + "/gofer.sqlite", keepVersions: keepVersions)
    }

    /// Where the database is, for messages: the file, or the URL without its password.
    public var databaseLocation: String {
        databaseURL.flatMap { try? PostgresURL($0).redacted } ?? dataDir + "/gofer.sqlite"
    }
}
