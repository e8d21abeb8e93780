import ExtensionSDK
import Foundation

/// A client of the Gofer REST API (used by the CLI and tests).
public struct APIClient: Sendable {
    let transport: any APITransport
    public let base: String
    /// Sent as `Authorization: Bearer …`.
    public let token: String?
    /// The CA file an https server's certificate is checked against (nil: the system's CAs).
    public let caCertificate: String?

    /// `address` is `host:port`, `http://host:port` or `https://host:port`. For HTTPS,
    /// `caCertificate` is a PEM file of the authority that signed the server's certificate
    /// (default: the system's trusted authorities).
    public init(address: String, token: String? = nil, caCertificate: String? = nil) throws {
        if address.lowercased().hasPrefix("https://") {
            transport = try TLSTransport(base: address, caCertificate: caCertificate)
        } else {
            guard let endpoint = HTTPEndpoint(address) else {
                throw APIError(
                    status: 0, code: "bad_host",
                    message: "\"\(address)\" is not a server address; use host:port such as 127.0.0.1:8080, or https://host:port")
            }
            transport = SimpleHTTPClient(endpoint: endpoint)
        }
        base = address
        self.token = token
        self.caCertificate = caCertificate
    }

    var authorization: [String: String] { token.map { ["Authorization": "Bearer \($0)"] } ?? [:] }

    public static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        d.dateDecodingStrategy = .rfc3339
        return d
    }()

    /// Sends a request and decodes the answer; an error answer is thrown as ``APIError``.
    public func call<T: Decodable>(_ method: String, _ path: String, body: JSONValue? = nil, as type: T.Type = T.self) async throws -> T {
        let data = try await raw(method, path, body: body)
        do {
            return try Self.decoder.decode(T.self, from: Data(data))
        } catch {
            throw APIError(status: 0, code: "bad_response", message: ErrorText.wrapping("unexpected answer from \(base) for \(method) \(path)", error), cause: error)
        }
    }

    /// Sends a typed request body (``APIRequest``: the declaration the server decodes) and decodes
    /// the answer; an error answer is thrown as ``APIError``.
    public func call<T: Decodable, Body: APIRequest>(_ method: String, _ path: String, request: Body, as type: T.Type = T.self) async throws -> T {
        let body: JSONValue
        do {
            body = try JSONCodec.encode(request)
        } catch {
            throw APIError(status: 0, code: "bad_request", message: ErrorText.wrapping("cannot encode the request for \(method) \(path)", error), cause: error)
        }
        return try await call(method, path, body: body, as: type)
    }

    /// Sends a typed request body and returns the raw body of a successful answer.
    public func raw<Body: APIRequest>(_ method: String, _ path: String, request: Body) async throws -> [UInt8] {
        let body: JSONValue
        do {
            body = try JSONCodec.encode(request)
        } catch {
            throw APIError(status: 0, code: "bad_request", message: ErrorText.wrapping("cannot encode the request for \(method) \(path)", error), cause: error)
        }
        return try await raw(method, path, body: body)
    }

    /// Sends a request and returns the raw body of a successful answer.
    public func raw(_ method: String, _ path: String, body: JSONValue? = nil) async throws -> [UInt8] {
        let response: HTTPResponse
        do {
            response = try await transport.send(
                method, path: path,
                headers: authorization.merging(body == nil ? [:] : ["Content-Type": "application/json"]) { a, _ in a }, body: body?.serialized(),
                timeout: .seconds(60))
        } catch {
            throw APIError(
                status: 0, code: "unreachable",
                message: ErrorText.wrapping("cannot reach the Gofer server at \(base)", error)
                    + ". Start one with `gofer service start`, or point --host / GOFER_HOST at it.", cause: error)
        }
        guard (200..<300).contains(response.status) else { throw Self.failure(response.status, response.body) }
        return response.body
    }

    /// Streams a response body (logs, server-sent events). A refusal (not 2xx) throws the
    /// server's own error — its code and reason (e.g. why a log cannot be read) — instead of
    /// yielding the error's body as if it were the stream.
    public func stream(_ path: String) -> RefusalCheckedStream {
        RefusalCheckedStream(events: transport.stream("GET", path: path, headers: authorization, body: nil, timeout: nil))
    }


    /// Percent-encodes one path segment.
    public static func segment(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? s
    }
}

/// A response's events, with a refusal (not 2xx) thrown as the server's ``APIError``.
public struct RefusalCheckedStream: AsyncSequence, Sendable {
    public typealias Element = SimpleHTTPClient.Event
    let events: AsyncThrowingStream<SimpleHTTPClient.Event, any Error>

    public struct AsyncIterator: AsyncIteratorProtocol {
        var inner: AsyncThrowingStream<SimpleHTTPClient.Event, any Error>.AsyncIterator

        public mutating func next() async throws -> SimpleHTTPClient.Event? {
            guard let event = try await inner.next() else { return nil }
            guard case .head(let status, _) = event, !(200..<300).contains(status) else { return event }
            // An error body is small: at most 64 KiB of it is read.
            var body: [UInt8] = []
            while body.count < 65_536, let more = try await inner.next() {
                if case .body(let bytes) = more { body += bytes.prefix(65_536 - body.count) }
            }
            throw APIClient.failure(status, body)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(inner: events.makeAsyncIterator()) }
}
