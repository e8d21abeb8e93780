import Foundation

/// A request of the protocol with the Swift types of its params and result: what the host sends
/// (the `ExtensionClient` module) and what the SDK decodes are the same declaration, and a test checks every
/// one against its published schema (``ProtocolSchemas/method(_:)``).
///
/// ```swift
/// let status = try await connection.call(ProtocolCalls.schedulerInspect, JobRef(handle: handle))
/// ```
public struct ProtocolCall<Params: Codable & Sendable, Result: Codable & Sendable>: Sendable {
    /// The method this call is.
    public let method: ProtocolMethod

    /// The call for `method`; the types say what its params and result are.
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
            throw AnswerMismatch(method: method, detail: ErrorText.describe(error))
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
    /// The method whose answer did not fit.
    public var method: ProtocolMethod
    /// What did not fit, as the decoder said it.
    public var detail: String
    /// One line for logs and errors.
    public var description: String { "the answer to \(method.rawValue) does not fit the protocol: \(detail)" }
}

/// An empty params or result object (`{}`).
public struct NoFields: Codable, Sendable, Equatable {
    /// The empty object.
    public init() {}
}

/// `{handle}`: which job.
public struct JobRef: Codable, Sendable, Equatable {
    /// The job's handle, as `scheduler/start` returned it.
    public var handle: String
    /// Names the job `handle`.
    public init(handle: String) { self.handle = handle }
}

/// `scheduler/stop` params.
public struct StopJob: Codable, Sendable, Equatable {
    /// The job to stop.
    public var handle: String
    /// SIGTERM, then SIGKILL after this long (default 10 000).
    public var graceMs: Int?
    /// Stop params for `handle`, with the grace before SIGKILL (`nil`: the default).
    public init(handle: String, graceMs: Int? = nil) {
        self.handle = handle
        self.graceMs = graceMs
    }
}

/// `scheduler/logs` params.
public struct JobLogs: Codable, Sendable, Equatable {
    /// The job whose output to send.
    public var handle: String
    /// Keep sending output until the job exits (default false: what there is now).
    public var follow: Bool?
    /// Logs params for `handle`.
    public init(handle: String, follow: Bool? = nil) {
        self.handle = handle
        self.follow = follow
    }
}

/// `scheduler/list` params.
public struct JobFilter: Codable, Sendable, Equatable {
    /// Only jobs carrying every one of these labels; `nil` or empty: every job.
    public var labels: [String: String]?
    /// A filter by labels.
    public init(labels: [String: String]? = nil) { self.labels = labels }
}

/// `scheduler/list` result.
public struct JobList: Codable, Sendable, Equatable {
    /// Every matching job's status.
    public var jobs: [JobStatus]
    /// A list result.
    public init(jobs: [JobStatus]) { self.jobs = jobs }
}

/// `scheduler/attach` params: run `command` inside the running job `handle`.
public struct AttachRequest: Codable, Sendable, Equatable {
    /// The running job to run the command in.
    public var handle: String
    /// The command and its arguments (no shell unless the command is one).
    public var command: [String]
    /// Give the command a terminal (default true).
    public var tty: Bool?
    /// The terminal's height in rows (1–1000), with `tty`.
    public var rows: Int?
    /// The terminal's width in columns (1–1000), with `tty`.
    public var cols: Int?
    /// Attach params: `command` inside `handle`.
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
    /// The command's exit code (128 + n for a signal).
    public var exitCode: Int
    /// An attach result.
    public init(exitCode: Int) { self.exitCode = exitCode }
}

/// `attach/input` params: bytes for the command's stdin, its end, or a new terminal size.
public struct AttachInputNotice: Codable, Sendable, Equatable {
    /// The attach stream the input is for.
    public var streamId: String
    /// Input bytes that are valid UTF-8.
    public var text: String?
    /// Input bytes that are not, base64-encoded.
    public var b64: String?
    /// The input ended: close the command's stdin.
    public var eof: Bool?
    /// A new terminal height, with `cols`.
    public var rows: Int?
    /// A new terminal width, with `rows`.
    public var cols: Int?
    /// Input for `streamId`: the bytes (as text when they are UTF-8), the end of input, or a new size.
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
    /// The object's key within the extension's own space.
    public var key: String
    /// Names the object `key`.
    public init(key: String) { self.key = key }
}

