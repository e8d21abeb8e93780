/// The JSON Schemas of every protocol v1 message.
///
/// This is the single source: `docs/protocol/*.schema.json` is generated from it
/// (`gofer-conformance schemas --out docs/protocol`) and a test fails when the two differ. The
/// conformance suite validates every frame in both directions against these.
public enum ProtocolSchemas {
    /// Schemas of a method: its params and, for requests, its result.
    public struct Method: Sendable {
        /// The method.
        public var method: ProtocolMethod
        /// Its wire name (`scheduler/start`).
        public var name: String { method.rawValue }
        /// Who sends it.
        public var direction: String
        /// The schema of its params.
        public var params: JSONValue
        /// `nil` for notifications.
        public var result: JSONValue?

        init(_ method: ProtocolMethod, direction: String, params: JSONValue, result: JSONValue? = nil) {
            self.method = method
            self.direction = direction
            self.params = params
            self.result = result
        }
    }

    static let string: JSONValue = ["type": "string"]
    static let nonEmpty: JSONValue = ["type": "string", "minLength": 1]
    static let stringMap: JSONValue = ["type": "object", "additionalProperties": ["type": "string"]]
    static let empty: JSONValue = ["type": "object"]
    static let version: JSONValue = ["type": "string", "pattern": "^[0-9]+\\.[0-9]+$"]
    static let diagnostic: JSONValue = [
        "type": "object", "required": ["path", "message"],
        "properties": ["severity": ["enum": ["error", "warning"]], "path": string, "message": string],
    ]
    static let diagnostics: JSONValue = [
        "type": "object", "required": ["diagnostics"], "properties": ["diagnostics": ["type": "array", "items": diagnostic]],
    ]
    static let handle: JSONValue = object(["handle": nonEmpty], required: ["handle"])
    static let jobStatus: JSONValue = [
        "type": "object", "required": ["handle", "state", "oomKilled", "labels"],
        "properties": [
            "handle": nonEmpty, "state": ["enum": ["created", "running", "exited", "unknown"]], "exitCode": ["type": "integer"],
            "oomKilled": ["type": "boolean"], "startedAt": string, "finishedAt": string, "labels": stringMap,
            // 1.1: why a `created` job does not run yet (capability `placement`).
            "message": string,
        ],
    ]

    /// An object schema; params objects may always carry `_meta`.
    static func object(_ properties: [String: JSONValue], required: [String] = [], meta: Bool = false) -> JSONValue {
        var props = properties
        if meta { props["_meta"] = meta_ }
        var o: [String: JSONValue] = ["type": "object", "properties": .object(props)]
        if !required.isEmpty { o["required"] = .array(required.map(JSONValue.string)) }
        return .object(o)
    }

    static let meta_: JSONValue = [
        "type": "object",
        "properties": [
            "timeoutMs": ["type": "integer", "minimum": 0], "idempotencyKey": string,
            "stream": object(["id": nonEmpty, "windowBytes": ["type": "integer", "minimum": 0]], required: ["id"]),
        ],
    ]

    static func params(_ properties: [String: JSONValue], required: [String] = []) -> JSONValue {
        object(properties, required: required, meta: true)
    }

    /// Every method of protocol v1.
    public static let methods: [Method] = ProtocolMethod.allCases.map(method)

