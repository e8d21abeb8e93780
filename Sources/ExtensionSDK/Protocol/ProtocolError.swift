/// One problem with a field, located by a JSON Pointer (RFC 6901) into the params or config.
public struct Diagnostic: Sendable, Hashable, Codable, CustomStringConvertible {
    /// `error` or `warning`.
    public var severity: String
    /// JSON Pointer to the field, e.g. `/params/every`. Empty for the whole document.
    public var path: String
    /// What is wrong and how to fix it.
    public var message: String

    /// A problem at `path` (a JSON Pointer; empty for the whole document).
    public init(severity: String = "error", path: String, message: String) {
        self.severity = severity
        self.path = path
        self.message = message
    }

    /// `path: message`, or the message alone for the whole document.
    public var description: String { path.isEmpty ? message : "\(path): \(message)" }

    /// This diagnostic as it travels in `error.data.diagnostics`.
    public var json: JSONValue { ["severity": .string(severity), "path": .string(path), "message": .string(message)] }

    /// Parses a diagnostic from the wire.
    public init?(json: JSONValue) {
        guard let path = json["path"]?.stringValue, let message = json["message"]?.stringValue else { return nil }
        self.init(severity: json["severity"]?.stringValue ?? "error", path: path, message: message)
    }

    /// The same diagnostic with `prefix` put in front of its path (`/config` + `/every`).
    public func prefixed(_ prefix: String) -> Diagnostic {
        Diagnostic(severity: severity, path: prefix + path, message: message)
    }
}

/// Error codes of protocol v1: JSON-RPC's own and Gofer's range (-32000…-32099).
///
/// Codes are never reused. Unknown codes in -32050…-32099 are handled by their `data.retryable`.
public struct ErrorCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The JSON-RPC error code.
    public var rawValue: Int
    /// The code `rawValue`, known or not.
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// -32700: the frame is not valid JSON (or not UTF-8, or too deep).
    public static let parseError = ErrorCode(rawValue: -32700)
    /// -32600: valid JSON but not a valid JSON-RPC message.
    public static let invalidRequest = ErrorCode(rawValue: -32600)
    /// -32601: no such method (or not offered by this extension).
    public static let methodNotFound = ErrorCode(rawValue: -32601)
    /// -32602: the params are wrong; `diagnostics` name each field.
    public static let invalidParams = ErrorCode(rawValue: -32602)
    /// -32603: the handler failed unexpectedly.
    public static let internalError = ErrorCode(rawValue: -32603)
    /// -32000: no protocol version in common; `data.supported` lists the extension's.
    public static let unsupportedVersion = ErrorCode(rawValue: -32000)
    /// -32001: a request before `initialize`.
    public static let notInitialized = ErrorCode(rawValue: -32001)
    /// -32002: a second `initialize`.
    public static let alreadyInitialized = ErrorCode(rawValue: -32002)
    /// -32003: the peer is shutting down; retry elsewhere or later.
    public static let shuttingDown = ErrorCode(rawValue: -32003)
    /// -32004: a method behind a capability the peer did not advertise.
    public static let notSupported = ErrorCode(rawValue: -32004)
    /// -32005: a frame over the receiver's `limits.maxFrameBytes`, or an answer that would be.
    public static let frameTooLarge = ErrorCode(rawValue: -32005)
    /// -32006: stream data out of order or over the granted credit.
    public static let streamViolation = ErrorCode(rawValue: -32006)
    /// -32050: the request was cancelled (`$/cancel`).
    public static let cancelled = ErrorCode(rawValue: -32050)
    /// -32051: the request's `_meta.timeoutMs` passed.
    public static let deadlineExceeded = ErrorCode(rawValue: -32051)
    /// -32052: the admin config is invalid; `diagnostics` name each field.
    public static let invalidConfig = ErrorCode(rawValue: -32052)
    /// -32053: the thing named does not exist (a job, a secret, an object).
    public static let notFound = ErrorCode(rawValue: -32053)
    /// -32054: it exists already, or changed meanwhile.
    public static let conflict = ErrorCode(rawValue: -32054)
    /// -32055: the backend refused (credentials, a bad webhook signature).
    public static let permissionDenied = ErrorCode(rawValue: -32055)
    /// -32056: the backend does not answer now; retryable.
    public static let unavailable = ErrorCode(rawValue: -32056)
    /// -32057: too many requests at once or too much data; retry after `data.retryAfterMs`.
    public static let resourceExhausted = ErrorCode(rawValue: -32057)
    /// -32058: not in this state (a running job cannot be removed; a job that was lost).
    public static let failedPrecondition = ErrorCode(rawValue: -32058)

    /// The stable machine-readable reason sent in `data.reason` for this code.
    public var reason: String {
        switch self {
        case .parseError: return "PARSE_ERROR"
        case .invalidRequest: return "INVALID_REQUEST"
        case .methodNotFound: return "METHOD_NOT_FOUND"
        case .invalidParams: return "INVALID_PARAMS"
        case .internalError: return "INTERNAL_ERROR"
        case .unsupportedVersion: return "UNSUPPORTED_VERSION"
        case .notInitialized: return "NOT_INITIALIZED"
        case .alreadyInitialized: return "ALREADY_INITIALIZED"
        case .shuttingDown: return "SHUTTING_DOWN"
        case .notSupported: return "NOT_SUPPORTED"
        case .frameTooLarge: return "FRAME_TOO_LARGE"
        case .streamViolation: return "STREAM_VIOLATION"
        case .cancelled: return "CANCELLED"
        case .deadlineExceeded: return "DEADLINE_EXCEEDED"
        case .invalidConfig: return "INVALID_CONFIG"
        case .notFound: return "NOT_FOUND"
        case .conflict: return "CONFLICT"
        case .permissionDenied: return "PERMISSION_DENIED"
        case .unavailable: return "UNAVAILABLE"
        case .resourceExhausted: return "RESOURCE_EXHAUSTED"
        case .failedPrecondition: return "FAILED_PRECONDITION"
        default: return "ERROR_\(-rawValue)"
        }
    }

    /// Whether a caller may retry the same request by default.
    public var defaultRetryable: Bool {
        [.shuttingDown, .deadlineExceeded, .unavailable, .resourceExhausted].contains(self)
    }

    /// The code and its reason, e.g. `-32053 NOT_FOUND`.
    public var description: String { "\(rawValue) \(reason)" }
}