/// `objects/put` result: what the host stored.
public struct ObjectStored: Codable, Sendable, Equatable {
    /// Bytes stored.
    public var size: Int64
    /// SHA-256 of the content, lower-case hex.
    public var sha256: String
    /// A put result.
    public init(size: Int64, sha256: String) {
        self.size = size
        self.sha256 = sha256
    }
}

/// `objects/list` result.
public struct ObjectKeys: Codable, Sendable, Equatable {
    /// The keys of the extension's objects.
    public var keys: [String]
    /// A list result.
    public init(keys: [String]) { self.keys = keys }
}

/// `{key}` of a secret.
public struct SecretRef: Codable, Sendable, Equatable {
    /// The secret's key.
    public var key: String
    /// Names the secret `key`.
    public init(key: String) { self.key = key }
}

/// A secret value: text as `value`, other bytes as `valueB64`.
public struct SecretValue: Codable, Sendable, Equatable {
    /// The value when it is valid UTF-8.
    public var value: String?
    /// The value when it is not, base64-encoded.
    public var valueB64: String?

    /// The value `bytes`: as text when they are UTF-8, else as base64.
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
    /// The secret's key.
    public var key: String
    /// The value when it is valid UTF-8.
    public var value: String?
    /// The value when it is not, base64-encoded.
    public var valueB64: String?

    /// Writes `bytes` under `key`: as text when they are UTF-8, else as base64.
    public init(key: String, bytes: [UInt8]) {
        self.key = key
        let v = SecretValue(bytes: bytes)
        value = v.value
        valueB64 = v.valueB64
    }
}

/// `secrets/list` params: only names under this prefix.
public struct SecretPrefix: Codable, Sendable, Equatable {
    /// Only keys starting with this; `nil`: every key.
    public var prefix: String?
    /// List params.
    public init(prefix: String? = nil) { self.prefix = prefix }
}

/// `secrets/list` result: names only, never values.
public struct SecretKeys: Codable, Sendable, Equatable {
    /// The matching keys, never their values.
    public var keys: [String]
    /// A list result.
    public init(keys: [String]) { self.keys = keys }
}

/// `{params}` to check (`trigger/validate`, `task/validate`), and the answer.
public struct ParamsCheck: Codable, Sendable, Equatable {
    /// The per-use params; `{}` when the request leaves them out (the schema makes them optional).
    public var params: JSONValue
    /// Params to check.
    public init(params: JSONValue) { self.params = params }

    /// Decodes the wire form; absent `params` are `{}`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        params = try c.decodeIfPresent(JSONValue.self, forKey: .params) ?? .emptyObject
    }
}

/// A validate result: each problem at its JSON pointer.
public struct Diagnostics: Codable, Sendable, Equatable {
    /// Every problem found; empty when the params are valid.
    public var diagnostics: [Diagnostic]
    /// A validate result.
    public init(diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
}

/// `trigger/subscribe` params.
public struct SubscribeRequest: Codable, Sendable, Equatable {
    /// The host's id for this subscription: events name it, `trigger/unsubscribe` ends it.
    public var subscriptionId: String
    /// The pipeline's trigger settings, valid against the trigger's `paramsSchema`.
    public var params: JSONValue
    /// Where to resume: the `cursor` of the last event the host stored for this subscription.
    public var cursor: String?
    /// Subscribe params.
    public init(subscriptionId: String, params: JSONValue, cursor: String? = nil) {
        self.subscriptionId = subscriptionId
        self.params = params
        self.cursor = cursor
    }

    /// Decodes the wire form; absent `params` are `{}`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        subscriptionId = try c.decode(String.self, forKey: .subscriptionId)
        params = try c.decodeIfPresent(JSONValue.self, forKey: .params) ?? .emptyObject
        cursor = try c.decodeIfPresent(String.self, forKey: .cursor)
    }
}

/// `trigger/unsubscribe` params.
public struct UnsubscribeRequest: Codable, Sendable, Equatable {
    /// The subscription to end.
    public var subscriptionId: String
    /// Unsubscribe params.
    public init(subscriptionId: String) { self.subscriptionId = subscriptionId }
}

