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
/// A log is capped (`limit`, a server setting): past it, output is kept only as a bounded tail in
/// memory, written after a visible truncation marker when the task ends, so an endless `yes` costs
/// neither unbounded disk nor memory and the end of the output — usually what explains a failure —
/// is kept.
///
/// Writes go straight to the file descriptor so a failure (a full disk above all) comes out as a
/// ``LogWriteError`` naming the file and the system's reason.
final class LogWriter: Sendable {
    struct State {
        var fd: Int32
        var written = 0
        var tail: [UInt8] = []
        var omitted = 0
        var masker: SecretMasker
        /// Empty the file before the first bytes are written (a re-streamed log).
        var truncatePending = false
    }

    /// When to start the file afresh.
    enum Truncate { case no, now, onFirstWrite }

    private let state: Mutex<State>
    let path: String
    let limit: Int
    let tailBytes: Int

    /// With `truncate`, starts the file afresh (a re-attached task re-streams its whole log);
    /// `.onFirstWrite` keeps the old content until new output arrives.
    /// `masks`: secret values to replace with `********` before anything is written.
    init(path: String, truncate: Truncate = .no, limit: Int = 64 << 20, masks: [[UInt8]] = []) throws(LogWriteError) {
        self.path = path
        self.limit = max(limit, 1024)
        self.tailBytes = min(1 << 20, self.limit / 2)
        do {
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
        } catch {
            throw LogWriteError(path: path, reason: ErrorText.wrapping("cannot create its directory", error))
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate == .now ? O_TRUNC : 0), 0o600)
        guard fd >= 0 else { throw LogWriteError(path: path, errno: errno) }
        var info = stat()
        let size = fstat(fd, &info) == 0 ? Int(info.st_size) : 0
        state = Mutex(
            State(
                fd: fd, written: truncate == .onFirstWrite ? 0 : size, masker: SecretMasker(values: masks),
                truncatePending: truncate == .onFirstWrite))
    }

    deinit { state.withLock { s in if s.fd >= 0 { _ = Glibc.close(s.fd) } } }

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
            guard s.fd >= 0 else { return }
            try append(s.masker.feed(bytes), to: &s)
        }
    }

    private func append(_ bytes: [UInt8], to s: inout State) throws(LogWriteError) {
        if s.truncatePending && !bytes.isEmpty {
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
            guard s.fd >= 0 else { return }
            defer {
                if let incomplete { try? Self.writeAll(s.fd, ArraySlice("\n[gofer: log incomplete: \(incomplete)]\n".utf8), path: path) }
                _ = fsync(s.fd)
                _ = Glibc.close(s.fd)
                s.fd = -1
            }
            try? append(s.masker.flush(), to: &s)
            if !s.tail.isEmpty {
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
