import ExtensionSDK
import Foundation
import GRDB

/// An extension installed on this server.
/// Where an installed extension's executable is.
public enum ExtensionExecutable: Sendable, Equatable, Codable, CustomStringConvertible {
    /// A build product shipped beside `gofer` (found in the server's products directory).
    case bundled(product: String)
    /// A file placed in the data directory at install.
    case installed(path: String)

    /// As stored and shown: `bundled:PRODUCT` or the path.
    public var description: String {
        switch self {
        case .bundled(let product): return "bundled:" + product
        case .installed(let path): return path
        }
    }

    public init(stored text: String) {
        self = text.hasPrefix("bundled:") ? .bundled(product: String(text.dropFirst("bundled:".count))) : .installed(path: text)
    }

    public init(from decoder: any Decoder) throws { self.init(stored: try decoder.singleValueContainer().decode(String.self)) }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    /// The file to run.
    public func path(productsDirectory: String) -> String {
        switch self {
        case .bundled(let product): return productsDirectory + "/" + product
        case .installed(let path): return path
        }
    }
}

public struct InstalledExtension: Codable, Sendable, Equatable {
    public var name: String
    public var kind: ExtensionKind
    public var version: String
    /// The registry it came from (`bundled`, a file, a URL).
    public var registry: String
    /// Where the registry said to get it.
    public var source: String
    public var executable: ExtensionExecutable
    public var sha256: String?
    /// The admin layer of its configuration, as given at install.
    public var config: JSONValue
    public var installedAt: Date
    public var updatedAt: Date

    /// The admin config with `writeOnly` fields (per `schema`) replaced, for showing.
    public func redactedConfig(schema: JSONValue?) -> JSONValue {
        guard var object = config.objectValue else { return config }
        for (key, _) in object where schema?["properties"]?[key]?["writeOnly"] == .bool(true) { object[key] = "********" }
        return .object(object)
    }
}

extension Store {
    static func installed(_ row: Row) -> InstalledExtension {
        InstalledExtension(
            name: row["name"], kind: ExtensionKind(rawValue: row["kind"]) ?? .trigger, version: row["version"], registry: row["registry"],
            source: row["source"], executable: ExtensionExecutable(stored: row["executable"]), sha256: row["sha256"],
            config: jsonValue(row, "config"), installedAt: row["installed_at"],
            updatedAt: row["updated_at"])
    }

    public func installedExtensions() async throws -> [InstalledExtension] {
        try await pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM extensions ORDER BY name").map(Self.installed) }
    }

    public func installedExtension(_ name: String) async throws -> InstalledExtension? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM extensions WHERE name = ?", arguments: [name]).map(Self.installed)
        }
    }

    /// Records an install (refused if the name is taken) or, with `replacing`, an upgrade.
    func saveExtension(_ e: InstalledExtension, replacing: Bool, by: Principal = .system) async throws {
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

    func removeExtension(_ name: String, by: Principal = .system) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM extensions WHERE name = ?", arguments: [name])
            _ = try Self.appendEvent(db, .extensionUninstalled, details: by.eventDetails.merging(["name": name]) { a, _ in a })
        }
    }

    /// The meta key naming the secret store that was last written to (a secret put).
    static let secretStoreWrittenKey = "secret_store_written"

    /// A flag in the meta table (`defaults_installed`).
    func meta(_ key: String) async throws -> String? {
        try await pool.read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) }
    }

    func setMeta(_ key: String, _ value: String) async throws {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                arguments: [key, value])
        }
    }
}
