import Foundation

/// A request of the protocol with the Swift types of its params and result: what the host sends
/// (``ExtensionClient``) and what the SDK decodes are the same declaration, and a test checks every
/// one against its published schema (``ProtocolSchemas/method(_:)``).
///
/// ```swift
/// let status = try await connection.call(ProtocolCalls.schedulerInspect, JobRef(handle: handle))
/// ```
public struct ProtocolCall<Params: Codable & Sendable, Result: Codable & Sendable>: Sendable {
    public let method: ProtocolMethod

    public init(_ method: ProtocolMethod) { self.method = method }

    /// The params as they go on the wire.
    public func encode(_ params: Params) throws -> JSONValue { try JSONCodec.encode(params) }

    /// The result as it goes on the wire (what an extension answers).
    public func encodeResult(_ result: Result) throws -> JSONValue { try JSONCodec.encode(result) }

    /// The result, typed. An answer that does not fit is the peer's fault: ``AnswerMismatch``.
    public func decodeResult(_ value: JSONValue) throws -> Result {
        do {
            return try JSONCodec.decode(Result.self, from: value)
        } catch {
            throw AnswerMismatch(method: method, detail: "\(error)")
        }
    }

    /// The params, checked against the method's published schema first (each problem a diagnostic
    /// at its JSON pointer), then typed. Throws `-32602 InvalidParams`.
    public func decodeParams(_ value: JSONValue) throws -> Params {
        let problems = JSONSchema(ProtocolSchemas.method(method).params).validate(value)
        if !problems.isEmpty { throw ProtocolError.invalidParams(diagnostics: problems) }
        do {
            return try JSONCodec.decode(Params.self, from: value)
        } catch let error as ProtocolError {
            throw ProtocolError.invalidParams(diagnostics: error.diagnostics)
        }
    }
}

/// A peer answered a request with a result that does not fit the method's declared type.
public struct AnswerMismatch: Error, Sendable, CustomStringConvertible {
    public var method: ProtocolMethod
    public var detail: String
    public var description: String { "the answer to \(method.rawValue) does not fit the protocol: \(detail)" }
}

/// An empty params or result object (`{}`).
public struct NoFields: Codable, Sendable, Equatable {
    public init() {}
}

/// `{handle}`: which job.
public struct JobRef: Codable, Sendable, Equatable {
    public var handle: String
    public init(handle: String) { self.handle = handle }
}

/// `scheduler/stop` params.
public struct StopJob: Codable, Sendable, Equatable {
    public var handle: String
    /// SIGTERM, then SIGKILL after this long (default 10 000).
    public var graceMs: Int?
    public init(handle: String, graceMs: Int? = nil) {
        self.handle = handle
        self.graceMs = graceMs
    }
}

/// `scheduler/logs` params.
public struct JobLogs: Codable, Sendable, Equatable {
    public var handle: String
    public var follow: Bool?
    public init(handle: String, follow: Bool? = nil) {
        self.handle = handle
        self.follow = follow
    }
}

/// `scheduler/list` params.
public struct JobFilter: Codable, Sendable, Equatable {
    public var labels: [String: String]?
    public init(labels: [String: String]? = nil) { self.labels = labels }
}

/// `scheduler/list` result.
public struct JobList: Codable, Sendable, Equatable {
    public var jobs: [JobStatus]
    public init(jobs: [JobStatus]) { self.jobs = jobs }
}

/// `scheduler/attach` params: run `command` inside the running job `handle`.
public struct AttachRequest: Codable, Sendable, Equatable {
    public var handle: String
    public var command: [String]
    /// Give the command a terminal (default true).
    public var tty: Bool?
    public var rows: Int?
    public var cols: Int?
    public init(handle: String, command: [String], tty: Bool? = nil, rows: Int? = nil, cols: Int? = nil) {
        self.handle = handle
        self.command = command
        self.tty = tty
        self.rows = rows
        self.cols = cols
    }
}

/// `scheduler/attach` result: how the command ended.
public struct AttachResult: Codable, Sendable, Equatable {
    public var exitCode: Int
    public init(exitCode: Int) { self.exitCode = exitCode }
}

/// `attach/input` params: bytes for the command's stdin, its end, or a new terminal size.
public struct AttachInputNotice: Codable, Sendable, Equatable {
    public var streamId: String
    public var text: String?
    public var b64: String?
    public var eof: Bool?
    public var rows: Int?
    public var cols: Int?
    public init(streamId: String, bytes: [UInt8] = [], eof: Bool? = nil, rows: Int? = nil, cols: Int? = nil) {
        self.streamId = streamId
        if !bytes.isEmpty {
            if let text = String(validating: bytes, as: UTF8.self) { self.text = text } else { b64 = Data(bytes).base64EncodedString() }
        }
        self.eof = eof
        self.rows = rows
        self.cols = cols
    }
}

