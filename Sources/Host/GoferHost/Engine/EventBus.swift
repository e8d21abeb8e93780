import Foundation
import Synchronization

/// Fans out events, after they are stored, to live subscribers (run watch, log follow, SSE).
/// A slow subscriber loses the oldest buffered events rather than slowing the engine; it can
/// always re-read the event log from the store.
public final class EventBus: Sendable {
    private let subscribers = Mutex<[UUID: AsyncStream<Event>.Continuation]>([:])

    public init() {}

    public func publish(_ event: Event) {
        for c in subscribers.withLock({ Array($0.values) }) { c.yield(event) }
    }

    /// A live stream of events from now on.
    public func subscribe() -> AsyncStream<Event> {
        let (stream, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .bufferingNewest(1024))
        let id = UUID()
        subscribers.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        return stream
    }
}

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
final class LogWriter: Sendable {
    struct State {
        var handle: FileHandle?
        var written = 0
        var tail: [UInt8] = []
        var omitted = 0
    }

    private let state: Mutex<State>
    let path: String
    let limit: Int
    let tailBytes: Int

    /// With `truncate`, starts the file afresh (a re-attached task re-streams its whole log).
    init(path: String, truncate: Bool = false, limit: Int = 64 << 20) throws {
        self.path = path
        self.limit = max(limit, 1024)
        self.tailBytes = min(1 << 20, self.limit / 2)
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        if truncate || !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        guard let h = FileHandle(forWritingAtPath: path) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        let size = h.seekToEndOfFile()
        state = Mutex(State(handle: h, written: Int(size)))
    }

    func write(_ bytes: [UInt8]) throws {
        try state.withLock { s in
            let room = max(0, limit - tailBytes - s.written)
            if room > 0 {
                let head = Array(bytes.prefix(room))
                try s.handle?.write(contentsOf: Data(head))
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
    }

    func close() {
        state.withLock { s in
            if !s.tail.isEmpty {
                let keep = min(s.tail.count, tailBytes)
                s.omitted += s.tail.count - keep
                if s.omitted > 0 {
                    let marker =
                        "\n[gofer: log truncated: \(s.omitted) bytes omitted; each task keeps \(limit) bytes, the last \(keep) follow]\n"
                    try? s.handle?.write(contentsOf: Data(marker.utf8))
                }
                try? s.handle?.write(contentsOf: Data(s.tail.suffix(keep)))
                s.tail = []
            }
            try? s.handle?.synchronize()
            try? s.handle?.close()
            s.handle = nil
        }
    }
}
