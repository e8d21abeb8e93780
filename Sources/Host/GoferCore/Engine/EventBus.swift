import Foundation
import GoferConfig
import GoferModel
import GoferStore

#if canImport(Glibc)
    import Glibc
#endif
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
