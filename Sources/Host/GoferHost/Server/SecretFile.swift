import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Files in the data directory that hold secrets (keys, the first admin token): created readable
/// by the server's user only, written completely and synced before anyone relies on them.
enum SecretFile {
    /// Writes `text` to `path` with mode 0600, replacing any file there (atomically: a temporary
    /// file in the same directory, synced, then renamed).
    static func write(_ text: String, to path: String) throws {
        let tmp = path + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ServerError("cannot create \(tmp): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        let ok = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == bytes.count && fchmod(fd, 0o600) == 0 && fsync(fd) == 0
        let reason = String(cString: strerror(errno))
        close(fd)
        guard ok, rename(tmp, path) == 0 else {
            unlink(tmp)
            throw ServerError("cannot write \(path): \(reason)")
        }
    }

    /// A random 32-byte key kept (base64) in `path`, created on first use.
    static func key(at path: String) throws -> Data {
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            guard let raw = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), raw.count == 32 else {
                throw ServerError("\(path) does not hold a 32-byte base64 key; restore it from a backup")
            }
            return raw
        }
        var rng = SystemRandomNumberGenerator()
        let raw = Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })
        try write(raw.base64EncodedString() + "\n", to: path)
        return raw
    }
}

/// The first admin token and its local recovery.
public enum AdminBootstrap {
    public static func tokenFile(dataDir: String) -> String { dataDir + "/admin-token" }
    static let metaKey = MetaKey.adminBootstrapped

    /// On a server's first start: creates an admin token and writes it to `DATA_DIR/admin-token`
    /// (0600). Returns the file's path when it did so now.
    static func firstStart(store: any Store, dataDir: String) async throws -> String? {
        if try await store.meta(metaKey) != nil { return nil }
        let path = try await issue(store: store, dataDir: dataDir, name: "admin (first start)")
        try await store.setMeta(metaKey, Date().formatted(.iso8601))
        return path
    }

    /// Makes a new admin token and writes it to `DATA_DIR/admin-token` (0600), whatever tokens
    /// exist: the local way back in when every admin token is lost or revoked. Needs write access
    /// to the data directory, i.e. the server's own machine and user.
    public static func reset(settings: ServerSettings) async throws -> String {
        let store = try await settings.openStore()
        do {
            let path = try await issue(store: store, dataDir: settings.dataDir, name: "admin (recovery \(Date().formatted(.iso8601)))")
            try await store.setMeta(metaKey, Date().formatted(.iso8601))
            await store.close()
            return path
        } catch {
            await store.close()
            throw error
        }
    }

    static func issue(store: any Store, dataDir: String, name: String) async throws -> String {
        let secret = TokenSecret.generate()
        let token = APIToken(
            id: APIToken.newID(), name: name, kind: .user, roles: ["admin"], namespaces: ["*"], createdBy: .system, createdAt: Date())
        let path = tokenFile(dataDir: dataDir)
        // The file first: a token nobody can read would be no use.
        try SecretFile.write(secret.text + "\n", to: path)
        try await store.createToken(token, hash: secret.hash)
        return path
    }
}
