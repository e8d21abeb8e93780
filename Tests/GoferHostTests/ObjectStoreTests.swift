import Crypto
import ExtensionSDK
import Foundation
import GoferConfig
@testable import GoferCore
@testable import GoferHost
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

/// The object store through the real server: keys that could escape, streamed round trips with
/// their checksum, eviction and expiry with their events, uploads that fail half-way, damaged
/// blobs, permissions and cleanup.
@Suite(.serialized)
struct ObjectStoreTests {
    static let pipeline = """
        id: art
        tasks:
          - id: one
            image: none
            command: ["true"]
        """

    /// Chunks of bytes as an upload body; `failAfter` cuts it off (a dropped connection).
    struct Chunks: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let chunks: [[UInt8]]
        var failAfter: Int?
        struct Cut: Error {}
        struct Iterator: AsyncIteratorProtocol {
            var chunks: [[UInt8]]
            var failAfter: Int?
            var index = 0
            mutating func next() async throws -> ByteBuffer? {
                if let failAfter, index >= failAfter { throw Cut() }
                guard index < chunks.count else { return nil }
                defer { index += 1 }
                return ByteBuffer(bytes: chunks[index])
            }
        }
        func makeAsyncIterator() -> Iterator { Iterator(chunks: chunks, failAfter: failAfter) }
    }

    static func random(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255) } }

    static func files(in dir: String) -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] }

    @Test func keysThatCouldReachOutsideTheirScopeAreRefused() throws {
        for bad in ["../x", "a/b", "/etc/passwd", "nul\0byte", String(repeating: "k", count: 10_000), ".hidden", "", "ünï", "sp ace"] {
            #expect(throws: ObjectKey.Invalid.self, "\(bad.prefix(20))") { try ObjectKey(bad) }
        }
        let long = (try? ObjectKey(String(repeating: "k", count: 10_000))) == nil
        #expect(long)
        do {
            _ = try ObjectKey("nul\0byte")
        } catch {
            #expect(error.description.contains("U+0000") && !error.description.contains("\0"), "the error shows the NUL, not the byte: \(error)")
        }
        #expect(try ObjectKey("build-1.2_x.tar.gz").text == "build-1.2_x.tar.gz")
        // Env references name keys the same way.
        #expect(throws: ObjectReference.ParseError.self) { try ObjectReference.parse("x=run_object{{../secret}}") }
        let parts = try ObjectReference.parse("v=pipeline_object{{ver}}-run_object{{sha}};my_object{{x}}")
        #expect(parts.count == 5, "\(parts)")
    }

    @Test func anExtensionsObjectRequestsAreCheckedLikeAnyOther() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            let requests = ExtensionObjectRequests(objects: h.server.objects, extension: "docker")
            await #expect { _ = try await requests.handle("objects/get", ["key": "../etc"]) } throws: {
                ($0 as? ProtocolError)?.code == .invalidParams && "\($0)".contains("is not an object key")
            }
            await #expect { _ = try await requests.handle("objects/get", ["key": "nope"]) } throws: { ($0 as? ProtocolError)?.code == .notFound }
            let put = try await requests.handle("objects/put", ["key": "k", "valueB64": "AP8="])
            #expect(put?["size"]?.intValue == 2)
            #expect(try await requests.handle("objects/get", ["key": "k"])?["valueB64"]?.stringValue == "AP8=")
            #expect(try await requests.handle("objects/list", .emptyObject)?["keys"] == ["k"])
            _ = try await requests.handle("objects/delete", ["key": "k"])
            _ = try await requests.handle("objects/delete", ["key": "k"])  // deleting what is gone succeeds
            #expect(try await requests.handle("trigger/emit", .emptyObject) == nil, "other methods go to the kind's handler")
        }
    }

    @Test func anObjectRoundTripsThroughTheAPIWithItsChecksum() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(Self.pipeline)
            let bytes = Self.random(3 << 20 + 17)
            try await h.withRouter { client in
                let base = "/api/namespaces/default/pipelines/art/objects"
                let put = try await client.execute(uri: base + "/dist.bin", method: .put, body: ByteBuffer(bytes: bytes))
                #expect(put.status == .created, "\(String(buffer: put.body))")
                let info = try APIClient.decoder.decode(ObjectInfo.self, from: Data(buffer: put.body))
                let expected = SHA256Hex.of(bytes)
                #expect(info.size == Int64(bytes.count) && info.sha256 == expected && info.key == "dist.bin")
                let get = try await client.execute(uri: base + "/dist.bin", method: .get)
                #expect(get.status == .ok && Array(buffer: get.body) == bytes)
                #expect(get.headers[HTTPField.Name("X-Gofer-SHA256")!] == expected)
                let list = try await client.execute(uri: base, method: .get)
                #expect(String(buffer: list.body).contains("\"key\":\"dist.bin\""))
                // Bad keys: a clear 400 naming the key, and nothing written anywhere.
                for bad in ["..%2Fescape", "a%00b", String(repeating: "k", count: 300)] {
                    let r = try await client.execute(uri: base + "/" + bad, method: .put, body: ByteBuffer(string: "x"))
                    #expect(r.status == .badRequest && String(buffer: r.body).contains("is not an object key"), "\(bad): \(String(buffer: r.body))")
                }
                // Another pipeline's object is not reachable by key.
                let other = try await client.execute(uri: "/api/namespaces/default/pipelines/nope/objects/dist.bin", method: .get)
                #expect(other.status == .notFound)
                let del = try await client.execute(uri: base + "/dist.bin", method: .delete)
                #expect(del.status == .noContent)
                #expect(try await client.execute(uri: base + "/dist.bin", method: .get).status == .notFound)
            }
            #expect(Self.files(in: h.dir.path + "/objects/blobs").isEmpty, "the deleted object's bytes are gone")
            let kinds = try await h.server.store.events(namespace: "default", pipeline: "art").items.map(\.kind)
            #expect(kinds.contains(.objectWritten) && kinds.contains(.objectDeleted))
        }
    }

    @Test func pipelineObjectsSurviveRunsAndTheOldestIsEvictedAtTheLimit() async throws {
        let h = try await ServerHarness { $0.objectLimits.pipelineMaxCount = 3 }
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(Self.pipeline)
            let objects = h.server.objects
            let scope = ObjectScope.pipeline(namespace: "default", pipeline: "art")
            for i in 1...3 {
                _ = try await objects.put(scope, key: try ObjectKey("cache-\(i)"), body: Chunks(chunks: [Array("v\(i)".utf8)]), declaredSize: nil, by: .system)
            }
            _ = try await h.runToEnd("art")
            _ = try await h.runToEnd("art")
            #expect(try await objects.list(scope).map(\.key) == ["cache-1", "cache-2", "cache-3"], "kept across runs")
            _ = try await objects.put(scope, key: try ObjectKey("cache-4"), body: Chunks(chunks: [Array("v4".utf8)]), declaredSize: nil, by: .system)
            #expect(try await objects.list(scope).map(\.key) == ["cache-2", "cache-3", "cache-4"], "the oldest went first")
            let evicted = try await h.server.store.events(namespace: "default", pipeline: "art").items.filter { $0.kind == .objectEvicted }
            #expect(evicted.count == 1 && evicted.first?.details["key"] == "cache-1", "\(evicted)")
            #expect(Self.files(in: h.dir.path + "/objects/blobs").count == 3, "the evicted object's bytes are gone")
            // Replacing a key keeps one object and one blob.
            _ = try await objects.put(scope, key: try ObjectKey("cache-4"), body: Chunks(chunks: [Array("v4b".utf8)]), declaredSize: nil, by: .system)
            #expect(try await objects.text(scope, key: try ObjectKey("cache-4")) == "v4b")
            #expect(Self.files(in: h.dir.path + "/objects/blobs").count == 3)
        }
    }

    @Test func runObjectsExpireOnceTheRunIsOldEnough() async throws {
        let h = try await ServerHarness { $0.objectLimits.runKeepRuns = 2 }
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(Self.pipeline)
            let (first, _) = try await h.runToEnd("art")
            let scope = ObjectScope.run(namespace: "default", pipeline: "art", run: first.id)
            _ = try await h.server.objects.put(scope, key: try ObjectKey("report.txt"), body: Chunks(chunks: [Array("ok".utf8)]), declaredSize: nil, by: .system)
            _ = try await h.runToEnd("art")
            #expect(try await h.server.objects.list(scope).count == 1, "one newer run: still kept")
            _ = try await h.runToEnd("art")
            var gone = false
            for _ in 0..<600 where !gone {
                gone = try await h.server.objects.list(scope).isEmpty
                if !gone { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(gone, "two newer runs: expired")
            let expired = try await h.server.store.events(namespace: "default", pipeline: "art").items.filter { $0.kind == .objectExpired }
            #expect(expired.count == 1 && expired.first?.run == first.id && expired.first?.details["key"] == "report.txt", "\(expired)")
            #expect(Self.files(in: h.dir.path + "/objects/blobs").isEmpty)
        }
    }

    @Test func anUploadThatFailsHalfwayLeavesNothing() async throws {
        let h = try await ServerHarness { $0.objectLimits.maxObjectBytes = 1 << 20 }
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(Self.pipeline)
            let objects = h.server.objects
            let scope = ObjectScope.pipeline(namespace: "default", pipeline: "art")
            let key = try ObjectKey("half")
            _ = try await objects.put(scope, key: key, body: Chunks(chunks: [Array("old".utf8)]), declaredSize: nil, by: .system)
            // The connection drops after two chunks.
            await #expect(throws: ObjectError.self) {
                _ = try await objects.put(scope, key: key, body: Chunks(chunks: [Self.random(1000), Self.random(1000), Self.random(1000)], failAfter: 2), declaredSize: 3000, by: .system)
            }
            // The body ends before its Content-Length.
            await #expect {
                _ = try await objects.put(scope, key: key, body: Chunks(chunks: [Self.random(10)]), declaredSize: 11, by: .system)
            } throws: { ($0 as? ObjectError).map { if case .incomplete = $0 { true } else { false } } ?? false }
            // Over the size limit: refused up front when declared, and mid-stream when not.
            await #expect {
                _ = try await objects.put(scope, key: key, body: Chunks(chunks: []), declaredSize: 2 << 20, by: .system)
            } throws: { ($0 as? ObjectError).map { if case .tooLarge = $0 { true } else { false } } ?? false }
            await #expect {
                _ = try await objects.put(scope, key: key, body: Chunks(chunks: Array(repeating: Self.random(300_000), count: 4)), declaredSize: nil, by: .system)
            } throws: { ($0 as? ObjectError).map { if case .tooLarge = $0 { true } else { false } } ?? false }
            #expect(try await objects.text(scope, key: key) == "old", "the stored object is untouched")
            #expect(Self.files(in: h.dir.path + "/objects/uploads").isEmpty, "no partial upload is left")
            #expect(Self.files(in: h.dir.path + "/objects/blobs").count == 1)
        }
    }

    /// What a server killed mid-upload leaves — a partial upload, a blob committed but never
    /// recorded — is gone after the next start; recorded objects stay.
    @Test func theNextStartRemovesWhatACrashLeftBehind() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(Self.pipeline)
            let root = h.dir.path + "/objects-crash"
            let before = Objects(store: h.server.store, backend: try LocalObjectBackend(root: root))
            let kept = try await before.put(
                .pipeline(namespace: "default", pipeline: "art"), key: try ObjectKey("kept"), body: Chunks(chunks: [[1, 2, 3]]), declaredSize: nil,
                by: .system)
            let orphan = UUID().uuidString.lowercased()
            #expect(FileManager.default.createFile(atPath: root + "/uploads/" + UUID().uuidString.lowercased(), contents: Data([9, 9])))
            #expect(FileManager.default.createFile(atPath: root + "/blobs/" + orphan, contents: Data([7])))
            let after = Objects(store: h.server.store, backend: try LocalObjectBackend(root: root))
            await after.start(bus: EventBus())
            after.stop()
            #expect(Self.files(in: root + "/uploads").isEmpty)
            #expect(Self.files(in: root + "/blobs").sorted() == [kept.blob], "only the recorded object's blob is left")
            #expect(try await after.text(.pipeline(namespace: "default", pipeline: "art"), key: try ObjectKey("kept")) == "\u{1}\u{2}\u{3}")
        }
    }

    /// A backend whose disk fills after `capacity` bytes.
    struct FullDisk: ObjectBackend {
        let inner: LocalObjectBackend
        let capacity: Int
        final class Writer: BlobWriter {
            let inner: any BlobWriter
            var left: Int
            init(_ inner: any BlobWriter, _ left: Int) {
                self.inner = inner
                self.left = left
            }
            var blob: String { inner.blob }
            func write(_ bytes: UnsafeRawBufferPointer) throws(ObjectError) {
                left -= bytes.count
                if left < 0 {
                    inner.abort()
                    throw ObjectError.storageFull(path: "/full")
                }
                try inner.write(bytes)
            }
            func commit() throws(ObjectError) { try inner.commit() }
            func abort() { inner.abort() }
        }
        func create() throws(ObjectError) -> any BlobWriter { Writer(try inner.create(), capacity) }
        func open(_ blob: String) throws(ObjectError) -> any BlobReader { try inner.open(blob) }
        func remove(_ blob: String) { inner.remove(blob) }
        func blobNames() throws(ObjectError) -> [String] { try inner.blobNames() }
        func removeUnfinishedUploads() { inner.removeUnfinishedUploads() }
    }

    @Test func aDiskThatFillsDuringAnUploadKeepsNothingAndSaysSo() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(Self.pipeline)
            let root = h.dir.path + "/objects-full"
            let objects = Objects(store: h.server.store, backend: FullDisk(inner: try LocalObjectBackend(root: root), capacity: 5000))
            let scope = ObjectScope.pipeline(namespace: "default", pipeline: "art")
            await #expect {
                _ = try await objects.put(scope, key: try ObjectKey("big"), body: Chunks(chunks: Array(repeating: Self.random(4000), count: 3)), declaredSize: nil, by: .system)
            } throws: { error in
                (error as? ObjectError) == .storageFull(path: "/full") && APIError.from(error).status == 507
            }
            #expect(try await objects.list(scope).isEmpty)
            #expect(Self.files(in: root + "/uploads").isEmpty && Self.files(in: root + "/blobs").isEmpty)
            // The real thing: a write to a full device comes out as storage full.
            let full = LocalObjectBackend.failure("/dev/full", ENOSPC)
            #expect(full == .storageFull(path: "/dev/full"))
        }
    }

    @Test func aDamagedObjectIsNeverServedWhole() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(Self.pipeline)
            let scope = ObjectScope.pipeline(namespace: "default", pipeline: "art")
            let bytes = Self.random(600_000)
            let info = try await h.server.objects.put(scope, key: try ObjectKey("img"), body: Chunks(chunks: [bytes]), declaredSize: nil, by: .system)
            // Flip one byte in the stored blob.
            let path = h.dir.path + "/objects/blobs/" + info.blob
            var damaged = try Data(contentsOf: URL(fileURLWithPath: path))
            damaged[damaged.count - 1] ^= 0xff
            try damaged.write(to: URL(fileURLWithPath: path))
            var received = 0
            await #expect {
                try await h.server.objects.read(info, in: scope) { received += $0.readableBytes }
            } throws: { ($0 as? ObjectError) == .corrupt(scope, key: "img") }
            #expect(received < bytes.count, "the last chunk is withheld: \(received)")
            // Over HTTP: the client sees a short transfer, not the damaged bytes as if whole.
            let port = try await h.server.startHTTP()
            let client = SimpleHTTPClient(endpoint: .tcp(host: "127.0.0.1", port: port))
            let response = try? await client.send(
                "GET", path: "/api/namespaces/default/pipelines/art/objects/img", headers: ["Authorization": "Bearer \(h.adminToken)"])
            #expect(response == nil || response!.body.count < bytes.count, "got \(response?.body.count ?? -1) bytes")
        }
    }

    @Test func objectsNeedTheirPermissionAndStayInTheirNamespace() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(Self.pipeline)
            _ = try await h.server.store.createNamespace(id: "other", name: nil, description: "")
            _ = try await h.apply(Self.pipeline, namespace: "other")
            let reader = try await h.makeToken("reader", roles: ["read-only"])
            let outsider = try await h.makeToken("outsider", roles: ["user"], namespaces: ["other"])
            _ = try await h.server.objects.put(
                .pipeline(namespace: "default", pipeline: "art"), key: try ObjectKey("k"), body: Chunks(chunks: [[1, 2, 3]]), declaredSize: nil,
                by: .system)
            let uri = "/api/namespaces/default/pipelines/art/objects/k"
            try await h.withRouter(token: reader) { client in
                #expect(try await client.execute(uri: uri, method: .get).status == .ok)
                let put = try await client.execute(uri: uri, method: .put, body: ByteBuffer(string: "x"))
                #expect(put.status == .forbidden && String(buffer: put.body).contains("objects:write"))
            }
            try await h.withRouter(token: outsider) { client in
                let mine = try await client.execute(uri: uri, method: .get)
                #expect(mine.status == .forbidden)
                let theirs = try await client.execute(uri: "/api/namespaces/other/pipelines/art/objects/k", method: .get)
                #expect(theirs.status == .notFound)
            }
        }
    }

    /// An extension keeps its own state as objects over the protocol (`objects/*`), whatever its kind.
    @Test func anExtensionKeepsItsOwnObjectsAcrossRuns() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            try await h.server.extensions.install("echo", .latest)
            _ = try await h.apply(
                "id: mem\ntasks:\n  - { id: a, extension: echo, settings: { message: \"first\", remember: last, recall: last } }\n")
            let (one, _) = try await h.runToEnd("mem")
            #expect(h.log("mem", run: one.id, task: "a").hasPrefix("recalled: nothing\nfirst\n"), "\(h.log("mem", run: one.id, task: "a"))")
            _ = try await h.apply(
                "id: mem\ntasks:\n  - { id: a, extension: echo, settings: { message: \"second\", remember: last, recall: last } }\n")
            let (two, _) = try await h.runToEnd("mem")
            #expect(h.log("mem", run: two.id, task: "a").hasPrefix("recalled: first\nsecond\n"), "\(h.log("mem", run: two.id, task: "a"))")
            // Kept by the host, in the extension's own scope; admins see them through the API.
            #expect(try await h.server.objects.text(.extension("echo"), key: try ObjectKey("last")) == "second")
            try await h.withRouter { client in
                let r = try await client.execute(uri: "/api/extensions/echo/objects/last", method: .get)
                #expect(r.status == .ok && String(buffer: r.body) == "second")
            }
        }
    }

    @Test func deletingAPipelineDeletesItsObjectsUnlessCleanupIsOff() async throws {
        for cleanup in [true, false] {
            let h = try await ServerHarness { $0.objectCleanup = cleanup }
            _ = try await h.apply(Self.pipeline)
            let (run, _) = try await h.runToEnd("art")
            _ = try await h.server.objects.put(
                .pipeline(namespace: "default", pipeline: "art"), key: try ObjectKey("p"), body: Chunks(chunks: [[1]]), declaredSize: nil, by: .system)
            _ = try await h.server.objects.put(
                .run(namespace: "default", pipeline: "art", run: run.id), key: try ObjectKey("r"), body: Chunks(chunks: [[2]]), declaredSize: nil,
                by: .system)
            try await h.withRouter { client in
                let deleted = try await client.execute(uri: "/api/namespaces/default/pipelines/art", method: .delete)
                #expect(deleted.status == .noContent)
            }
            let blobs = Self.files(in: h.dir.path + "/objects/blobs").count
            #expect(blobs == (cleanup ? 0 : 2), "cleanup \(cleanup): \(blobs) blobs left")
            _ = try await h.apply(Self.pipeline)
            let back = try await h.server.objects.list(.pipeline(namespace: "default", pipeline: "art")).map(\.key)
            #expect(back == (cleanup ? [] : ["p"]))
            await h.stop()
        }
    }
}