/// `trigger/external` params and result: an HTTP request forwarded to a trigger (wire form of
/// ``ExternalRequest``), and its answer.
public struct ForwardedRequest: Codable, Sendable, Equatable {
    /// The request's headers, names in canonical case.
    public var headers: [String: String]
    /// The request's body, base64-encoded.
    public var bodyB64: String
    /// A forwarded request.
    public init(headers: [String: String], bodyB64: String) {
        self.headers = headers
        self.bodyB64 = bodyB64
    }

    /// Decodes the wire form; absent headers are none.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        headers = try c.decodeIfPresent([String: String].self, forKey: .headers) ?? [:]
        bodyB64 = try c.decode(String.self, forKey: .bodyB64)
    }
}

/// What the trigger answers to a forwarded request: the HTTP status and body for the caller.
public struct ForwardedAnswer: Codable, Sendable, Equatable {
    /// The HTTP status for the caller (100–599).
    public var status: Int
    /// The body for the caller, if any.
    public var body: String?
    /// A trigger's answer to a forwarded request.
    public init(status: Int, body: String? = nil) {
        self.status = status
        self.body = body
    }
}

/// `trigger/emit` result.
public struct EmitAnswer: Codable, Sendable, Equatable {
    /// The host stored the event (and will act on it).
    public var accepted: Bool
    /// The host had already stored an event with this id: nothing new happened.
    public var duplicate: Bool?
    /// The run the event started, when it started one.
    public var run: Int?
    /// An emit result.
    public init(accepted: Bool, duplicate: Bool? = nil, run: Int? = nil) {
        self.accepted = accepted
        self.duplicate = duplicate
        self.run = run
    }
}

/// `task/run` params.
public struct TaskRunRequest: Codable, Sendable, Equatable {
    /// The task's inputs from the pipeline, valid against the task's `paramsSchema`.
    public var params: JSONValue
    /// The run's variables (`GOFER_RUN_ID` …).
    public var variables: [String: String]
    /// Set when called as a run hook (see ``RunHook``), as JSON.
    public var hook: JSONValue?
    /// Run params.
    public init(params: JSONValue, variables: [String: String], hook: JSONValue? = nil) {
        self.params = params
        self.variables = variables
        self.hook = hook
    }

    /// Decodes the wire form; absent params and variables are empty.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        params = try c.decodeIfPresent(JSONValue.self, forKey: .params) ?? .emptyObject
        variables = try c.decodeIfPresent([String: String].self, forKey: .variables) ?? [:]
        hook = try c.decodeIfPresent(JSONValue.self, forKey: .hook)
    }
}

