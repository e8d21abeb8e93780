import ExtensionSDK
import Foundation

/// Where a Nomad cluster's HTTP API is, and who Gofer is there.
public struct NomadEndpoint: Sendable {
    /// `http://host:4646` or `https://host:4646`, without a path.
    public var address: URL
    /// ACL token, sent as `X-Nomad-Token`.
    public var token: String?
    /// Nomad namespace of Gofer's jobs.
    public var namespace: String
    /// Region to target; nil for the agent's own.
    public var region: String?

    public init(address: URL, token: String?, namespace: String, region: String?) {
        self.address = address
        self.token = token
        self.namespace = namespace
        self.region = region
    }
}

/// One answer from Nomad: status, headers (lower-case names) and body.
public struct NomadResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    /// The body as text: Nomad's error bodies are plain text, reported as they are.
    public var text: String { String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }

    /// `X-Nomad-Index`: the state index of a blocking query's answer.
    public var index: UInt64? { headers["x-nomad-index"].flatMap { UInt64($0) } }

    public var json: JSONValue? { try? JSONParser().parse(body) }
}

/// The Nomad HTTP API over the SDK's HTTP client (HTTP, or HTTPS verified against a CA file).
/// Every request carries the namespace, region and token.
public struct NomadHTTP: Sendable {
    public let endpoint: NomadEndpoint
    let client: SimpleHTTPClient

    /// `caFile`: the PEM CA that signed Nomad's certificate (HTTPS); nil for the system's.
    public init?(endpoint: NomadEndpoint, caFile: String?) {
        var text = endpoint.address.absoluteString
        if text.hasSuffix("/") { text.removeLast() }
        guard let http = HTTPEndpoint(text, caFile: caFile), text.hasPrefix("http://") || text.hasPrefix("https://") else { return nil }
        self.endpoint = endpoint
        client = SimpleHTTPClient(endpoint: http)
    }

    static let queryAllowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))

    /// `path?query` with the namespace and region added.
    func target(_ path: String, _ query: [(String, String)]) -> String {
        var items = query
        items.append(("namespace", endpoint.namespace))
        if let region = endpoint.region { items.append(("region", region)) }
        let encoded = items.map {
            "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: Self.queryAllowed) ?? $0.1)"
        }
        return path + "?" + encoded.joined(separator: "&")
    }

    var headers: [String: String] {
        var h: [String: String] = [:]
        if let token = endpoint.token { h["X-Nomad-Token"] = token }
        return h
    }

    /// Sends one request. Failing to reach Nomad is ``ErrorCode/unavailable`` (retryable).
    public func send(
        _ method: String, _ path: String, query: [(String, String)] = [], body: JSONValue? = nil, timeout: Duration = .seconds(30)
    ) async throws -> NomadResponse {
        var h = headers
        if body != nil { h["Content-Type"] = "application/json" }
        do {
            let r = try await client.send(method, path: target(path, query), headers: h, body: body?.serialized(), timeout: timeout)
            return NomadResponse(status: r.status, headers: r.headers, body: r.body)
        } catch let error as HTTPClientError {
            try Task.checkCancellation()
            throw ProtocolError(.unavailable, "cannot reach Nomad at \(client.endpoint): \(error.message)", reason: "nomad.unreachable")
        }
    }

    /// A streamed GET (logs): the status and headers once the head arrives, then the body in
    /// chunks. Cancel the consuming task to end it.
    public func stream(_ path: String, query: [(String, String)]) -> AsyncThrowingStream<SimpleHTTPClient.Event, any Error> {
        client.stream("GET", path: target(path, query), headers: headers, timeout: nil)
    }
}
