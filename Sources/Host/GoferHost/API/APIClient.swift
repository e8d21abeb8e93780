import ExtensionSDK
import Foundation

/// A client of the Gofer REST API (used by the CLI and tests).
public struct APIClient: Sendable {
    public let http: SimpleHTTPClient
    public let base: String

    /// `address` is `host:port` or `http://host:port`.
    public init(address: String) throws {
        guard let endpoint = HTTPEndpoint(address) else {
            throw APIError(
                status: 0, code: "bad_host", message: "\"\(address)\" is not a server address; use host:port such as 127.0.0.1:8080")
        }
        http = SimpleHTTPClient(endpoint: endpoint)
        base = address
    }

    public static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        d.dateDecodingStrategy = .iso8601
        return d
    }()

    /// Sends a request and decodes the answer; an error answer is thrown as ``APIError``.
    public func call<T: Decodable>(_ method: String, _ path: String, body: JSONValue? = nil, as type: T.Type = T.self) async throws -> T {
        let data = try await raw(method, path, body: body)
        do {
            return try Self.decoder.decode(T.self, from: Data(data))
        } catch {
            throw APIError(status: 0, code: "bad_response", message: "unexpected answer from \(base) for \(method) \(path): \(error)")
        }
    }

    /// Sends a request and returns the raw body of a successful answer.
    public func raw(_ method: String, _ path: String, body: JSONValue? = nil) async throws -> [UInt8] {
        let response: HTTPResponse
        do {
            response = try await http.send(
                method, path: path, headers: body == nil ? [:] : ["Content-Type": "application/json"], body: body?.serialized(),
                timeout: .seconds(60))
        } catch {
            throw APIError(
                status: 0, code: "unreachable",
                message:
                    "cannot reach the Gofer server at \(base): \(error). Start one with `gofer service start`, or point --host / GOFER_HOST at it."
            )
        }
        guard (200..<300).contains(response.status) else {
            if var error = try? Self.decoder.decode(APIError.self, from: Data(response.body)) {
                error.status = response.status
                throw error
            }
            throw APIError(
                status: response.status, code: "http_\(response.status)", message: "HTTP \(response.status): \(response.text.prefix(200))")
        }
        return response.body
    }

    /// Streams a response body (logs, server-sent events).
    public func stream(_ path: String) -> AsyncThrowingStream<SimpleHTTPClient.Event, any Error> {
        http.stream("GET", path: path, timeout: nil)
    }

    /// Percent-encodes one path segment.
    public static func segment(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? s
    }
}
