import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GoferStore
import NIOCore

/// Answers an extension's `objects/get|put|delete|list`: its own objects, in the `extension`
/// scope under its installed name. Values travel in one frame (at most about 3 MB each).
public struct ExtensionObjectRequests: Sendable {
    let objects: Objects
    let `extension`: String
    /// The most an `objects/get` sends back (a frame is 4 MiB; base64 grows by a third).
    static let maxFrameValue = 3 << 20

    /// The answer, or nil when `method` is not an object method (the kind's handler takes it).
    func handle(_ method: String, _ params: JSONValue) async throws -> JSONValue? {
        guard let m = ProtocolMethod(rawValue: method),
            [.objectsGet, .objectsPut, .objectsDelete, .objectsList].contains(m)
        else { return nil }
        let scope = ObjectScope.extension(self.extension)
        let principal = Principal(kind: .system, id: "", name: "extension \(self.extension)")
        do {
            switch m {
            case .objectsGet:
                let key = try Self.key(try ProtocolCalls.objectsGet.decodeParams(params).key)
                let info = try await objects.info(scope, key: key)
                guard info.size <= Self.maxFrameValue else {
                    throw ProtocolError(.resourceExhausted, "object \"\(key)\" is \(info.size) bytes, more than one frame carries")
                }
                var bytes: [UInt8] = []
                try await objects.read(info, in: scope) { bytes += $0.readableBytesView }
                return try ProtocolCalls.objectsGet.encodeResult(SecretValue(bytes: bytes))
            case .objectsPut:
                let write = try ProtocolCalls.objectsPut.decodeParams(params)
                let key = try Self.key(write.key)
                guard let bytes = write.value.map({ Array($0.utf8) }) ?? write.valueB64.flatMap({ Data(base64Encoded: $0) }).map(Array.init) else {
                    throw ProtocolError.invalidParams(diagnostics: [Diagnostic(path: "/value", message: "give value (text) or valueB64 (base64)")])
                }
                let info = try await objects.put(
                    scope, key: key, body: [ByteBuffer(bytes: bytes)].async, declaredSize: Int64(bytes.count), by: principal)
                return try ProtocolCalls.objectsPut.encodeResult(ObjectStored(size: info.size, sha256: info.sha256))
            case .objectsDelete:
                let key = try Self.key(try ProtocolCalls.objectsDelete.decodeParams(params).key)
                do {
                    try await objects.delete(scope, key: key, by: principal)
                } catch ObjectError.notFound {}
                return .emptyObject
            default:
                return try ProtocolCalls.objectsList.encodeResult(ObjectKeys(keys: try await objects.list(scope).map(\.key)))
            }
        } catch let error as ObjectError {
            throw Self.protocolError(error)
        }
    }

    static func key(_ text: String) throws -> ObjectKey {
        do {
            return try ObjectKey(text)
        } catch {
            throw ProtocolError.invalidParams(diagnostics: [Diagnostic(path: "/key", message: error.description)])
        }
    }

    static func protocolError(_ error: ObjectError) -> ProtocolError {
        switch error {
        case .notFound: return ProtocolError(.notFound, error.description)
        case .tooLarge, .scopeFull: return ProtocolError(.resourceExhausted, error.description)
        case .storageFull, .storageFailed, .corrupt: return ProtocolError(.unavailable, error.description, retryable: true)
        case .incomplete, .invalidBody, .notText: return ProtocolError(.invalidParams, error.description)
        }
    }
}

/// A fixed list of buffers as an async sequence (one upload from memory).
extension Array where Element == ByteBuffer {
    var async: AsyncBufferList { AsyncBufferList(buffers: self) }
}

struct AsyncBufferList: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let buffers: [ByteBuffer]
    struct Iterator: AsyncIteratorProtocol {
        var rest: ArraySlice<ByteBuffer>
        mutating func next() async -> ByteBuffer? { rest.popFirst() }
    }
    func makeAsyncIterator() -> Iterator { Iterator(rest: buffers[...]) }
}