    /// The schemas of one method.
    public static func method(_ m: ProtocolMethod) -> Method {
        switch m {
        case .initialize:
            return Method(
                .initialize, direction: "host→extension",
                params: params(
                    [
                        "protocolVersions": ["type": "array", "minItems": 1, "items": version],
                        "kind": ["enum": ["trigger", "task", "scheduler", "secrets"]],
                        "host": object(["name": string, "version": string]),
                        "config": object(["system": empty, "admin": empty]),
                        "limits": object([
                            "maxFrameBytes": ["type": "integer", "minimum": 1024], "maxConcurrentRequests": ["type": "integer", "minimum": 1],
                        ]),
                        "timeouts": object(["cancelGraceMs": ["type": "integer", "minimum": 0]]),
                        "paths": object(["state": string, "tmp": string]),
                        "processId": ["type": "integer"],
                    ], required: ["protocolVersions"]),
                result: object(
                    [
                        "protocolVersion": version,
                        "extension": object(
                            [
                                "name": ["type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"],
                                "kind": ["enum": ["trigger", "task", "scheduler", "secrets"]],
                                "version": nonEmpty, "summary": string, "sdk": empty,
                            ], required: ["name", "kind", "version"]),
                        "capabilities": empty,
                        "configSchema": ["type": ["object", "boolean"]],
                        "paramsSchema": ["type": ["object", "boolean"]],
                        "limits": object([
                            "maxFrameBytes": ["type": "integer", "minimum": 1024], "maxConcurrentRequests": ["type": "integer", "minimum": 1],
                            "maxConcurrentWatches": ["type": "integer", "minimum": 1],
                        ]),
                    ], required: ["protocolVersion", "extension", "capabilities", "configSchema", "paramsSchema"]))
        case .initialized:
            return Method(.initialized, direction: "host→extension", params: params([:]), result: nil)
        case .shutdown:
            return Method(
                .shutdown, direction: "host→extension", params: params(["deadlineMs": ["type": "integer", "minimum": 0]]), result: empty)
        case .exit:
            return Method(.exit, direction: "host→extension", params: params([:]), result: nil)
        case .ping:
            return Method(.ping, direction: "either", params: params([:]), result: empty)
        case .cancel:
            return Method(
                .cancel, direction: "either",
                params: object(["id": ["type": ["integer", "string"]], "reason": string], required: ["id"]), result: nil)
        case .health:
            return Method(
                .health, direction: "host→extension", params: params([:]),
                result: object(["status": ["enum": ["healthy", "degraded", "unhealthy"]], "detail": string], required: ["status"]))
        case .streamData:
            return Method(
                .streamData, direction: "extension→host",
                params: object(
                    [
                        "streamId": nonEmpty, "seq": ["type": "integer", "minimum": 0], "cursor": string,
                        "items": [
                            "type": "array",
                            "items": [
                                "type": "object", "required": ["fd"],
                                "properties": ["fd": ["enum": ["stdout", "stderr"]], "text": string, "b64": string],
                                "oneOf": [["required": ["text"]], ["required": ["b64"]]],
                            ],
                        ],
                    ], required: ["streamId", "seq", "items"]), result: nil)
        case .streamCredit:
            return Method(
                .streamCredit, direction: "host→extension",
                params: object(["streamId": nonEmpty, "bytes": ["type": "integer", "minimum": 1]], required: ["streamId", "bytes"]), result: nil
            )
        case .triggerValidate:
            return Method(.triggerValidate, direction: "host→extension", params: params(["params": empty]), result: diagnostics)
        case .triggerSubscribe:
            return Method(
                .triggerSubscribe, direction: "host→extension",
                params: params(["subscriptionId": nonEmpty, "params": empty, "cursor": string], required: ["subscriptionId"]), result: empty)
        case .triggerUnsubscribe:
            return Method(
                .triggerUnsubscribe, direction: "host→extension",
                params: params(["subscriptionId": nonEmpty], required: ["subscriptionId"]),
                result: empty)
        case .triggerExternal:
            return Method(
                .triggerExternal, direction: "host→extension",
                params: params(["headers": stringMap, "bodyB64": string], required: ["bodyB64"]),
                result: object(["status": ["type": "integer", "minimum": 100, "maximum": 599], "body": string], required: ["status"]))
        case .triggerEmit:
            return Method(
                .triggerEmit, direction: "extension→host",
                params: object(
                    ["subscriptionId": nonEmpty, "eventId": nonEmpty, "occurredAt": string, "variables": stringMap, "cursor": string],
                    required: ["subscriptionId", "eventId"]),
                result: object(["accepted": ["type": "boolean"], "duplicate": ["type": "boolean"]]))
        case .taskValidate:
            return Method(.taskValidate, direction: "host→extension", params: params(["params": empty]), result: diagnostics)
        case .taskRun:
            return Method(
                .taskRun, direction: "host→extension",
                params: params([
                    "params": empty, "variables": stringMap,
                    "hook": object(
                        [
                            "phase": ["enum": ["run_started", "run_finished"]],
                            "run": object(
                                [
                                    "id": ["type": "integer"], "state": string, "reason": string, "startedAt": string, "endedAt": string,
                                    "url": string,
                                    "tasks": ["type": "array", "items": object(["id": string, "state": string], required: ["id", "state"])],
                                ], required: ["id", "state"]),
                            "history": [
                                "type": "array", "items": object(["id": ["type": "integer"], "state": string, "durationMs": ["type": "integer"]], required: ["id", "state"]),
                            ],
                        ], required: ["phase", "run"]),
                ]),
                result: object(["status": ["enum": ["success", "failure"]], "summary": string, "outputs": stringMap], required: ["status"]))
        case .schedulerStart:
            return Method(
                .schedulerStart, direction: "host→extension",
                params: params(
                    [
                        "taskExecutionId": nonEmpty, "image": nonEmpty, "entrypoint": ["type": "array", "items": string],
                        "command": ["type": "array", "items": string], "env": stringMap, "labels": stringMap,
                        "cpus": ["type": "number", "exclusiveMinimum": 0], "memoryMB": ["type": "integer", "minimum": 4],
                        "registryAuth": object(
                                ["username": nonEmpty, "password": ["type": "string", "writeOnly": true]], required: ["username", "password"]),
                        "placement": [
                            "type": "object",
                            "description": "The task's placement in this scheduler's terms, checked against its paramsSchema at apply time.",
                        ],
                        "stopGraceMs": [
                            "type": "integer", "minimum": 0,
                            "description": "The grace the host gives the job when it stops it (the graceMs of scheduler/stop).",
                        ],
                    ], required: ["taskExecutionId", "image"]), result: object(["handle": nonEmpty], required: ["handle"]))
        case .schedulerInspect:
            return Method(
                .schedulerInspect, direction: "host→extension", params: params(["handle": string], required: ["handle"]),
                result: jobStatus)
        case .schedulerWait:
            return Method(
                .schedulerWait, direction: "host→extension", params: params(["handle": string], required: ["handle"]), result: jobStatus
            )
        case .schedulerStop:
            return Method(
                .schedulerStop, direction: "host→extension",
                params: params(["handle": string, "graceMs": ["type": "integer", "minimum": 0]], required: ["handle"]), result: empty)
        case .schedulerRemove:
            return Method(
                .schedulerRemove, direction: "host→extension", params: params(["handle": string], required: ["handle"]), result: empty)
        case .schedulerLogs:
            return Method(
                .schedulerLogs, direction: "host→extension",
                params: params(["handle": string, "follow": ["type": "boolean"]], required: ["handle"]), result: empty)
        case .schedulerList:
            return Method(
                .schedulerList, direction: "host→extension", params: params(["labels": stringMap]),
                result: object(["jobs": ["type": "array", "items": jobStatus]], required: ["jobs"]))
        case .schedulerAttach:
            return Method(
                .schedulerAttach, direction: "host→extension",
                params: params(
                    [
                        "handle": nonEmpty, "command": ["type": "array", "items": string, "minItems": 1],
                        "tty": ["type": "boolean", "description": "Give the command a terminal (default true); output then arrives as one stream."],
                        "rows": ["type": "integer", "minimum": 1, "maximum": 1000],
                        "cols": ["type": "integer", "minimum": 1, "maximum": 1000],
                    ], required: ["handle", "command"]),
                result: object(["exitCode": ["type": "integer"]], required: ["exitCode"]))
        case .attachInput:
            return Method(
                .attachInput, direction: "host→extension",
                params: object(
                    [
                        "streamId": nonEmpty, "text": string, "b64": string,
                        "eof": ["type": "boolean", "description": "No more input: the command's stdin is closed."],
                        "rows": ["type": "integer", "minimum": 1, "maximum": 1000],
                        "cols": ["type": "integer", "minimum": 1, "maximum": 1000],
                    ], required: ["streamId"]), result: nil)
        case .objectsGet:
            return Method(
                .objectsGet, direction: "extension→host", params: params(["key": nonEmpty], required: ["key"]),
                result: [
                    "type": "object", "properties": ["value": string, "valueB64": string],
                    "oneOf": [["required": ["value"]], ["required": ["valueB64"]]],
                ])
        case .objectsPut:
            return Method(
                .objectsPut, direction: "extension→host", params: params(["key": nonEmpty, "value": string, "valueB64": string], required: ["key"]),
                result: object(["size": ["type": "integer", "minimum": 0], "sha256": string], required: ["size", "sha256"]))
        case .objectsDelete:
            return Method(.objectsDelete, direction: "extension→host", params: params(["key": nonEmpty], required: ["key"]), result: empty)
        case .objectsList:
            return Method(
                .objectsList, direction: "extension→host", params: params([:]),
                result: object(["keys": ["type": "array", "items": string]], required: ["keys"]))
        case .secretsGet:
            return Method(
                .secretsGet, direction: "host→extension", params: params(["key": string], required: ["key"]),
                result: [
                    "type": "object", "properties": ["value": string, "valueB64": string],
                    "oneOf": [["required": ["value"]], ["required": ["valueB64"]]],
                ])
        case .secretsPut:
            return Method(
                .secretsPut, direction: "host→extension",
                params: params(["key": string, "value": string, "valueB64": string], required: ["key"]),
                result: empty)
        case .secretsDelete:
            return Method(.secretsDelete, direction: "host→extension", params: params(["key": string], required: ["key"]), result: empty)
        case .secretsList:
            return Method(
                .secretsList, direction: "host→extension", params: params(["prefix": string]),
                result: object(["keys": ["type": "array", "items": string]], required: ["keys"]))
        }
    }

