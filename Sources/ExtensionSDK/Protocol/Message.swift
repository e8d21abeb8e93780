/// A JSON-RPC request id: a non-negative integer up to 2^53−1 or a string of at most 128 characters.
public enum RequestID: Sendable, Hashable, CustomStringConvertible {
    /// An integer id.
    case int(Int64)
    /// A string id.
    case string(String)

    /// The id as it goes on the wire.
    public var json: JSONValue {
        switch self {
        case .int(let i): return .int(i)
        case .string(let s): return .string(s)
        }
    }

    /// Validates an id from the wire; `nil` when it is not an acceptable id.
    public init?(json: JSONValue) {
        switch json {
        case .int(let i) where i >= 0 && i <= 9_007_199_254_740_991: self = .int(i)
        case .string(let s) where s.count <= 128: self = .string(s)
        default: return nil
        }
    }

    /// The id as text.
    public var description: String {
        switch self {
        case .int(let i): return String(i)
        case .string(let s): return "\"\(s)\""
        }
    }
}

/// One decoded protocol frame.
public enum Message: Sendable {
    /// A request: answer it exactly once.
    case request(id: RequestID, method: String, params: JSONValue)
    /// A notification: never answered.
    case notification(method: String, params: JSONValue)
    /// The answer to a request this side sent.
    case response(id: RequestID, result: Result<JSONValue, ProtocolError>)
    /// An error answering a frame whose id could not be read (`"id": null`).
    case unidentifiedError(ProtocolError)
}

/// Why a frame was refused, and how to answer it.
public struct FrameError: Error, Sendable {
    /// The error to send back.
    public var error: ProtocolError
    /// The id to answer to, when it could be recovered (else the answer carries `id: null`).
    public var id: RequestID?
}

/// Encodes and decodes frames: one compact JSON object per line.
public enum Frame {
    /// The protocol version string put in every frame.
    public static let jsonrpc = "2.0"

    /// Decodes one line (without its LF; a trailing CR is tolerated).
    public static func decode(_ line: some Collection<UInt8>, parser: JSONParser = JSONParser()) throws(FrameError) -> Message {
        try decode(Array(line), parser: parser)
    }

    /// Decodes one line (the concrete, fast overload).
    public static func decode(_ line: [UInt8], parser: JSONParser = JSONParser()) throws(FrameError) -> Message {
        let value: JSONValue
        do {
            value = try parser.parse(line)
        } catch {
            throw FrameError(error: ProtocolError(.parseError, "parse error", cause: error), id: nil)
        }
        return try decode(value)
    }

    /// Checks a parsed value against the JSON-RPC 2.0 envelope rules of protocol v1.
    public static func decode(_ value: JSONValue) throws(FrameError) -> Message {
        guard case .object(let o) = value else {
            let what = value.typeName == "array" ? "batches are not supported; send one object per line" : "a frame must be a JSON object"
            throw FrameError(error: ProtocolError(.invalidRequest, "invalid request: \(what)"), id: nil)
        }
        var id: RequestID?
        if o["id"] == .null, o["method"] == nil, o["jsonrpc"] == .string(jsonrpc), let error = o["error"], case .object = error {
            return .unidentifiedError(ProtocolError(json: error))
        }
        if let rawID = o["id"] {
            guard let parsed = RequestID(json: rawID) else {
                throw FrameError(
                    error: ProtocolError(
                        .invalidRequest,
                        "invalid request: \"id\" must be an integer in 0…2^53-1 or a string of at most 128 characters, not \(rawID)"),
                    id: nil)
            }
            id = parsed
        }
        guard o["jsonrpc"] == .string(jsonrpc) else {
            throw FrameError(error: ProtocolError(.invalidRequest, "invalid request: \"jsonrpc\" must be \"2.0\""), id: id)
        }
        if let method = o["method"] {
            guard case .string(let name) = method, !name.isEmpty else {
                throw FrameError(error: ProtocolError(.invalidRequest, "invalid request: \"method\" must be a non-empty string"), id: id)
            }
            let params = o["params"] ?? .emptyObject
            guard case .object = params else {
                throw FrameError(
                    error: ProtocolError(
                        .invalidParams, "invalid params: \"params\" must be an object, not \(params.typeName)",
                        diagnostics: [Diagnostic(path: "/params", message: "expected an object")]),
                    id: id)
            }
            if let id { return .request(id: id, method: name, params: params) }
            return .notification(method: name, params: params)
        }
        guard let id else {
            throw FrameError(error: ProtocolError(.invalidRequest, "invalid request: a frame needs \"method\" or \"id\""), id: nil)
        }
        if let result = o["result"], o["error"] == nil { return .response(id: id, result: .success(result)) }
        if let error = o["error"], o["result"] == nil, case .object = error {
            return .response(id: id, result: .failure(ProtocolError(json: error)))
        }
        throw FrameError(error: ProtocolError(.invalidRequest, "invalid response: needs exactly one of \"result\" or \"error\""), id: nil)
    }

