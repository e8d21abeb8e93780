import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A job's output kept on disk as it arrives, for schedulers that capture output themselves
/// (a pipe, an attached container stream) and serve `scheduler/logs` from it.
///
/// Output is appended to an unlinked temporary file — created at the first byte, gone with the
/// spool — so memory stays flat whatever a job prints, and any number of readers can stream it
/// from the start, following until ``finish()``. Output is kept in whole lines per stream (a
/// line's end is held until its newline, up to 64 KiB), so stdout and stderr never interleave
/// inside a line. Past `limit` bytes, or when the disk refuses a write, the rest is dropped and
/// one marker line on stderr says so.
///
/// ```swift
/// let spool = OutputSpool(directory: context.temporaryDirectory ?? NSTemporaryDirectory())
/// spool.append(bytes, fd: "stdout")   // from the thread reading the job's output
/// spool.finish()                       // when the job's streams have closed
/// try await spool.stream(to: output, follow: true)   // in `logs`
/// ```
public final class OutputSpool: Sendable {
    struct Chunk {
        var fd: String
        var offset: Int
        var length: Int
        /// A marker line, kept in memory.
        var inline: [UInt8]?
    }

    struct State {
        var fd: Int32 = -1
        var chunks: [Chunk] = []
        var bytes = 0
        var perFD: [String: Int] = [:]
        /// Per stream, the end of its output after its last newline, held back until the line is
        /// complete so another stream's output never lands in the middle of it.
        var partial: [String: [UInt8]] = [:]
        var closed = false
        var finished = false
    }

    /// A partial line longer than this is passed on as it is.
    static let maxHeldLine = 64 * 1024

    private let state = Mutex(State())
    /// Where the spool file is made.
    public let directory: String
    /// Bytes kept.
    public let limit: Int
    /// Whether a marker line says where output past ``limit`` was dropped.
    public let marksTruncation: Bool

    /// A spool writing to a new file in `directory`.
    ///
    /// - Parameters:
    ///   - directory: where the (immediately unlinked) spool file is made.
    ///   - limit: bytes kept.
    ///   - marksTruncation: past `limit`, end the output with a marker line (true), or only
    ///     refuse (``append(_:fd:)`` returns false) for a caller that gets the rest elsewhere.
    public init(directory: String, limit: Int = 4 << 30, marksTruncation: Bool = true) {
        self.directory = directory
        self.limit = limit
        self.marksTruncation = marksTruncation
    }

    deinit {
        let fd = state.withLock { $0.fd }
        if fd >= 0 { close(fd) }
    }

    /// Appends output of one stream (`"stdout"` or `"stderr"`). Safe from any thread. Returns
    /// false once output is no longer kept (past ``limit``, or after a write failed).
    @discardableResult
    public func append(_ bytes: some Collection<UInt8>, fd name: String) -> Bool {
        guard !bytes.isEmpty else { return true }
        return state.withLock { s in
            guard !s.closed else { return false }
            var whole = s.partial.removeValue(forKey: name) ?? []
            whole.append(contentsOf: bytes)
            if let lastNewline = whole.lastIndex(of: 0x0A) {
                if lastNewline + 1 < whole.count {
                    s.partial[name] = Array(whole[(lastNewline + 1)...])
                    whole.removeSubrange((lastNewline + 1)...)
                }
            } else if whole.count <= Self.maxHeldLine {
                s.partial[name] = whole
                return true
            }
            return Self.store(&s, whole, fd: name, limit: limit, marksTruncation: marksTruncation, directory: directory)
        }
    }

