import Crypto
import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GoferStore
import Logging
import NIOCore
import Synchronization

/// The object store: what objects are (key, size, SHA-256, who wrote them) lives in the
/// database; their bytes in an ``ObjectBackend``. Uploads stream through in chunks — a 2 GB object
/// never sits in memory — and are atomic: the bytes are committed to a fresh blob first, then
/// recorded in one transaction with their event (and any eviction), so a cut or failed upload
/// leaves nothing behind. Reads check the SHA-256 and withhold the last chunk until it matches,
/// so a damaged object never reaches a client whole.
public final class Objects: Sendable {
    let store: any Store
    let backend: any ObjectBackend
    public let limits: ObjectLimits
    /// Delete a pipeline's objects with it (`object_cleanup`).
    let cleanup: Bool
    /// Blobs committed but maybe not yet recorded: garbage collection leaves them alone.
    private let inFlight = Mutex<Set<String>>([])
    private let expiry = Mutex<Task<Void, Never>?>(nil)
    private let logger = Logger(label: "gofer.objects")
    /// Bytes read from a blob at a time.
    static let chunk = 256 * 1024
    /// The largest object an env value may take (`pipeline_object{{…}}`).
    public static let maxEnvValueBytes = 64 * 1024

    package init(store: any Store, backend: any ObjectBackend, limits: ObjectLimits = ObjectLimits(), cleanup: Bool = true) {
        self.store = store
        self.backend = backend
        self.limits = limits
        self.cleanup = cleanup
    }

    // MARK: - Life

    /// Removes what a crash left behind, expires run objects that are due, and from then on
    /// expires a pipeline's old run objects whenever it queues a run.
    public func start(bus: EventBus) async {
        backend.removeUnfinishedUploads()
        await expire(namespace: nil, pipeline: nil)
        await collectGarbage()
        let events = bus.subscribe()
        let task = Task { [weak self] in
            for await event in events where event.kind == .runQueued {
                guard let self, let ns = event.namespace, let p = event.pipeline else { continue }
                await self.expire(namespace: ns, pipeline: p)
            }
        }
        expiry.withLock { $0 = task }
    }

    public func stop() {
        expiry.withLock {
            $0?.cancel()
            $0 = nil
        }
    }

    func expire(namespace: String?, pipeline: String?) async {
        do {
            let blobs = try await store.expireRunObjects(namespace: namespace, pipeline: pipeline, keep: limits.runKeepRuns)
            for b in blobs { backend.remove(b) }
        } catch is CancellationError {
            // The server is stopping: nothing was expired, and the next start expires what is due.
            return
        } catch {
            logger.error("cannot expire run objects: \(ErrorText.describe(error))")
        }
    }

    /// Removes blobs no object names (left by a crash between commit and record, or by a
    /// deletion whose removal failed).
    func collectGarbage() async {
        do {
            // List first, then note uploads in flight, then read what is recorded: a blob committed
            // before the listing is either still in flight or already recorded by the read.
            let names = try backend.blobNames()
            let flying = inFlight.withLock { $0 }
            let referenced = try await store.objectBlobs()
            for name in names where !referenced.contains(name) && !flying.contains(name) { backend.remove(name) }
        } catch {
            logger.error("cannot collect unused object blobs: \(ErrorText.describe(error))")
        }
    }

    // MARK: - Writing

