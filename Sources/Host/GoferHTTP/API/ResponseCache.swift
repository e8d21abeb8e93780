import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// Encoded bodies of read routes, each tagged with what the store had written when it was read
/// (``WriteGenerations/Tag`` of the route's ``ReadScope``): an entry is served only while nothing
/// it shows has been written since, so a cached answer is always what a fresh read would return.
/// Busy read routes (the run list and a run, which dashboards poll) then cost a lookup instead of
/// a query and a JSON encoding while they do not change — and a task of one run changing state
/// leaves every other run's answer and every list in the cache.
///
/// Concurrent misses of one key at one tag share a single read: the first makes the answer,
/// the others wait for it instead of each querying and encoding the same thing.
///
/// Only bodies are cached, after the route's permission check has passed; errors never are.
final class ResponseCache: Sendable {
    struct Entry {
        var scope: ReadScope
        var tag: WriteGenerations.Tag
        var body: ByteBuffer
    }

    /// A read in progress, and who waits for its answer (nil: it failed, make your own).
    private struct Making {
        var tag: WriteGenerations.Tag
        var waiters: [CheckedContinuation<ByteBuffer?, Never>]
    }

    private let entries = Mutex<(byKey: [String: Entry], bytes: Int)>(([:], 0))
    private let making = Mutex<[String: Making]>([:])
    /// Entries kept at most, and their bytes at most (a page of runs can be hundreds of KiB).
    let capacity: Int
    let maxBytes: Int
    /// Whose writes make an entry stale.
    let generations: WriteGenerations

    init(generations: WriteGenerations, capacity: Int = 1024, maxBytes: Int = 32 << 20) {
        self.generations = generations
        self.capacity = capacity
        self.maxBytes = maxBytes
    }

    /// A JSON answer from the cache when nothing in `scope` was written since it was made; else
    /// made by `make` (once for all who ask at the same time) and kept. `key` must name everything
    /// the answer depends on (path and query).
    func json<T: Encodable>(_ key: String, scope: ReadScope, _ make: () async throws -> T) async throws -> Response {
        let tag = generations.tag(scope)  // before reading: see WriteGenerations
        let body: ByteBuffer
        if let hit = self.body(for: key, tag: tag) {
            body = hit
        } else if let shared = await joinMaking(key, tag: tag) {
            body = shared
        } else {
            do {
                body = ByteBuffer(bytes: try APIJSONEncoder().encode(try await make()))
            } catch {
                finishMaking(key, tag: tag, with: nil)
                throw error
            }
            self.store(body, for: key, scope: scope, tag: tag)
            finishMaking(key, tag: tag, with: body)
        }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: body))
    }

    /// Waits for a read of `key` at `tag` someone else is making and returns its answer; nil when
    /// there is none (the caller is now the one making it) or it failed.
    private func joinMaking(_ key: String, tag: WriteGenerations.Tag) async -> ByteBuffer? {
        enum Role { case maker, waiter }
        // Decided and registered under one lock, so a finishing maker cannot slip in between.
        return await withCheckedContinuation { (c: CheckedContinuation<ByteBuffer?, Never>) in
            let role = making.withLock { m -> Role in
                if var current = m[key], current.tag == tag {
                    current.waiters.append(c)
                    m[key] = current
                    return .waiter
                }
                // A read at an older tag may still be running: its waiters keep waiting for it,
                // and this one is made afresh (it finishes under its own tag only).
                if m[key] == nil { m[key] = Making(tag: tag, waiters: []) }
                return .maker
            }
            if role == .maker { c.resume(returning: nil) }
        }
    }

    private func finishMaking(_ key: String, tag: WriteGenerations.Tag, with body: ByteBuffer?) {
        let waiters = making.withLock { m -> [CheckedContinuation<ByteBuffer?, Never>] in
            guard let current = m[key], current.tag == tag else { return [] }
            m[key] = nil
            return current.waiters
        }
        for w in waiters { w.resume(returning: body) }
    }

    func body(for key: String, tag: WriteGenerations.Tag) -> ByteBuffer? {
        entries.withLock { e in
            guard let entry = e.byKey[key] else { return nil }
            if entry.tag == tag { return entry.body }
            e.byKey[key] = nil
            e.bytes -= entry.body.readableBytes
            return nil
        }
    }

    func store(_ body: ByteBuffer, for key: String, scope: ReadScope, tag: WriteGenerations.Tag) {
        guard body.readableBytes <= maxBytes / 4 else { return }
        entries.withLock { e in
            if let old = e.byKey.removeValue(forKey: key) { e.bytes -= old.body.readableBytes }
            // Stale entries are dropped first; a cache full of current ones starts over.
            if e.byKey.count >= capacity || e.bytes + body.readableBytes > maxBytes {
                e.byKey = e.byKey.filter { generations.tag($0.value.scope) == $0.value.tag }
                e.bytes = e.byKey.values.reduce(0) { $0 + $1.body.readableBytes }
            }
            if e.byKey.count >= capacity || e.bytes + body.readableBytes > maxBytes {
                e.byKey.removeAll(keepingCapacity: true)
                e.bytes = 0
            }
            e.byKey[key] = Entry(scope: scope, tag: tag, body: body)
            e.bytes += body.readableBytes
        }
    }
}
