import Foundation
import Hummingbird
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
    /// Whose writes make an entry stale.
    let store: any Store

    init(store: any Store, capacity: Int = 1024, maxBytes: Int = 32 << 20) {
        self.store = store
        self.capacity = capacity
        self.maxBytes = maxBytes
    }

    /// A JSON answer from the cache when nothing was written since it was made; else made by
    /// `make` and kept. `key` must name everything the answer depends on (path and query).
    func json<T: Encodable>(_ key: String, _ make: () async throws -> T) async throws -> Response {
        let generation = store.writeGeneration  // before reading: see Store.writeGeneration
        let body: ByteBuffer
        if let hit = self.body(for: key, generation: generation) {
            body = hit
        } else {
            body = ByteBuffer(bytes: try APIJSONEncoder().encode(try await make()))
            self.store(body, for: key, generation: generation)
        }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: body))
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
