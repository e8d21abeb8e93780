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

    private let entries = Mutex<(byKey: [String: Entry], bytes: Int)>(([:], 0))
    /// Entries kept at most, and their bytes at most (a page of runs can be hundreds of KiB).
    let capacity: Int
    let maxBytes: Int

    init(capacity: Int = 1024, maxBytes: Int = 32 << 20) {
        self.capacity = capacity
        self.maxBytes = maxBytes
    }

    func body(for key: String, generation: UInt64) -> ByteBuffer? {
        entries.withLock { e in
            guard let entry = e.byKey[key] else { return nil }
            if entry.generation == generation { return entry.body }
            e.byKey[key] = nil
            e.bytes -= entry.body.readableBytes
            return nil
        }
    }

    func store(_ body: ByteBuffer, for key: String, generation: UInt64) {
        guard body.readableBytes <= maxBytes / 4 else { return }
        entries.withLock { e in
            if let old = e.byKey.removeValue(forKey: key) { e.bytes -= old.body.readableBytes }
            // Stale entries are dropped first; a cache full of current ones starts over.
            if e.byKey.count >= capacity || e.bytes + body.readableBytes > maxBytes {
                e.byKey = e.byKey.filter { $0.value.generation == generation }
                e.bytes = e.byKey.values.reduce(0) { $0 + $1.body.readableBytes }
            }
            if e.byKey.count >= capacity || e.bytes + body.readableBytes > maxBytes {
                e.byKey.removeAll(keepingCapacity: true)
                e.bytes = 0
            }
            e.byKey[key] = Entry(generation: generation, body: body)
            e.bytes += body.readableBytes
        }
    }
}
