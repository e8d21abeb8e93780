import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel

/// Global secrets' descriptions (name, namespaces, times): the values live in the secret store.
extension SQLStore {
    package static func globalSecret(_ row: Row) -> GlobalSecret {
        GlobalSecret(
            name: row["name"],
            namespaces: json(row, "namespaces", [String]()),
            createdAt: row["created_at"], updatedAt: row["updated_at"])
    }

    package func saveGlobalSecret(name: String, namespaces: [String]) async throws -> GlobalSecret {
        let text = try JSONCodec.encode(namespaces).description
        return try await write { db in
            let now = Date()
            try db.execute(
                sql: """
                    INSERT INTO global_secrets (name, namespaces, created_at, updated_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET namespaces = excluded.namespaces, updated_at = excluded.updated_at
                    """, arguments: [name, text, now, now])
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM global_secrets WHERE name = ?", arguments: [name]) else {
                throw StoreError.notFound(what: "global secret", id: name)
            }
            return Self.globalSecret(row)
        }
    }

    package func globalSecrets() async throws -> [GlobalSecret] {
        try await read { db in try Row.fetchAll(db, sql: "SELECT * FROM global_secrets ORDER BY name").map(Self.globalSecret) }
    }

    package func globalSecret(name: String) async throws -> GlobalSecret? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM global_secrets WHERE name = ?", arguments: [name]).map(Self.globalSecret)
        }
    }

    package func deleteGlobalSecret(name: String) async throws {
        try await write { db in try db.execute(sql: "DELETE FROM global_secrets WHERE name = ?", arguments: [name]) }
    }
}
