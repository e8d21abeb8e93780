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
/// concurrent handlers never interleave.
public final class FrameWriter: Sendable {
    private let fd: Int32
    private let state = Mutex<Bool>(true)  // open?

    public init(fd: Int32) {
        self.fd = fd
        FrameWriter.ignoreSIGPIPE()
    }

    /// Writes `bytes` completely. Returns `false` when the peer is gone (the pipe is closed).
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        state.withLock { open in
            guard open else { return false }
            var offset = 0
            let ok = bytes.withUnsafeBytes { raw -> Bool in
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
            if !ok { open = false }
            return ok
        }
    }

    /// Closes the descriptor; later writes return `false`.
    public func close() {
        state.withLock { open in
            if open {
                open = false
                _ = Glibc.close(fd)
            }
        }
    }

    /// A peer that goes away must surface as a failed write, not kill the process.
    public static func ignoreSIGPIPE() {
        _ = signal(SIGPIPE, SIG_IGN)
    }
}
