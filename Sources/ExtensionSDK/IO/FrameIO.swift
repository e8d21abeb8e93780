import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What a ``LineReader`` delivers.
public enum LineEvent: Sendable {
    /// One complete line, without its LF (and without a trailing CR).
    case line([UInt8])
    /// A line longer than the limit: its first bytes and its total size. The rest was discarded.
    case oversized(prefix: [UInt8], size: Int)
    /// End of file (the peer closed the pipe) or a read error.
    case eof
}

/// Reads LF-terminated lines from a file descriptor on a dedicated blocking thread.
///
/// A blocking reader wakes as soon as bytes arrive; a poll-and-sleep loop would add its sleep to
/// every message (measured). Lines over `maxLineBytes` are discarded up to the next LF so one bad
/// frame never desynchronizes the stream or grows memory without bound.
public enum LineReader {
    /// Starts the reader thread. `onEvent` runs on that thread, in order; `.eof` is the last call.
    public static func start(fd: Int32, maxLineBytes: Int, name: String, onEvent: @escaping @Sendable (LineEvent) -> Void) {
        let thread = Thread {
            readLoop(fd: fd, maxLineBytes: maxLineBytes, onEvent: onEvent)
        }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Runs the read loop on the calling thread until EOF.
    public static func readLoop(fd: Int32, maxLineBytes: Int, onEvent: (LineEvent) -> Void) {
        let chunkSize = 256 * 1024
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { chunk.deallocate() }
        var pending: [UInt8] = []
        var discarding = false
        var discardPrefix: [UInt8] = []
        var discardSize = 0
        let prefixKeep = 4096

        func emit(_ line: [UInt8]) {
            var line = line
            if line.last == 0x0D { line.removeLast() }
            onEvent(.line(line))
        }

        while true {
            let n = read(fd, chunk.baseAddress, chunkSize)
            if n < 0 {
                if errno == EINTR { continue }
                break
            }
            if n == 0 { break }
            let bytes = UnsafeRawBufferPointer(rebasing: chunk[0..<n]).bindMemory(to: UInt8.self)
            var start = 0
            while start < n {
                let base = UnsafeRawPointer(chunk.baseAddress.unsafelyUnwrapped)
                let lf = memchr(base + start, 0x0A, n - start)
                let end = lf.map { UnsafeRawPointer($0) - base } ?? n
                let piece = UnsafeBufferPointer(rebasing: bytes[start..<end])
                if discarding {
                    discardSize += piece.count
                    if discardPrefix.count < prefixKeep { discardPrefix.append(contentsOf: piece.prefix(prefixKeep - discardPrefix.count)) }
                } else if pending.count + piece.count > maxLineBytes {
                    discarding = true
                    discardPrefix = Array((pending + Array(piece)).prefix(prefixKeep))
                    discardSize = pending.count + piece.count
                    pending.removeAll(keepingCapacity: false)
                } else if lf != nil && pending.isEmpty {
                    emit(Array(piece))
                } else {
                    pending.append(contentsOf: piece)
                }
                guard lf != nil else { break }
                // A line ended here.
                if discarding {
                    onEvent(.oversized(prefix: discardPrefix, size: discardSize))
                    discarding = false
                    discardPrefix = []
                    discardSize = 0
                } else if !pending.isEmpty {
                    emit(pending)
                    pending.removeAll(keepingCapacity: true)
                }
                start = end + 1
            }
        }
        if !pending.isEmpty && !discarding { emit(pending) }
        onEvent(.eof)
    }
}

/// Writes whole frames to a file descriptor, one writer at a time.
///
/// Each direction of the protocol has a single writer that emits whole frames only, so frames from
/// concurrent handlers never interleave. In `queueing` mode (the host's writer to an extension's
/// stdin) a write never blocks the caller: what the pipe cannot take now is queued and drained by
/// a helper thread, so an extension that stops reading cannot stall the host's few cooperative
/// threads. Past `maxQueuedBytes` the writer gives up and reports the peer as gone.
public final class FrameWriter: Sendable {
    struct State {
        var open = true
        var closed = false
        var pending: [UInt8] = []
        var draining = false
    }

    private let fd: Int32
    private let queueing: Bool
    private let maxQueuedBytes: Int
    private let state = Mutex(State())

    /// A writer to `fd`. With `queueing`, a write never blocks the caller: what the pipe cannot take now waits (at most `maxQueuedBytes`) for a helper thread.
    public init(fd: Int32, queueing: Bool = false, maxQueuedBytes: Int = 16 << 20) {
        self.fd = fd
        self.queueing = queueing
        self.maxQueuedBytes = maxQueuedBytes
        FrameWriter.ignoreSIGPIPE()
        if queueing {
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        }
    }

    /// Writes `bytes` completely (or queues them). Returns `false` when the peer is gone.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        state.withLock { s in
            guard s.open else { return false }
            if !queueing {
                if !writeAll(bytes) {
                    s.open = false
                    return false
                }
                return true
            }
            if !s.pending.isEmpty {
                guard s.pending.count + bytes.count <= maxQueuedBytes else {
                    s.open = false
                    s.pending = []
                    return false
                }
                s.pending += bytes
                return true
            }
            guard let written = writeSome(bytes[...]) else {
                s.open = false
                return false
            }
            if written < bytes.count {
                s.pending = Array(bytes[written...])
                if !s.draining {
                    s.draining = true
                    startDrain()
                }
            }
            return true
        }
    }

    /// Blocking write of everything (the extension side, where stdout backpressure is wanted).
    private func writeAll(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        return bytes.withUnsafeBytes { raw -> Bool in
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress.unsafelyUnwrapped + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    return false
                }
                offset += n
            }
            return true
        }
    }

    /// Non-blocking write of as much as the pipe takes; `nil` when the peer is gone.
    private func writeSome(_ bytes: ArraySlice<UInt8>) -> Int? {
        var offset = 0
        return bytes.withUnsafeBytes { raw -> Int? in
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress.unsafelyUnwrapped + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    if errno == EAGAIN || errno == EWOULDBLOCK { return offset }
                    return nil
                }
                offset += n
            }
            return offset
        }
    }

    private func startDrain() {
        let thread = Thread { [self] in
            while true {
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&p, 1, 100)
                let done = state.withLock { s -> Bool in
                    guard s.open else {
                        s.draining = false
                        return true
                    }
                    guard let written = writeSome(s.pending[...]) else {
                        s.open = false
                        s.pending = []
                        s.draining = false
                        return true
                    }
                    s.pending.removeFirst(written)
                    if s.pending.isEmpty {
                        s.draining = false
                        return true
                    }
                    return false
                }
                if done { return }
            }
        }
        thread.name = "frame-writer-\(fd)"
        thread.start()
    }

    /// Bytes waiting for the peer to read.
    public var queuedBytes: Int { state.withLock { $0.pending.count } }

    /// Closes the descriptor; later writes return `false`.
    public func close() {
        state.withLock { s in
            s.open = false
            s.pending = []
            if !s.closed {
                s.closed = true
                _ = Glibc.close(fd)
            }
        }
    }

    /// A peer that goes away must surface as a failed write, not kill the process.
    public static func ignoreSIGPIPE() {
        _ = signal(SIGPIPE, SIG_IGN)
    }
}
