import Crypto
import ExtensionSDK
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Gofer's default secret store: one file in the extension's state directory, every value sealed
/// with AES-256-GCM under the admin's key, the secret's name bound in as authenticated data (so
/// moving a sealed value to another name is detected, not decrypted).
///
/// Writes replace the file atomically (temporary file, fsync, rename, fsync of the directory), so
/// a crash leaves the old file or the new one, never a mix. A wrong key or a damaged file stops
/// the store with a clear error at start; it never returns garbage and never writes over a file
/// it could not read.
@main
struct EmbeddedSecretStore: SecretStore {
    static let manifest = Manifest(
        name: "embedded-secrets", version: "0.1.0", summary: "Secrets in an AES-256-GCM encrypted file owned by Gofer (the default).",
        config: .object(
            [
                "key": .string(description: "32 random bytes, base64 (head -c 32 /dev/urandom | base64).", writeOnly: true),
                "path": .string(description: "The store file; default: secrets.json in the extension's state directory."),
            ], required: ["key"]))

    struct Config: Decodable, Sendable {
        var key: String
        var path: String?
    }

    let file: SealedFile

    init(config: Config, context: ExtensionContext) async throws {
        guard let raw = Data(base64Encoded: config.key.trimmingCharacters(in: .whitespacesAndNewlines)), raw.count == 32 else {
            throw ProtocolError(
                .invalidConfig, "key must be 32 random bytes in base64 (head -c 32 /dev/urandom | base64)",
                diagnostics: [Diagnostic(path: "/config/admin/key", message: "not 32 bytes of base64")])
        }
        guard let path = config.path ?? context.stateDirectory.map({ $0 + "/secrets.json" }) else {
            throw ProtocolError(
                .invalidConfig, "no place for the store file: give path, or run under a host that provides a state directory",
                diagnostics: [Diagnostic(path: "/config/admin/path", message: "required without a state directory")])
        }
        file = try SealedFile.open(path: path, key: SymmetricKey(data: raw))
    }

    func get(_ key: String) async throws -> [UInt8] { try await file.get(key) }
    func put(_ key: String, value: [UInt8]) async throws { try await file.put(key, value) }
    func delete(_ key: String) async throws { try await file.put(key, nil) }
    func list(prefix: String) async throws -> [String] { await file.keys().filter { $0.hasPrefix(prefix) } }
}

/// The store file and its sealed entries. An actor: puts are serialised, each one a whole-file
/// atomic replace.
actor SealedFile {
    static let format = "gofer-secrets/1"
    static let checkName = "\u{0}check"
    static let checkText = Array("gofer embedded secret store".utf8)

    let path: String
    let key: SymmetricKey
    private var entries: [String: String]
    let check: String

    private init(path: String, key: SymmetricKey, entries: [String: String], check: String) {
        self.path = path
        self.key = key
        self.entries = entries
        self.check = check
    }

    static func open(path: String, key: SymmetricKey) throws -> SealedFile {
        guard FileManager.default.fileExists(atPath: path) else {
            let store = SealedFile(path: path, key: key, entries: [:], check: try seal(checkText, name: checkName, key: key))
            try store.write([:])
            return store
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ProtocolError(.failedPrecondition, "cannot read the secret store file \(path); check its permissions")
        }
        let root: JSONValue
        do {
            root = try JSONParser().parse(Array(data))
        } catch {
            throw ProtocolError(
                .failedPrecondition,
                "the secret store file \(path) is damaged (\(ErrorText.describe(error))); it was left untouched. Restore it from a backup")
        }
        guard root["format"]?.stringValue == format, let check = root["check"]?.stringValue, let object = root["entries"]?.objectValue
        else {
            throw ProtocolError(
                .failedPrecondition, "\(path) is not a Gofer secret store (\(format)); it was left untouched")
        }
        guard let opened = try? unseal(check, name: checkName, key: key), opened == checkText else {
            throw ProtocolError(
                .invalidConfig, "the key does not open the secret store \(path) (a different key was used to create it)",
                diagnostics: [Diagnostic(path: "/config/admin/key", message: "does not open this store")])
        }
        var entries: [String: String] = [:]
        for (name, value) in object {
            guard let text = value.stringValue else {
                throw ProtocolError(
                    .failedPrecondition, "the secret store file \(path) is damaged at entry \"\(name)\"; it was left untouched")
            }
            entries[name] = text
        }
        return SealedFile(path: path, key: key, entries: entries, check: check)
    }

    static func seal(_ value: [UInt8], name: String, key: SymmetricKey) throws -> String {
        let box = try AES.GCM.seal(value, using: key, authenticating: Array(name.utf8))
        guard let combined = box.combined else { throw ProtocolError(.internalError, "cannot seal a value") }
        return combined.base64EncodedString()
    }

    static func unseal(_ text: String, name: String, key: SymmetricKey) throws -> [UInt8] {
        guard let data = Data(base64Encoded: text) else { throw ProtocolError(.internalError, "not base64") }
        return Array(try AES.GCM.open(AES.GCM.SealedBox(combined: data), using: key, authenticating: Array(name.utf8)))
    }

    func get(_ name: String) throws -> [UInt8] {
        guard let sealed = entries[name] else { throw ProtocolError(.notFound, "secret \"\(name)\" does not exist") }
        do {
            return try Self.unseal(sealed, name: name, key: key)
        } catch {
            throw ProtocolError(
                .failedPrecondition, "secret \"\(name)\" fails its integrity check: the store file was modified outside Gofer")
        }
    }

    func keys() -> [String] { entries.keys.sorted() }

    /// Stores (or with nil, removes) one value: the whole file is replaced atomically, then memory.
    func put(_ name: String, _ value: [UInt8]?) throws {
        var next = entries
        if let value {
            next[name] = try Self.seal(value, name: name, key: key)
        } else {
            guard next.removeValue(forKey: name) != nil else { return }
        }
        try write(next)
        entries = next
    }

    private nonisolated func fail(_ what: String, _ code: Int32) -> ProtocolError {
        let retryable = code == ENOSPC || code == EDQUOT || code == EIO
        return ProtocolError(
            .unavailable, "cannot write the secret store \(path): \(what): \(String(cString: strerror(code))); nothing was changed",
            retryable: retryable)
    }

    private nonisolated func write(_ entries: [String: String]) throws {
        let body: JSONValue = [
            "format": .string(Self.format), "check": .string(check), "entries": .object(entries.mapValues(JSONValue.string)),
        ]
        let bytes = Array(body.description.utf8)
        let dir = (path as NSString).deletingLastPathComponent
        let temp = "\(path).tmp-\(getpid())"
        let fd = Glibc.open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw fail("create \(temp)", errno) }
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                let code = errno
                _ = Glibc.close(fd)
                _ = unlink(temp)
                throw fail("write", code)
            }
            offset += n
        }
        if fsync(fd) != 0 {
            let code = errno
            _ = Glibc.close(fd)
            _ = unlink(temp)
            throw fail("fsync", code)
        }
        _ = Glibc.close(fd)
        if rename(temp, path) != 0 {
            let code = errno
            _ = unlink(temp)
            throw fail("rename", code)
        }
        let dfd = Glibc.open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            _ = Glibc.close(dfd)
        }
    }
}