/// Lower-case hex SHA-256, as the store records it.
enum SHA256Hex {
    static func of(_ bytes: [UInt8]) -> String { SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined() }
}

/// The streaming base64 decoder behind `?encoding=base64`.
struct Base64ChunksTests {
    static func decode(_ chunks: [String]) async throws -> [UInt8] {
        var out: [UInt8] = []
        let body = ObjectStoreTests.Chunks(chunks: chunks.map { Array($0.utf8) })
        for try await b in Base64Chunks(upstream: body) { out += b.readableBytesView }
        return out
    }

    @Test func decodesWhateverWayTheTextIsSplit() async throws {
        for n in [0, 1, 2, 3, 4, 57, 58, 1000] {
            let bytes = ObjectStoreTests.random(n)
            // As `base64` writes it: 76 columns and a newline.
            let text = Data(bytes).base64EncodedString(options: [.lineLength76Characters, .endLineWithLineFeed]) + "\n"
            for split in [1, 3, 5, 77, 4096] {
                let chunks = stride(from: 0, to: text.utf8.count, by: split).map { String(decoding: Array(text.utf8)[$0..<min($0 + split, text.utf8.count)], as: UTF8.self) }
                #expect(try await Self.decode(chunks) == bytes, "\(n) bytes split every \(split)")
            }
        }
    }

    @Test func refusesWhatIsNotBase64SayingWhere() async throws {
        await #expect {
            _ = try await Self.decode(["QUJD", "RE*F"])
        } throws: { ($0 as? InvalidObjectBody)?.why.contains("'*' at offset 6") == true }
        await #expect(throws: InvalidObjectBody.self) { _ = try await Self.decode(["QQ==QQ"]) }
    }
}