/// Every request of the protocol that does work, typed; ``ProtocolCalls/method(_:)`` says which methods have one. The
/// lifecycle (`initialize`, `shutdown`) and flow-control messages have their own types.
public enum ProtocolCalls {
    /// `health`: whether the extension can do its work now.
    public static let health = ProtocolCall<NoFields, HealthReport>(.health)
    /// `trigger/validate`: check a pipeline's trigger settings.
    public static let triggerValidate = ProtocolCall<ParamsCheck, Diagnostics>(.triggerValidate)
    /// `trigger/subscribe`: start emitting events for a pipeline.
    public static let triggerSubscribe = ProtocolCall<SubscribeRequest, NoFields>(.triggerSubscribe)
    /// `trigger/unsubscribe`: stop emitting for a subscription.
    public static let triggerUnsubscribe = ProtocolCall<UnsubscribeRequest, NoFields>(.triggerUnsubscribe)
    /// `trigger/external`: a webhook forwarded by the host.
    public static let triggerExternal = ProtocolCall<ForwardedRequest, ForwardedAnswer>(.triggerExternal)
    /// `task/validate`: check a pipeline's task inputs.
    public static let taskValidate = ProtocolCall<ParamsCheck, Diagnostics>(.taskValidate)
    /// `task/run`: run the common task once.
    public static let taskRun = ProtocolCall<TaskRunRequest, TaskResult>(.taskRun)
    /// `scheduler/start`: start a job (idempotent on the task execution).
    public static let schedulerStart = ProtocolCall<JobSpec, JobRef>(.schedulerStart)
    /// `scheduler/inspect`: a job's status now.
    public static let schedulerInspect = ProtocolCall<JobRef, JobStatus>(.schedulerInspect)
    /// `scheduler/wait`: a job's status once it exited.
    public static let schedulerWait = ProtocolCall<JobRef, JobStatus>(.schedulerWait)
    /// `scheduler/stop`: SIGTERM, then SIGKILL after the grace.
    public static let schedulerStop = ProtocolCall<StopJob, NoFields>(.schedulerStop)
    /// `scheduler/remove`: forget an exited job.
    public static let schedulerRemove = ProtocolCall<JobRef, NoFields>(.schedulerRemove)
    /// `scheduler/logs`: a job's output as a stream.
    public static let schedulerLogs = ProtocolCall<JobLogs, NoFields>(.schedulerLogs)
    /// `scheduler/list`: the jobs carrying some labels.
    public static let schedulerList = ProtocolCall<JobFilter, JobList>(.schedulerList)
    /// `scheduler/attach`: a command inside a running job (capability `attach`).
    public static let schedulerAttach = ProtocolCall<AttachRequest, AttachResult>(.schedulerAttach)
    /// `secrets/get`: one secret's value.
    public static let secretsGet = ProtocolCall<SecretRef, SecretValue>(.secretsGet)
    /// `secrets/put`: store a secret.
    public static let secretsPut = ProtocolCall<SecretWrite, NoFields>(.secretsPut)
    /// `secrets/delete`: remove a secret.
    public static let secretsDelete = ProtocolCall<SecretRef, NoFields>(.secretsDelete)
    /// `secrets/list`: the keys under a prefix.
    public static let secretsList = ProtocolCall<SecretPrefix, SecretKeys>(.secretsList)
    /// `trigger/emit` (extension → host): an event, answered once stored.
    public static let triggerEmit = ProtocolCall<EmitRequest, EmitAnswer>(.triggerEmit)
    /// `objects/get` (extension → host): one of the extension's objects.
    public static let objectsGet = ProtocolCall<ObjectRef, SecretValue>(.objectsGet)
    /// The same `{key, value | valueB64}` shape as a secret write.
    public static let objectsPut = ProtocolCall<SecretWrite, ObjectStored>(.objectsPut)
    /// `objects/delete` (extension → host): remove an object.
    public static let objectsDelete = ProtocolCall<ObjectRef, NoFields>(.objectsDelete)
    /// `objects/list` (extension → host): the extension's object keys.
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
    /// The subscription the event belongs to.
    public var subscriptionId: String
    /// The event's id, unique per subscription: the host stores an id once (a retried emit is a duplicate).
    public var eventId: String
    /// When it happened, RFC 3339.
    public var occurredAt: String?
    /// Variables for the run it starts (`GOFER_…` names are the host's).
    public var variables: [String: String]?
    /// Where a later subscription resumes after this event.
    public var cursor: String?
    /// Emit params.
    public init(subscriptionId: String, eventId: String, occurredAt: String? = nil, variables: [String: String]? = nil, cursor: String? = nil) {
        self.subscriptionId = subscriptionId
        self.eventId = eventId
        self.occurredAt = occurredAt
        self.variables = variables
        self.cursor = cursor
    }

    /// What the schema cannot say, checked by the host (each a diagnostic at its path): ids and
    /// the cursor non-empty and at most 512 bytes; variable names usable in an environment (not
    /// empty, no `=` or NUL, at most 256 bytes) and values without NUL, at most 64 KiB.
    public var problems: [Diagnostic] {
        var out: [Diagnostic] = []
        for (path, text) in [("/subscriptionId", subscriptionId), ("/eventId", eventId), ("/occurredAt", occurredAt), ("/cursor", cursor)] {
            if let text, text.isEmpty || text.utf8.count > 512 {
                out.append(Diagnostic(path: path, message: "must be a non-empty string of at most 512 bytes"))
            }
        }
        for (name, value) in (variables ?? [:]).sorted(by: { $0.key < $1.key }) {
            if name.isEmpty || name.contains("=") || name.contains("\0") || name.utf8.count > 256 {
                out.append(Diagnostic(path: "/variables/\(name)", message: "not a valid environment variable name"))
            } else if value.contains("\0") || value.utf8.count > 65536 {
                out.append(Diagnostic(path: "/variables/\(name)", message: "must be a string (no NUL, at most 64 KiB)"))
            }
        }
        return out
    }
}
