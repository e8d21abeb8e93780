import AsyncHTTPClient
import ExtensionSDK
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// How ``APIClient`` sends requests: plain HTTP with the SDK's small client, or HTTPS.
protocol APITransport: Sendable {
    func send(
        _ method: String, path: String, headers: [String: String], body: [UInt8]?, timeout: Duration, maxBody: Int
    ) async throws -> HTTPResponse
    func stream(_ method: String, path: String, headers: [String: String], body: [UInt8]?, timeout: Duration?)
        -> AsyncThrowingStream<SimpleHTTPClient.Event, any Error>
}

extension APITransport {
    func send(_ method: String, path: String, headers: [String: String], body: [UInt8]?, timeout: Duration) async throws -> HTTPResponse {
        try await send(method, path: path, headers: headers, body: body, timeout: timeout, maxBody: 64 << 20)
    }
}

extension SimpleHTTPClient: APITransport {}

/// HTTPS through AsyncHTTPClient, trusting the system's authorities or one CA file.
struct TLSTransport: APITransport {
    let base: String
    let client: HTTPClient

    /// One client per CA file for the life of the process (an HTTPClient must outlive its requests).
    private static let clients = Mutex<[String: HTTPClient]>([:])

    init(base: String, caCertificate: String?) throws {
        self.base = base.hasSuffix("/") ? String(base.dropLast()) : base
        let key = caCertificate ?? ""
        if let existing = Self.clients.withLock({ $0[key] }) {
            client = existing
            return
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caCertificate {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caCertificate))
            } catch {
                throw APIError(status: 0, code: "bad_ca", message: ErrorText.wrapping("cannot read the CA certificate \(caCertificate)", error), cause: error)
            }
        }
        let made = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        client = Self.clients.withLock { all in
            if let existing = all[key] { return existing }
            all[key] = made
            return made
        }
    }

    func request(_ method: String, _ path: String, _ headers: [String: String], _ body: [UInt8]?) -> HTTPClientRequest {
        var r = HTTPClientRequest(url: base + path)
        r.method = HTTPMethod(rawValue: method)
        for (k, v) in headers { r.headers.add(name: k, value: v) }
        if let body { r.body = .bytes(ByteBuffer(bytes: body)) }
        return r
    }

    static func headers(_ h: HTTPHeaders) -> [String: String] {
        var out: [String: String] = [:]
        for (k, v) in h { out[k.lowercased()] = v }
        return out
    }

    func send(
        _ method: String, path: String, headers: [String: String], body: [UInt8]?, timeout: Duration, maxBody: Int
    ) async throws -> HTTPResponse {
        let c = timeout.components
        let response = try await client.execute(
            request(method, path, headers, body), timeout: .milliseconds(c.seconds * 1000 + c.attoseconds / 1_000_000_000_000_000))
        let buffer = try await response.body.collect(upTo: maxBody)
        return HTTPResponse(status: Int(response.status.code), headers: Self.headers(response.headers), body: Array(buffer.readableBytesView))
    }

    func stream(_ method: String, path: String, headers: [String: String], body: [UInt8]?, timeout: Duration?)
        -> AsyncThrowingStream<SimpleHTTPClient.Event, any Error>
    {
        let request = request(method, path, headers, body)
        let client = client
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let response = try await client.execute(request, timeout: .hours(24 * 365))
                    continuation.yield(.head(status: Int(response.status.code), headers: Self.headers(response.headers)))
                    for try await chunk in response.body { continuation.yield(.body(Array(chunk.readableBytesView))) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