/// An error as sent in a JSON-RPC error response.
///
/// Handlers throw it to answer with a specific code; any other error a handler throws is sent as
/// ``ErrorCode/internalError`` with its description. Messages are one sentence saying what is
/// wrong and, where possible, how to fix it.
///
/// ```swift
/// throw ProtocolError(.notFound, "secret \"deploy-key\" does not exist")
/// ```
public struct ProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Which error, by number.
    public var code: ErrorCode
    /// One sentence for a person: what is wrong and, where possible, how to fix it.
    public var message: String
    /// Stable machine-readable reason, e.g. `UNAVAILABLE` or `docker.image_not_found`.
    public var reason: String
    /// Whether the same request may succeed if retried.
    public var retryable: Bool
    /// Field-level problems, for bad params or config.
    public var diagnostics: [Diagnostic]
    /// Any other members of `error.data`.
    public var extra: [String: JSONValue]

    /// An error with `code` and `message`; `reason` and `retryable` default to the code's.
    public init(
        _ code: ErrorCode, _ message: String, reason: String? = nil, retryable: Bool? = nil, diagnostics: [Diagnostic] = [],
        extra: [String: JSONValue] = [:]
    ) {
        self.code = code
        self.message = message
        self.reason = reason ?? code.reason
        self.retryable = retryable ?? code.defaultRetryable
        self.diagnostics = diagnostics
        self.extra = extra
    }

    /// The message with its reason, code and diagnostics.
    public var description: String {
        var s = "\(message) [\(reason), code \(code.rawValue)]"
        if !diagnostics.isEmpty { s += "\n" + diagnostics.map { "  - \($0)" }.joined(separator: "\n") }
        return s
    }

    /// Bad params, with one diagnostic per problem.
    public static func invalidParams(diagnostics: [Diagnostic]) -> ProtocolError {
        let summary = diagnostics.first.map { "invalid params: \($0)" } ?? "invalid params"
        let more = diagnostics.count > 1 ? " (and \(diagnostics.count - 1) more)" : ""
        return ProtocolError(.invalidParams, summary + more, diagnostics: diagnostics)
    }

    /// A method that this extension does not offer.
    public static func methodNotFound(_ method: String) -> ProtocolError {
        ProtocolError(.methodNotFound, "method \"\(method)\" is not implemented by this extension")
    }

    /// The JSON form, for `error` in a response.
    public var json: JSONValue {
        var data = extra
        data["reason"] = .string(reason)
        data["retryable"] = .bool(retryable)
        if !diagnostics.isEmpty { data["diagnostics"] = .array(diagnostics.map(\.json)) }
        return ["code": .int(Int64(code.rawValue)), "message": .string(message), "data": .object(data)]
    }

    /// Parses `error` from a response; tolerant of peers that send less than we do.
    public init(json: JSONValue) {
        let code = ErrorCode(rawValue: Int(json["code"]?.intValue ?? Int64(ErrorCode.internalError.rawValue)))
        let data = json["data"]?.objectValue ?? [:]
        var extra = data
        for key in ["reason", "retryable", "diagnostics"] { extra[key] = nil }
        self.init(
            code, json["message"]?.stringValue ?? "(no message)", reason: data["reason"]?.stringValue,
            retryable: data["retryable"]?.boolValue,
            diagnostics: data["diagnostics"]?.arrayValue?.compactMap(Diagnostic.init(json:)) ?? [], extra: extra)
    }
}
