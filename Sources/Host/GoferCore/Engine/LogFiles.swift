import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GoferStore

#if canImport(Glibc)
    import Glibc
#endif
import Synchronization

/// Where task logs live: `<data>/logs/<namespace>/<pipeline>/<run>/<task>.log`.
public struct LogFiles: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    public func path(namespace: String, pipeline: String, run: Int, task: String) -> String {
        "\(root)/\(namespace)/\(pipeline)/\(run)/\(task).log"
    }
}

/// Appends a task's output to its log file; fsyncs on close so a finished task's log is whole.
///
/// The file (and its run's folder) is made with the first bytes: a task that prints nothing costs no
/// file — with many short tasks, creating an empty file per task was a good part of the server's
/// work — and its log reads as empty, as a missing file does for the log routes.
///
/// A log is capped (`limit`, a server setting): past it, output is kept only as a bounded tail in
/// memory, written after a visible truncation marker when the task ends, so an endless `yes` costs
/// neither unbounded disk nor memory and the end of the output — usually what explains a failure —
/// is kept.
///
/// Writes go straight to the file descriptor so a failure (a full disk above all) comes out as a
/// ``LogWriteError`` naming the file and the system's reason.
final class LogWriter: Sendable {
    struct State {
        /// -1 until the first bytes arrive, and again once closed.
        var fd: Int32 = -1
        var closed = false
        var written = 0
        var tail: [UInt8] = []
        var omitted = 0
        var masker: SecretMasker
        /// Empty the file before the first bytes are written (a re-streamed log).
        var truncatePending = false
    }

    /// When to start the file afresh: never (append), or when the first new bytes arrive (a
    /// re-streamed log keeps its old content until new output replaces it).
    enum Truncate { case no, onFirstWrite }

    private let state: Mutex<State>
    let path: String
    let limit: Int
    let tailBytes: Int

    /// `masks`: secret values to replace with `********` before anything is written.
    init(path: String, truncate: Truncate = .no, limit: Int = 64 << 20, masks: [[UInt8]] = []) {
        self.path = path
        self.limit = max(limit, 1024)
        self.tailBytes = min(1 << 20, self.limit / 2)
        state = Mutex(State(masker: SecretMasker(values: masks), truncatePending: truncate == .onFirstWrite))
    }

    deinit { state.withLock { s in if s.fd >= 0 { _ = Glibc.close(s.fd) } } }

    /// Opens (creating) the file for the first bytes; what it already holds counts as written.
    private func open(_ s: inout State) throws(LogWriteError) {
        guard s.fd < 0 else { return }
        do {
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
        } catch {
            throw LogWriteError(path: path, reason: ErrorText.wrapping("cannot create its directory", error))
        }
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LogWriteError(path: path, errno: errno) }
        var info = stat()
        s.fd = fd
        s.written = s.truncatePending ? 0 : (fstat(fd, &info) == 0 ? Int(info.st_size) : 0)
    }

    private static func writeAll(_ fd: Int32, _ bytes: ArraySlice<UInt8>, path: String) throws(LogWriteError) {
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw LogWriteError(path: path, errno: errno)
            }
            offset += n
        }
    }

    func write(_ bytes: [UInt8]) throws(LogWriteError) {
        try state.withLock { (s: inout State) throws(LogWriteError) in
            guard !s.closed else { return }
            try append(s.masker.feed(bytes), to: &s)
        }
    }

    private func append(_ bytes: [UInt8], to s: inout State) throws(LogWriteError) {
        guard !bytes.isEmpty else { return }
        try open(&s)
        if s.truncatePending {
            guard ftruncate(s.fd, 0) == 0 else { throw LogWriteError(path: path, errno: errno) }
            s.truncatePending = false
        }
        let room = max(0, limit - tailBytes - s.written)
        if room > 0 {
            let head = bytes.prefix(room)
            try Self.writeAll(s.fd, head, path: path)
            s.written += head.count
            if head.count == bytes.count { return }
            s.tail += bytes[head.count...]
        } else {
            s.tail += bytes
        }
        if s.tail.count > 2 * tailBytes {
            let drop = s.tail.count - tailBytes
            s.omitted += drop
            s.tail.removeFirst(drop)
        }
    }

    /// Writes the kept tail (after the truncation marker, if output was dropped), fsyncs and
    /// closes. Best effort: the task's outcome is already decided. `incomplete` says why the
    /// output stops short (a marker at the end).
    func close(incomplete: String? = nil) {
        state.withLock { s in
            guard !s.closed else { return }
            defer {
                if let incomplete {
                    try? open(&s)
                    if s.fd >= 0 { try? Self.writeAll(s.fd, ArraySlice("\n[gofer: log incomplete: \(incomplete)]\n".utf8), path: path) }
                }
                if s.fd >= 0 {
                    _ = fsync(s.fd)
                    _ = Glibc.close(s.fd)
                }
                s.fd = -1
                s.closed = true
            }
            try? append(s.masker.flush(), to: &s)
            if !s.tail.isEmpty, s.fd >= 0 {
                let keep = min(s.tail.count, tailBytes)
                s.omitted += s.tail.count - keep
                if s.omitted > 0 {
                    let marker =
                        "\n[gofer: log truncated: \(s.omitted) bytes omitted; each task keeps \(limit) bytes, the last \(keep) follow]\n"
                    try? Self.writeAll(s.fd, ArraySlice(marker.utf8), path: path)
                }
                try? Self.writeAll(s.fd, s.tail.suffix(keep), path: path)
                s.tail = []
            }
        }
    }
}

/// A task's log could not be written (a full disk, most often).
struct LogWriteError: Error, Sendable, CustomStringConvertible {
    let path: String
    let reason: String

    init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    init(path: String, errno code: Int32) {
        self.init(path: path, reason: String(cString: strerror(code)))
    }

    var description: String { "cannot write the task's log \(path): \(reason)" }
}
