import Foundation
import NIOCore
import Synchronization

/// Encoded bodies of read routes, each tagged with the store's write generation it was read at
/// (``Store/writeGeneration``): an entry is served only while no write has happened since, so a
/// cached answer is always what a fresh read would return. Busy read routes (the run list and a
/// run, which dashboards poll) then cost a lookup instead of a query and a JSON encoding while
/// nothing changes.
///
/// Only bodies are cached, after the route's permission check has passed; errors never are.
final class ResponseCache: Sendable {
    struct Entry {
        var generation: UInt64
        var body: ByteBuffer
    }

    private let entries = Mutex<[String: Entry]>([:])
    let capacity: Int

    init(capacity: Int = 1024) { self.capacity = capacity }

    func body(for key: String, generation: UInt64) -> ByteBuffer? {
        entries.withLock { e in
            guard let entry = e[key] else { return nil }
            if entry.generation == generation { return entry.body }
            e[key] = nil
            return nil
        }
    }

    func store(_ body: ByteBuffer, for key: String, generation: UInt64) {
        entries.withLock { e in
            // Stale entries are dropped first; a cache full of current ones starts over.
            if e.count >= capacity { e = e.filter { $0.value.generation == generation } }
            if e.count >= capacity { e.removeAll(keepingCapacity: true) }
            e[key] = Entry(generation: generation, body: body)
        }
    }
}
