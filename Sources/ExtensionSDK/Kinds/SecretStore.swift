import Foundation

/// An extension that stores secrets: an encrypted file, Vault, a cloud secret manager.
///
/// The SDK checks every key before your code sees it (no empty keys, no `..` segments, no leading
/// `/`, no NUL or newline, at most 512 bytes), so a store never has to defend against path
/// traversal itself. Values are bytes; they travel as text when they are valid UTF-8, else as base64.
public protocol SecretStore: Extension {
    /// The value stored under `key`. Throws ``ErrorCode/notFound`` when there is none.
    func get(_ key: String) async throws -> [UInt8]
    /// Stores `value` under `key`, replacing any previous value.
    func put(_ key: String, value: [UInt8]) async throws
    /// Deletes `key`. Deleting a missing key succeeds.
    func delete(_ key: String) async throws
    /// The keys that start with `prefix`, sorted. Never values.
    func list(prefix: String) async throws -> [String]
}

extension SecretStore {
    /// Serves this store over stdin/stdout.
    public static func main() async {
        ExtensionRuntime.main(SecretStoreAdapter<Self>())
    }
}

/// The rules for secret keys, shared by every store.
public enum SecretKey {
    /// The longest key accepted, in bytes.
    public static let maxBytes = 512

    /// Problems with `key`, empty when it is acceptable.
    public static func problems(_ key: String, path: String = "/key") -> [Diagnostic] {
        var out: [Diagnostic] = []
        if key.isEmpty { out.append(Diagnostic(path: path, message: "must not be empty")) }
        if key.utf8.count > maxBytes { out.append(Diagnostic(path: path, message: "must be at most \(maxBytes) bytes")) }
        if key.unicodeScalars.contains(where: { $0 == "\0" || $0 == "\n" || $0 == "\r" }) {
            out.append(Diagnostic(path: path, message: "must not contain NUL, CR or LF"))
        }
        if key.hasPrefix("/") { out.append(Diagnostic(path: path, message: "must not start with '/'")) }
        if key.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0 == ".." || $0 == "." || $0.isEmpty })
            && !key.isEmpty
            && !key.hasPrefix("/")
        {
            out.append(Diagnostic(path: path, message: "must not contain empty, '.' or '..' path segments"))
        }
        return out
    }
}

struct SecretStoreAdapter<T: SecretStore>: KindAdapter {
    var kind: ExtensionKind { .secrets }
    var manifest: Manifest { T.manifest }

    /// A key, checked: typed by the declaration the host sends with (``ProtocolCalls``), then the
    /// rules no schema says (segments, NUL, length).
    func checked(_ key: String) throws -> String {
        let problems = SecretKey.problems(key)
        if !problems.isEmpty { throw ProtocolError.invalidParams(diagnostics: problems) }
        return key
    }

    func start(config: JSONValue, context: ExtensionContext) async throws -> [String: RequestHandler] {
        let ext = try await T(config: Self.decodeConfig(T.Config.self, config), context: context)
        var handlers = commonHandlers(ext)
        handlers[ProtocolMethod.secretsGet.rawValue] = { _, params in
            let ref = try ProtocolCalls.secretsGet.decodeParams(params)
            return try JSONCodec.encode(SecretValue(bytes: try await ext.get(try checked(ref.key))))
        }
        handlers[ProtocolMethod.secretsPut.rawValue] = { _, params in
            let write = try ProtocolCalls.secretsPut.decodeParams(params)
            let k = try checked(write.key)
            let value: [UInt8]
            if let text = write.value {
                value = Array(text.utf8)
            } else if let b64 = write.valueB64 {
                guard let data = Data(base64Encoded: b64) else {
                    throw ProtocolError.invalidParams(diagnostics: [Diagnostic(path: "/valueB64", message: "is not valid base64")])
                }
                value = Array(data)
            } else {
                throw ProtocolError.invalidParams(diagnostics: [
                    Diagnostic(path: "/value", message: "required: \"value\" (text) or \"valueB64\"")
                ])
            }
            try await ext.put(k, value: value)
            return .emptyObject
        }
        handlers[ProtocolMethod.secretsDelete.rawValue] = { _, params in
            try await ext.delete(try checked(try ProtocolCalls.secretsDelete.decodeParams(params).key))
            return .emptyObject
        }
        handlers[ProtocolMethod.secretsList.rawValue] = { _, params in
            let prefix = try ProtocolCalls.secretsList.decodeParams(params).prefix ?? ""
            return try JSONCodec.encode(SecretKeys(keys: try await ext.list(prefix: prefix)))
        }
        return handlers
    }
}
