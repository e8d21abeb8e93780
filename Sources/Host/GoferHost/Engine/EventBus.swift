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
final class LogWriter: Sendable {
    private let handle: Mutex<FileHandle?>
    let path: String

    /// With `truncate`, starts the file afresh (a re-attached task re-streams its whole log).
    init(path: String, truncate: Bool = false) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        if truncate || !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        guard let h = FileHandle(forWritingAtPath: path) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        h.seekToEndOfFile()
        handle = Mutex(h)
    }

    func write(_ bytes: [UInt8]) throws {
        try handle.withLock { h in try h?.write(contentsOf: Data(bytes)) }
    }

    func close() {
        handle.withLock { h in
            try? h?.synchronize()
            try? h?.close()
            h = nil
        }
    }
}
