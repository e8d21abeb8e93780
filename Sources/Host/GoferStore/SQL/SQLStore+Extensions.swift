import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel

extension SQLStore {
    package static func installed(_ row: Row) -> InstalledExtension {
        InstalledExtension(
            name: row["name"], kind: ExtensionKind(rawValue: row["kind"]) ?? .trigger, version: row["version"], registry: row["registry"],
            source: row["source"], executable: ExtensionExecutable(stored: row["executable"]), sha256: row["sha256"],
            config: jsonValue(row, "config"), installedAt: row["installed_at"],
            updatedAt: row["updated_at"])
    }

    public func installedExtensions() async throws -> [InstalledExtension] {
        try await read { db in try Row.fetchAll(db, sql: "SELECT * FROM extensions ORDER BY name").map(Self.installed) }
    }

    public func installedExtension(_ name: String) async throws -> InstalledExtension? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM extensions WHERE name = ?", arguments: [name]).map(Self.installed)
        }
    }

    package func saveExtension(_ e: InstalledExtension, replacing: Bool, by: Principal) async throws {
        try await write { db in
            let exists = try Row.fetchOne(db, sql: "SELECT 1 FROM extensions WHERE name = ?", arguments: [e.name]) != nil
            if exists && !replacing {
                throw StoreError.conflict("extension \(e.name) is already installed; use `gofer extension upgrade \(e.name)`")
            }
            try db.execute(
                sql: """
                    INSERT INTO extensions (name, kind, version, registry, source, executable, sha256, config, installed_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET version = excluded.version, registry = excluded.registry, source = excluded.source,
                        executable = excluded.executable, sha256 = excluded.sha256, config = excluded.config, updated_at = excluded.updated_at
                    """,
                arguments: [
                    e.name, e.kind.rawValue, e.version, e.registry, e.source, e.executable.description, e.sha256, e.config.description,
                    e.installedAt,
                    e.updatedAt,
                ])
            _ = try Self.appendEvent(
                db, .extensionInstalled,
                details: by.eventDetails.merging(["name": e.name, "version": e.version, "upgrade": String(exists)]) { a, _ in a })
        }
    }

    package func removeExtension(_ name: String, by: Principal) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM extensions WHERE name = ?", arguments: [name])
            _ = try Self.appendEvent(db, .extensionUninstalled, details: by.eventDetails.merging(["name": name]) { a, _ in a })
        }
    }

    package func meta(_ key: MetaKey) async throws -> String? {
        try await read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key.rawValue]) }
    }

    package func setMeta(_ key: MetaKey, _ value: String) async throws {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                arguments: [key.rawValue, value])
        }
    }
}