/// `{key}` of one of an extension's objects.
public struct ObjectRef: Codable, Sendable, Equatable {
    public var key: String
    public init(key: String) { self.key = key }
}

/// `objects/put` result: what the host stored.
public struct ObjectStored: Codable, Sendable, Equatable {
    public var size: Int64
    public var sha256: String
    public init(size: Int64, sha256: String) {
        self.size = size
        self.sha256 = sha256
    }
}

/// `objects/list` result.
public struct ObjectKeys: Codable, Sendable, Equatable {
    public var keys: [String]
    public init(keys: [String]) { self.keys = keys }
}

/// `{key}` of a secret.
public struct SecretRef: Codable, Sendable, Equatable {
    public var key: String
    public init(key: String) { self.key = key }
}

/// A secret value: text as `value`, other bytes as `valueB64`.
public struct SecretValue: Codable, Sendable, Equatable {
    public var value: String?
    public var valueB64: String?

    public init(bytes: [UInt8]) {
        if let text = String(validating: bytes, as: UTF8.self) {
            value = text
        } else {
            valueB64 = Data(bytes).base64EncodedString()
        }
    }

    /// The bytes, or nil when `valueB64` is not base64 (or neither is set).
    public var bytes: [UInt8]? {
        if let value { return Array(value.utf8) }
        return valueB64.flatMap { Data(base64Encoded: $0) }.map { Array($0) }
    }
}

/// `secrets/put` params.
public struct SecretWrite: Codable, Sendable, Equatable {
    public var key: String
    public var value: String?
    public var valueB64: String?

    public init(key: String, bytes: [UInt8]) {
        self.key = key
        let v = SecretValue(bytes: bytes)
        value = v.value
        valueB64 = v.valueB64
    }
}

/// `secrets/list` params: only names under this prefix.
public struct SecretPrefix: Codable, Sendable, Equatable {
    public var prefix: String?
    public init(prefix: String? = nil) { self.prefix = prefix }
}

/// `secrets/list` result: names only, never values.
public struct SecretKeys: Codable, Sendable, Equatable {
    public var keys: [String]
    public init(keys: [String]) { self.keys = keys }
}

/// `{params}` to check (`trigger/validate`, `task/validate`), and the answer.
public struct ParamsCheck: Codable, Sendable, Equatable {
    /// The per-use params; `{}` when the request leaves them out (the schema makes them optional).
    public var params: JSONValue
    public init(params: JSONValue) { self.params = params }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        params = try c.decodeIfPresent(JSONValue.self, forKey: .params) ?? .emptyObject
    }
}