    /// A request frame, LF-terminated.
    public static func request(id: RequestID, method: String, params: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(96)
        out.append(contentsOf: Array(#"{"jsonrpc":"2.0","id":"#.utf8))
        id.json.write(to: &out)
        out.append(contentsOf: Array(#","method":"#.utf8))
        JSONValue.writeString(method, to: &out)
        out.append(contentsOf: Array(#","params":"#.utf8))
        params.write(to: &out)
        out.append(contentsOf: [UInt8(ascii: "}"), 0x0A])
        return out
    }

    /// A notification frame, LF-terminated.
    public static func notification(method: String, params: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        out.append(contentsOf: Array(#"{"jsonrpc":"2.0","method":"#.utf8))
        JSONValue.writeString(method, to: &out)
        out.append(contentsOf: Array(#","params":"#.utf8))
        params.write(to: &out)
        out.append(contentsOf: [UInt8(ascii: "}"), 0x0A])
        return out
    }

    /// A response frame, LF-terminated. `id` is `nil` only for errors about unidentifiable frames.
    public static func response(id: RequestID?, result: Result<JSONValue, ProtocolError>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        out.append(contentsOf: Array(#"{"jsonrpc":"2.0","id":"#.utf8))
        (id?.json ?? .null).write(to: &out)
        switch result {
        case .success(let value):
            out.append(contentsOf: Array(#","result":"#.utf8))
            value.write(to: &out)
        case .failure(let error):
            out.append(contentsOf: Array(#","error":"#.utf8))
            error.json.write(to: &out)
        }
        out.append(contentsOf: [UInt8(ascii: "}"), 0x0A])
        return out
    }

    /// Tries to find the request id in the first bytes of a frame too large to parse, so the
    /// answer can name it. Handles `"id":123` and `"id":"abc"`.
    public static func sniffID(in prefix: [UInt8]) -> RequestID? {
        let needle = Array(#""id""#.utf8)
        guard prefix.count > needle.count else { return nil }
        var i = 0
        while i + needle.count < prefix.count {
            if Array(prefix[i..<(i + needle.count)]) == needle {
                var j = i + needle.count
                while j < prefix.count, prefix[j] == 0x20 || prefix[j] == UInt8(ascii: ":") { j += 1 }
                guard j < prefix.count else { return nil }
                if prefix[j] == 0x22 {
                    var k = j + 1
                    while k < prefix.count, prefix[k] != 0x22, prefix[k] != 0x5C { k += 1 }
                    guard k < prefix.count, prefix[k] == 0x22 else { return nil }
                    return RequestID(json: .string(String(decoding: prefix[(j + 1)..<k], as: UTF8.self)))
                }
                var k = j
                while k < prefix.count, prefix[k] >= 0x30, prefix[k] <= 0x39 { k += 1 }
                guard k > j, let n = Int64(String(decoding: prefix[j..<k], as: UTF8.self)) else { return nil }
                return RequestID(json: .int(n))
            }
            i += 1
        }
        return nil
    }
}
