import AsyncHTTPClient
import Crypto
import ExtensionSDK
import Foundation
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
    import Glibc
#endif

/// Chunks read from a file descriptor (a file, or stdin), for streamed uploads.
public struct FileChunks: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    let fd: Int32
    let progress: (@Sendable (Int64) -> Void)?

    public init(fd: Int32, progress: (@Sendable (Int64) -> Void)? = nil) {
        self.fd = fd
        self.progress = progress
    }

    public struct Iterator: AsyncIteratorProtocol {
        let fd: Int32
        let progress: (@Sendable (Int64) -> Void)?
        var total: Int64 = 0

        public mutating func next() async throws -> ByteBuffer? {
            var buffer = [UInt8](repeating: 0, count: 256 * 1024)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw APIError(status: 0, code: "read_failed", message: "cannot read the input: \(String(cString: strerror(errno)))")
                }
                if n == 0 { return nil }
                total += Int64(n)
                progress?(total)
                return ByteBuffer(bytes: buffer[0..<n])
            }
        }
    }

    public func makeAsyncIterator() -> Iterator { Iterator(fd: fd, progress: progress) }
}

extension APIClient {
    /// The server's URL with a scheme, for AsyncHTTPClient.
    var url: String {
        let b = base.hasSuffix("/") ? String(base.dropLast()) : base
        return b.lowercased().hasPrefix("http://") || b.lowercased().hasPrefix("https://") ? b : "http://" + b
    }

    /// Uploads `body` to `path` as a stream (nothing is held in memory); `length` when known
    /// (a file) lets the server refuse a too-large object before it is sent.
    public func upload<Body: AsyncSequence & Sendable>(_ method: String, _ path: String, body: Body, length: Int64?) async throws -> [UInt8]
    where Body.Element == ByteBuffer {
        let client = (transport as? TLSTransport)?.client ?? HTTPClient.shared
        var request = HTTPClientRequest(url: url + path)
        request.method = HTTPMethod(rawValue: method)
        for (k, v) in authorization { request.headers.add(name: k, value: v) }
        request.headers.add(name: "Content-Type", value: "application/octet-stream")
        request.body = .stream(body, length: length.map { .known($0) } ?? .unknown)
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .hours(24))
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(status: 0, code: "unreachable", message: ErrorText.wrapping("the upload to \(base) failed", error), cause: error)
        }
        let answer = try await response.body.collect(upTo: 1 << 20)
        let bytes = Array(answer.readableBytesView)
        guard (200..<300).contains(Int(response.status.code)) else { throw Self.failure(Int(response.status.code), bytes) }
        return bytes
    }

    /// Streams `path`'s body to `emit` and checks it against the `X-Gofer-SHA256` the server
    /// sent: a transfer cut short or damaged is an error, never a silently wrong file.
    public func download(_ path: String, _ emit: ([UInt8]) throws -> Void) async throws {
        var status = 0
        var expected: String?
        var length: Int64?
        var errorBody: [UInt8] = []
        var hasher = SHA256()
        var received: Int64 = 0
        do {
            for try await event in stream(path) {
                switch event {
                case .head(let s, let headers):
                    status = s
                    expected = headers["x-gofer-sha256"]
                    length = headers["content-length"].flatMap { Int64($0) }
                case .body(let bytes):
                    guard (200..<300).contains(status) else {
                        errorBody += bytes
                        continue
                    }
                    received += Int64(bytes.count)
                    bytes.withUnsafeBytes { hasher.update(bufferPointer: $0) }
                    try emit(bytes)
                }
            }
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(status: 0, code: "transfer_failed", message: ErrorText.wrapping("the download of \(path) broke off after \(received) bytes", error), cause: error)
        }
        guard (200..<300).contains(status) else { throw Self.failure(status, errorBody) }
        if let length, received != length {
            throw APIError(
                status: 0, code: "transfer_failed",
                message: "the download broke off after \(received) of \(length) bytes (the server refuses to send an object whose checksum no longer matches); what was written is incomplete")
        }
        let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        if let expected, digest != expected {
            throw APIError(status: 0, code: "checksum_mismatch", message: "the downloaded bytes hash to \(digest), not \(expected); what was written is damaged")
        }
    }

    /// The server's error in a refused answer (its code and reason), or one naming the status and
    /// the start of the body.
    static func failure(_ status: Int, _ body: [UInt8]) -> APIError {
        if var error = try? decoder.decode(APIError.self, from: Data(body)) {
            error.status = status
            return error
        }
        return APIError(status: status, code: "http_\(status)", message: "HTTP \(status): \(String(decoding: body.prefix(200), as: UTF8.self))")
    }
}