    /// The method schemas by name.
    public static let byName: [String: Method] = Dictionary(uniqueKeysWithValues: methods.map { ($0.name, $0) })

    static let id: JSONValue = [
        "oneOf": [["type": "integer", "minimum": 0, "maximum": 9_007_199_254_740_991], ["type": "string", "maxLength": 128]]
    ]

    /// The envelope every frame must match: a request, a notification or a response.
    public static let envelope: JSONValue = [
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Gofer extension protocol v1 frame",
        "oneOf": [
            [
                "title": "request", "type": "object", "required": ["jsonrpc", "id", "method"],
                "properties": ["jsonrpc": ["const": "2.0"], "id": id, "method": nonEmpty, "params": ["type": "object"]],
                "additionalProperties": false,
            ],
            [
                "title": "notification", "type": "object", "required": ["jsonrpc", "method"],
                "properties": ["jsonrpc": ["const": "2.0"], "method": nonEmpty, "params": ["type": "object"]],
                "additionalProperties": false,
            ],
            [
                "title": "result response", "type": "object", "required": ["jsonrpc", "id", "result"],
                "properties": ["jsonrpc": ["const": "2.0"], "id": id, "result": ["type": "object"]],
                "additionalProperties": false,
            ],
            [
                "title": "error response", "type": "object", "required": ["jsonrpc", "id", "error"],
                "properties": [
                    "jsonrpc": ["const": "2.0"], "id": ["oneOf": [id, ["type": "null"]]],
                    "error": [
                        "type": "object", "required": ["code", "message", "data"],
                        "properties": [
                            "code": ["type": "integer"], "message": nonEmpty,
                            "data": [
                                "type": "object", "required": ["reason", "retryable"],
                                "properties": [
                                    "reason": nonEmpty, "retryable": ["type": "boolean"],
                                    "retryAfterMs": ["type": "integer", "minimum": 0],
                                    "diagnostics": ["type": "array", "items": diagnostic],
                                ],
                            ],
                        ],
                    ],
                ],
                "additionalProperties": false,
            ],
        ],
    ]

