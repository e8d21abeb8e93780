/// One problem with a field, located by a JSON Pointer (RFC 6901) into the params or config.
public struct Diagnostic: Sendable, Hashable, Codable, CustomStringConvertible {
    /// `error` or `warning`.
    public var severity: String
    /// JSON Pointer to the field, e.g. `/params/every`. Empty for the whole document.
    public var path: String
    /// What is wrong and how to fix it.
    public var message: String

    public init(severity: String = "error", path: String, message: String) {
        self.severity = severity
        self.path = path
        self.message = message
    }

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
    public var rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let parseError = ErrorCode(rawValue: -32700)
    public static let invalidRequest = ErrorCode(rawValue: -32600)
    public static let methodNotFound = ErrorCode(rawValue: -32601)
    public static let invalidParams = ErrorCode(rawValue: -32602)
    public static let internalError = ErrorCode(rawValue: -32603)
    public static let unsupportedVersion = ErrorCode(rawValue: -32000)
    public static let notInitialized = ErrorCode(rawValue: -32001)
    public static let alreadyInitialized = ErrorCode(rawValue: -32002)
    public static let shuttingDown = ErrorCode(rawValue: -32003)
    public static let notSupported = ErrorCode(rawValue: -32004)
    public static let frameTooLarge = ErrorCode(rawValue: -32005)
    public static let streamViolation = ErrorCode(rawValue: -32006)
    public static let cancelled = ErrorCode(rawValue: -32050)
    public static let deadlineExceeded = ErrorCode(rawValue: -32051)
    public static let invalidConfig = ErrorCode(rawValue: -32052)
    public static let notFound = ErrorCode(rawValue: -32053)
    public static let conflict = ErrorCode(rawValue: -32054)
    public static let permissionDenied = ErrorCode(rawValue: -32055)
    public static let unavailable = ErrorCode(rawValue: -32056)
    public static let resourceExhausted = ErrorCode(rawValue: -32057)
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
    public var code: ErrorCode
    public var message: String
    /// Stable machine-readable reason, e.g. `UNAVAILABLE` or `docker.image_not_found`.
    public var reason: String
    /// Whether the same request may succeed if retried.
    public var retryable: Bool
    /// Field-level problems, for bad params or config.
    public var diagnostics: [Diagnostic]
    /// Any other members of `error.data`.
    public var extra: [String: JSONValue]

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
