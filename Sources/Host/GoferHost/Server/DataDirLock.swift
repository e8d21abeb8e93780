import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One server per data directory: an exclusive `flock` on `DATA_DIR/gofer.lock`, holding the
/// owner's pid. The kernel drops the lock when the process dies (even by `kill -9`), so a stale
/// file never keeps a server from starting; a second server on the same directory is refused
/// with the first one's pid instead of corrupting what both write.
public final class DataDirLock: Sendable {
    public static let fileName = "gofer.lock"
    /// Data directories a server of this process holds now.
    private static let heldHere = Mutex<Set<String>>([])
    private let fd: Mutex<Int32?>
    public let path: String

    /// Takes the lock, or throws naming the server that holds it.
    public init(dataDir: String) throws {
        let path = dataDir + "/" + Self.fileName
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw ServerError("cannot open \(path): \(String(cString: strerror(errno))); check the data directory's permissions")
        }
        let mine = Self.heldHere.withLock { held in held.insert(path).inserted }
        let locked = flock(fd, LOCK_EX | LOCK_NB) == 0
        // Our own pid in the file while no server of this process holds the directory: a copy
        // of the lock's descriptor outlived its server here (a child forked before it exec'd);
        // that is no other server, so this one may go on.
        let staleCopy = !locked && mine && Self.pid(in: fd) == getpid()
        guard mine && (locked || staleCopy) else {
            if mine { Self.heldHere.withLock { _ = $0.remove(path) } }
            let holder = Self.pid(in: fd)
            close(fd)
            throw ServerError(
                "another Gofer server\(holder.map { " (pid \($0))" } ?? "") is using the data directory \(dataDir); stop it first (gofer service stop --data-dir \(dataDir)) or give this server its own --data-dir"
            )
        }
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        self.fd = Mutex(fd)
    }

    /// The pid written in a lock file (the server that holds or held it).
    public static func pid(dataDir: String) -> Int32? {
        let fd = open(dataDir + "/" + fileName, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return pid(in: fd)
    }

    /// Whether a server holds the lock of `dataDir` now.
    public static func isHeld(dataDir: String) -> Bool {
        let fd = open(dataDir + "/" + fileName, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return true
    }

    private static func pid(in fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer.prefix(n), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Lets go of the lock (the server has stopped).
    public func release() {
        let released = fd.withLock { fd -> Bool in
            guard let f = fd else { return false }
            close(f)
            fd = nil
            return true
        }
        if released { Self.heldHere.withLock { _ = $0.remove(path) } }
    }

    deinit { release() }
}