/// A validate result: each problem at its JSON pointer.
public struct Diagnostics: Codable, Sendable, Equatable {
    public var diagnostics: [Diagnostic]
    public init(diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
}

/// `trigger/subscribe` params.
public struct SubscribeRequest: Codable, Sendable, Equatable {
    public var subscriptionId: String
    public var params: JSONValue
    public var cursor: String?
    public init(subscriptionId: String, params: JSONValue, cursor: String? = nil) {
        self.subscriptionId = subscriptionId
        self.params = params
        self.cursor = cursor
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        subscriptionId = try c.decode(String.self, forKey: .subscriptionId)
        params = try c.decodeIfPresent(JSONValue.self, forKey: .params) ?? .emptyObject
        cursor = try c.decodeIfPresent(String.self, forKey: .cursor)
    }
}

/// `trigger/unsubscribe` params.
public struct UnsubscribeRequest: Codable, Sendable, Equatable {
    public var subscriptionId: String
    public init(subscriptionId: String) { self.subscriptionId = subscriptionId }
}

/// `trigger/external` params and result: an HTTP request forwarded to a trigger (wire form of
/// ``ExternalRequest``), and its answer.
public struct ForwardedRequest: Codable, Sendable, Equatable {
    public var headers: [String: String]
    public var bodyB64: String
    public init(headers: [String: String], bodyB64: String) {
        self.headers = headers
        self.bodyB64 = bodyB64
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        headers = try c.decodeIfPresent([String: String].self, forKey: .headers) ?? [:]
        bodyB64 = try c.decode(String.self, forKey: .bodyB64)
    }
}

/// What the trigger answers to a forwarded request: the HTTP status and body for the caller.
public struct ForwardedAnswer: Codable, Sendable, Equatable {
    public var status: Int
    public var body: String?
    public init(status: Int, body: String? = nil) {
        self.status = status
        self.body = body
    }
}

/// `trigger/emit` result.
public struct EmitAnswer: Codable, Sendable, Equatable {
    public var accepted: Bool
    public var duplicate: Bool?
    public var run: Int?
    public init(accepted: Bool, duplicate: Bool? = nil, run: Int? = nil) {
        self.accepted = accepted
        self.duplicate = duplicate
        self.run = run
    }
}

/// `task/run` params.
public struct TaskRunRequest: Codable, Sendable, Equatable {
    public var params: JSONValue
    public var variables: [String: String]
    /// Set when called as a run hook (see ``RunHook``), as JSON.
    public var hook: JSONValue?
    public init(params: JSONValue, variables: [String: String], hook: JSONValue? = nil) {
        self.params = params
        self.variables = variables
        self.hook = hook
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        params = try c.decodeIfPresent(JSONValue.self, forKey: .params) ?? .emptyObject
        variables = try c.decodeIfPresent([String: String].self, forKey: .variables) ?? [:]
        hook = try c.decodeIfPresent(JSONValue.self, forKey: .hook)
    }
}

/// Every request of the protocol that does work, typed. ``ProtocolCalls/all`` lists them; the
/// lifecycle (`initialize`, `shutdown`) and flow-control messages have their own types.
public enum ProtocolCalls {
    public static let health = ProtocolCall<NoFields, HealthReport>(.health)
    public static let triggerValidate = ProtocolCall<ParamsCheck, Diagnostics>(.triggerValidate)
    public static let triggerSubscribe = ProtocolCall<SubscribeRequest, NoFields>(.triggerSubscribe)
    public static let triggerUnsubscribe = ProtocolCall<UnsubscribeRequest, NoFields>(.triggerUnsubscribe)
    public static let triggerExternal = ProtocolCall<ForwardedRequest, ForwardedAnswer>(.triggerExternal)
    public static let taskValidate = ProtocolCall<ParamsCheck, Diagnostics>(.taskValidate)
    public static let taskRun = ProtocolCall<TaskRunRequest, TaskResult>(.taskRun)
    public static let schedulerStart = ProtocolCall<JobSpec, JobRef>(.schedulerStart)
    public static let schedulerInspect = ProtocolCall<JobRef, JobStatus>(.schedulerInspect)
    public static let schedulerWait = ProtocolCall<JobRef, JobStatus>(.schedulerWait)
    public static let schedulerStop = ProtocolCall<StopJob, NoFields>(.schedulerStop)
    public static let schedulerRemove = ProtocolCall<JobRef, NoFields>(.schedulerRemove)
    public static let schedulerLogs = ProtocolCall<JobLogs, NoFields>(.schedulerLogs)
    public static let schedulerList = ProtocolCall<JobFilter, JobList>(.schedulerList)
    public static let schedulerAttach = ProtocolCall<AttachRequest, AttachResult>(.schedulerAttach)
    public static let secretsGet = ProtocolCall<SecretRef, SecretValue>(.secretsGet)
    public static let secretsPut = ProtocolCall<SecretWrite, NoFields>(.secretsPut)
    public static let secretsDelete = ProtocolCall<SecretRef, NoFields>(.secretsDelete)
    public static let secretsList = ProtocolCall<SecretPrefix, SecretKeys>(.secretsList)
    public static let triggerEmit = ProtocolCall<EmitRequest, EmitAnswer>(.triggerEmit)
    public static let objectsGet = ProtocolCall<ObjectRef, SecretValue>(.objectsGet)
    /// The same `{key, value | valueB64}` shape as a secret write.
    public static let objectsPut = ProtocolCall<SecretWrite, ObjectStored>(.objectsPut)
    public static let objectsDelete = ProtocolCall<ObjectRef, NoFields>(.objectsDelete)
    public static let objectsList = ProtocolCall<NoFields, ObjectKeys>(.objectsList)

    /// Which typed call carries each method: an exhaustive switch, so a new method without its
    /// declaration here does not compile. `nil` for lifecycle and flow-control messages.
    public static func method(_ m: ProtocolMethod) -> ProtocolMethod? {
        switch m {
        case .health, .triggerValidate, .triggerSubscribe, .triggerUnsubscribe, .triggerExternal, .triggerEmit, .taskValidate, .taskRun,
            .schedulerStart, .schedulerInspect, .schedulerWait, .schedulerStop, .schedulerRemove, .schedulerLogs, .schedulerList,
            .schedulerAttach, .objectsGet, .objectsPut, .objectsDelete, .objectsList, .secretsGet, .secretsPut, .secretsDelete, .secretsList:
            return m
        case .initialize, .initialized, .shutdown, .exit, .ping, .cancel, .streamData, .streamCredit, .attachInput:
            return nil
        }
    }
}

/// `trigger/emit` params.
public struct EmitRequest: Codable, Sendable, Equatable {
    public var subscriptionId: String
    public var eventId: String
    public var occurredAt: String?
    public var variables: [String: String]?
    public var cursor: String?
    public init(subscriptionId: String, eventId: String, occurredAt: String? = nil, variables: [String: String]? = nil, cursor: String? = nil) {
        self.subscriptionId = subscriptionId
        self.eventId = eventId
        self.occurredAt = occurredAt
        self.variables = variables
        self.cursor = cursor
    }
}
