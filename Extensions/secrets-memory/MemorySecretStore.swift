import ExtensionSDK

/// Keeps secrets in memory only; they are gone when the process exits. For tests and demos, and
/// the smallest example of a secret store.
@main
struct MemorySecretStore: SecretStore {
    static let manifest = Manifest(
        name: "memory-secrets", version: "0.1.0", summary: "Secrets in memory (lost on restart); for tests and demos.",
        config: .object(["readOnly": .boolean(description: "Refuse writes.")]))

    struct Config: Decodable, Sendable { var readOnly: Bool? }

    actor Values {
        var byKey: [String: [UInt8]] = [:]
        func get(_ key: String) -> [UInt8]? { byKey[key] }
        func set(_ key: String, _ value: [UInt8]?) { byKey[key] = value }
        func keys() -> [String] { byKey.keys.sorted() }
    }

    let values = Values()
    let readOnly: Bool

    init(config: Config, context: ExtensionContext) { readOnly = config.readOnly ?? false }

    func get(_ key: String) async throws -> [UInt8] {
        guard let value = await values.get(key) else { throw ProtocolError(.notFound, "secret \"\(key)\" does not exist") }
        return value
    }

    func put(_ key: String, value: [UInt8]) async throws {
        if readOnly { throw ProtocolError(.notSupported, "this store is read-only (readOnly: true)") }
        await values.set(key, value)
    }

    func delete(_ key: String) async throws {
        if readOnly { throw ProtocolError(.notSupported, "this store is read-only (readOnly: true)") }
        await values.set(key, nil)
    }

    func list(prefix: String) async throws -> [String] {
        await values.keys().filter { $0.hasPrefix(prefix) }
    }
}