    /// One schema document per file, as written to `docs/protocol/`.
    public static var documents: [(file: String, schema: JSONValue)] {
        var out: [(String, JSONValue)] = [("envelope.schema.json", envelope)]
        for m in methods {
            let base = m.name.replacingOccurrences(of: "$/", with: "rpc.").replacingOccurrences(of: "/", with: ".")
            var doc: [String: JSONValue] = [
                "$schema": "https://json-schema.org/draft/2020-12/schema", "title": .string(m.name), "direction": .string(m.direction),
                "params": m.params,
            ]
            if let result = m.result { doc["result"] = result }
            out.append(("\(base).schema.json", .object(doc)))
        }
        return out
    }
}

extension JSONValue {
    /// Pretty JSON text (two-space indent, sorted keys) for documents meant for people.
    public func prettyPrinted(indent: String = "") -> String {
        let next = indent + "  "
        switch self {
        case .array(let a) where !a.isEmpty:
            return "[\n" + a.map { next + $0.prettyPrinted(indent: next) }.joined(separator: ",\n") + "\n\(indent)]"
        case .object(let o) where !o.isEmpty:
            return "{\n"
                + o.keys.sorted().map { key in
                    var k: [UInt8] = []
                    JSONValue.writeString(key, to: &k)
                    return next + String(decoding: k, as: UTF8.self) + ": " + (o[key] ?? .null).prettyPrinted(indent: next)
                }.joined(separator: ",\n") + "\n\(indent)}"
        default:
            return description
        }
    }
}