    /// Stores `body` as `key` in `scope`, replacing an object of that key. `declaredSize` (the
    /// request's Content-Length) is checked against the limits before anything is read and
    /// against what arrived at the end.
    public func put<Body: AsyncSequence>(
        _ scope: ObjectScope, key: ObjectKey, body: Body, declaredSize: Int64?, by: Principal
    ) async throws -> ObjectInfo where Body.Element == ByteBuffer {
        try await store.checkObjectScope(scope)
        let limit = min(limits.maxObjectBytes, limits.maxBytes(scope.kind))
        let limitName = limits.maxObjectBytes <= limits.maxBytes(scope.kind) ? "the largest object allowed" : "the most a \(scope.kind.rawValue) may hold"
        if let declaredSize, declaredSize > limit {
            throw ObjectError.tooLarge(scope, key: key.text, limit: limit, what: limitName)
        }
        let writer = try backend.create()
        inFlight.withLock { _ = $0.insert(writer.blob) }
        defer { inFlight.withLock { _ = $0.remove(writer.blob) } }
        var hasher = SHA256()
        var size: Int64 = 0
        do {
            for try await buffer in body {
                size += Int64(buffer.readableBytes)
                if size > limit { throw ObjectError.tooLarge(scope, key: key.text, limit: limit, what: limitName) }
                try buffer.withUnsafeReadableBytes { bytes in
                    hasher.update(bufferPointer: bytes)
                    try writer.write(bytes)
                }
            }
            try Task.checkCancellation()
            if let declaredSize, size != declaredSize {
                throw ObjectError.incomplete(scope, key: key.text, received: size, expected: declaredSize)
            }
            try writer.commit()
        } catch let error as ObjectError {
            writer.abort()
            throw error
        } catch let error as InvalidObjectBody {
            writer.abort()
            throw ObjectError.invalidBody(scope, key: key.text, why: error.why)
        } catch {
            writer.abort()
            throw ObjectError.incomplete(scope, key: key.text, received: size, expected: declaredSize ?? -1)
        }
        let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        let c = scope.columns
        var info = ObjectInfo(
            scope: scope.kind, namespace: c.namespace.isEmpty ? nil : c.namespace, pipeline: c.pipeline.isEmpty ? nil : c.pipeline,
            run: c.run == 0 ? nil : c.run, extension: c.owner.isEmpty ? nil : c.owner, key: key.text, size: size, sha256: digest,
            createdAt: Date(), createdBy: by.name)
        info.blob = writer.blob
        let outcome: ObjectWriteOutcome
        do {
            outcome = try await store.putObject(info, in: scope, limits: limits, by: by)
        } catch {
            backend.remove(writer.blob)
            throw error
        }
        if let old = outcome.replacedBlob { backend.remove(old) }
        for gone in outcome.evicted { backend.remove(gone.blob) }
        return outcome.info
    }

    public func delete(_ scope: ObjectScope, key: ObjectKey, by: Principal) async throws {
        backend.remove(try await store.deleteObject(scope, key: key.text, by: by))
    }

    /// A deleted pipeline's objects go too, unless the admin turned cleanup off (they then come
    /// back if a pipeline of that name is created again).
    public func pipelineDeleted(namespace: String, pipeline: String) async {
        guard cleanup else { return }
        do {
            for b in try await store.deleteObjects(namespace: namespace, pipeline: pipeline) { backend.remove(b) }
        } catch {
            logger.error("cannot delete the objects of deleted pipeline \(namespace)/\(pipeline): \(ErrorText.describe(error))")
        }
    }

    public func namespaceDeleted(_ namespace: String) async {
        guard cleanup else { return }
        do {
            for b in try await store.deleteObjects(namespace: namespace, pipeline: nil) { backend.remove(b) }
        } catch {
            logger.error("cannot delete the objects of deleted namespace \(namespace): \(ErrorText.describe(error))")
        }
    }

    // MARK: - Reading

    public func info(_ scope: ObjectScope, key: ObjectKey) async throws -> ObjectInfo {
        try await store.object(scope, key: key.text)
    }

    public func list(_ scope: ObjectScope) async throws -> [ObjectInfo] { try await store.objects(scope) }

    /// Hands the object's bytes to `emit` chunk by chunk. The last chunk is given only once the
    /// whole content matched its SHA-256; otherwise this throws ``ObjectError/corrupt``.
    public func read(_ info: ObjectInfo, in scope: ObjectScope, _ emit: (ByteBuffer) async throws -> Void) async throws {
        let reader = try backend.open(info.blob)
        defer { reader.close() }
        var hasher = SHA256()
        var held: [UInt8]?
        var size: Int64 = 0
        while true {
            let bytes = try reader.read(upTo: Self.chunk)
            if bytes.isEmpty { break }
            size += Int64(bytes.count)
            bytes.withUnsafeBytes { hasher.update(bufferPointer: $0) }
            if let previous = held { try await emit(ByteBuffer(bytes: previous)) }
            held = bytes
        }
        let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        guard digest == info.sha256, size == info.size else {
            logger.error("object \(info.key) in \(scope) does not match its SHA-256 (\(digest) ≠ \(info.sha256)); the read was refused")
            throw ObjectError.corrupt(scope, key: info.key)
        }
        if let held { try await emit(ByteBuffer(bytes: held)) }
    }

    /// A small object as text, for an env value: checked, at most ``maxEnvValueBytes``, UTF-8 without NUL.
    public func text(_ scope: ObjectScope, key: ObjectKey) async throws -> String {
        let info = try await self.info(scope, key: key)
        guard info.size <= Self.maxEnvValueBytes else {
            throw ObjectError.notText(scope, key: key.text, why: "it is \(info.size) bytes; env values take at most \(Self.maxEnvValueBytes)")
        }
        var bytes: [UInt8] = []
        try await read(info, in: scope) { bytes += $0.readableBytesView }
        guard let text = String(validating: bytes, as: UTF8.self), !text.contains("\0") else {
            throw ObjectError.notText(scope, key: key.text, why: "it is not UTF-8 text")
        }
        return text
    }
}
