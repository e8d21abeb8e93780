import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel

/// Installed extensions.
package protocol ExtensionRepository: Sendable {
    /// Every installed extension, by name.
    func installedExtensions() async throws -> [InstalledExtension]

    /// The installed extension called `name`, nil when none is.
    func installedExtension(_ name: String) async throws -> InstalledExtension?

    /// Records an install (refused if the name is taken) or, with `replacing`, an upgrade.
    func saveExtension(_ e: InstalledExtension, replacing: Bool, by: Principal) async throws

    /// Uninstalls `name` (its record and event); its binary is the caller's to remove.
    func removeExtension(_ name: String, by: Principal) async throws
}

/// The defaults callers leave out.
extension ExtensionRepository {
    package func saveExtension(_ e: InstalledExtension, replacing: Bool, by: Principal = .system) async throws {
        try await saveExtension(e, replacing: replacing, by: by)
    }

    package func removeExtension(_ name: String, by: Principal = .system) async throws {
        try await removeExtension(name, by: by)
    }
}

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

    package init(name: String, kind: ExtensionKind, version: String, registry: String, source: String, executable: ExtensionExecutable, sha256: String?, config: JSONValue, installedAt: Date, updatedAt: Date) {
        self.name = name
        self.kind = kind
        self.version = version
        self.registry = registry
        self.source = source
        self.executable = executable
        self.sha256 = sha256
        self.config = config
        self.installedAt = installedAt
        self.updatedAt = updatedAt
    }
}