    static func store(_ s: inout State, _ bytes: [UInt8], fd name: String, limit: Int, marksTruncation: Bool, directory: String) -> Bool {
        if s.bytes + bytes.count > limit {
            s.closed = true
            if marksTruncation {
                s.chunks.append(Self.marker("[gofer: output truncated at \(limit) bytes by the scheduler's log limit]"))
            }
            return false
        }
        do {
            if s.fd < 0 { s.fd = try Self.makeFile(in: directory) }
            try Self.write(s.fd, bytes, at: s.bytes)
            s.chunks.append(Chunk(fd: name, offset: s.bytes, length: bytes.count))
            s.bytes += bytes.count
            s.perFD[name, default: 0] += bytes.count
            return true
        } catch {
            s.closed = true
            s.chunks.append(Self.marker("[gofer: the rest of this output was lost: cannot write to \(directory): \(ErrorText.describe(error))]"))
            return false
        }
    }

    /// Adds a marker line on stderr (a gap, a cut) and keeps accepting output.
    public func note(_ text: String) {
        state.withLock { $0.chunks.append(Self.marker(text)) }
    }

    /// No more output will come: what is held of an unfinished last line is passed on, and
    /// followers return once they have sent everything.
    public func finish() {
        state.withLock { s in
            for (name, rest) in s.partial.sorted(by: { $0.key > $1.key }) where !s.closed {
                _ = Self.store(&s, rest, fd: name, limit: limit, marksTruncation: marksTruncation, directory: directory)
            }
            s.partial = [:]
            s.finished = true
        }
    }

    /// Whether ``finish()`` was called.
    public var isFinished: Bool { state.withLock { $0.finished } }

    /// Bytes of one stream spooled so far (markers not counted).
    public func count(fd: String) -> Int { state.withLock { $0.perFD[fd] ?? 0 } }

    /// Sends the output from the start to `output`; with `follow`, keeps sending what arrives
    /// until ``finish()``. Throws when the spool cannot be read back or the stream is cancelled.
    public func stream(to output: OutputStream, follow: Bool) async throws {
        var index = 0
        while true {
            let (chunks, fd, finished) = state.withLock { s in
                (index < s.chunks.count ? Array(s.chunks[index...]) : [], s.fd, s.finished)
            }
            // Consecutive pieces of one descriptor go out as one `stream/data` (up to 64 KiB):
            // a job printing line by line costs a frame per batch, not per line (protocol.md §7).
            for chunk in Self.batched(chunks) {
                try await output.write(try chunk.inline ?? Self.read(fd, chunk), fd: chunk.fd)
            }
            index += chunks.count
            if chunks.isEmpty {
                if finished || !follow { return }
                try await Task.sleep(for: .milliseconds(10))
            }
        }
    }

    /// `chunks` with neighbours of the same descriptor that lie back to back in the file merged,
    /// up to 64 KiB each; markers stay on their own.
    static func batched(_ chunks: [Chunk]) -> [Chunk] {
        var out: [Chunk] = []
        out.reserveCapacity(chunks.count)
        for chunk in chunks {
            if chunk.inline == nil, var last = out.last, last.inline == nil, last.fd == chunk.fd, last.offset + last.length == chunk.offset,
                last.length + chunk.length <= 64 * 1024
            {
                last.length += chunk.length
                out[out.count - 1] = last
            } else {
                out.append(chunk)
            }
        }
        return out
    }

    static func marker(_ text: String) -> Chunk { Chunk(fd: "stderr", offset: 0, length: 0, inline: Array("\n\(text)\n".utf8)) }

    static func makeFile(in directory: String) throws -> Int32 {
        var template = Array("\(directory)/gofer-output-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress.unsafelyUnwrapped) }
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress.unsafelyUnwrapped) }
        return fd
    }

    static func write(_ fd: Int32, _ bytes: [UInt8], at offset: Int) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress.unsafelyUnwrapped + done, $0.count - done, off_t(offset + done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            done += n
        }
    }

    static func read(_ fd: Int32, _ chunk: Chunk) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: chunk.length)
        var done = 0
        while done < chunk.length {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress.unsafelyUnwrapped + done, $0.count - done, off_t(chunk.offset + done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw ProtocolError(.internalError, "spooled output could not be read back: \(String(cString: strerror(errno)))")
            }
            done += n
        }
        return out
    }
}
