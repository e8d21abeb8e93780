import ExtensionSDK
import Foundation
import Hummingbird
import NIOCore

/// The REST/JSON API. Every route is registered through ``add(_:_:_:)`` so the list of routes is
/// known (and checked against docs/openapi.yaml by a test).
public struct GoferAPI: Sendable {
    public let store: Store
    public let engine: RunEngine
    public let bus: EventBus
    public let logs: LogFiles
    public let loader: PipelineConfigLoader
    public let version: String
    public let triggers: Triggers
    public let secrets: Secrets
    public let extensions: ExtensionManager
    /// The largest webhook body `POST /api/external/{trigger}` accepts.
    public let maxExternalBody: Int

    public init(
        store: Store, engine: RunEngine, triggers: Triggers, secrets: Secrets, extensions: ExtensionManager, bus: EventBus, logs: LogFiles,
        loader: PipelineConfigLoader,
        version: String,
        maxExternalBody: Int = 25 << 20
    ) {
        self.store = store
        self.engine = engine
        self.triggers = triggers
        self.secrets = secrets
        self.extensions = extensions
        self.maxExternalBody = maxExternalBody
        self.bus = bus
        self.logs = logs
        self.loader = loader
        self.version = version
    }

    public typealias Handler = @Sendable (Request, BasicRequestContext) async throws -> Response

    /// Every route as `METHOD /path/{param}`.
    public static var routes: [String] {
        let recorder = RouteRecorder()
        GoferAPI.register(on: nil, api: nil, recorder: recorder)
        return recorder.routes
    }

    /// Builds the router.
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        // Before the routes: it must wrap them and the not-found responder.
        router.add(middleware: JSONErrorMiddleware(api: self))
        GoferAPI.register(on: router, api: self, recorder: RouteRecorder())
        return router
    }

    final class RouteRecorder: @unchecked Sendable {
        var routes: [String] = []
    }

    static let ns = "/api/namespaces/{ns}"
    static let pipe = ns + "/pipelines/{pipeline}"
    static let run = pipe + "/runs/{run}"
    static let task = run + "/tasks/{task}"

    static func register(on router: Router<BasicRequestContext>?, api: GoferAPI?, recorder: RouteRecorder) {
        func add(
            _ method: HTTPRequest.Method, _ path: String,
            _ handler: @escaping @Sendable (GoferAPI, Request, BasicRequestContext) async throws -> Response
        ) {
            recorder.routes.append("\(method.rawValue) \(path)")
            guard let router, let api else { return }
            router.on(RouterPath(path), method: method) { request, context in
                do {
                    return try await handler(api, request, context)
                } catch {
                    return api.errorResponse(APIError.from(error))
                }
            }
        }
        add(.get, "/api/health") { api, _, _ in try api.json(["status": "ok", "version": api.version]) }
        add(.get, "/api/namespaces") { api, req, _ in
            let (cursor, limit) = try api.paging(req)
            return try api.json(try await api.store.namespaces(after: cursor, limit: limit))
        }
        add(.post, "/api/namespaces") { api, req, _ in
            let body = try await api.body(req)
            let id = try api.identifier(body["id"]?.stringValue, field: "/id")
            let ns = try await api.store.createNamespace(
                id: id, name: body["name"]?.stringValue, description: body["description"]?.stringValue ?? "")
            return try api.json(ns, status: .created)
        }
        add(.get, ns) { api, _, ctx in try api.json(try await api.store.namespace(try api.param(ctx, "ns"))) }
        add(.delete, ns) { api, _, ctx in
            let ns = try api.param(ctx, "ns")
            try await api.store.deleteNamespace(ns)
            await api.secrets.namespaceDeleted(ns)
            return Response(status: .noContent)
        }
        add(.get, ns + "/pipelines") { api, req, ctx in
            let (cursor, limit) = try api.paging(req)
            return try api.json(try await api.store.pipelines(namespace: try api.param(ctx, "ns"), after: cursor, limit: limit))
        }
        add(.post, ns + "/pipelines") { api, req, ctx in
            let body = try await api.body(req)
            guard let text = body["config"]?.stringValue else {
                throw APIError.badRequest(
                    "the body needs \"config\": the pipeline config text", details: [.init(field: "/config", message: "required")])
            }
            var format: PipelineConfigLoader.Format?
            if let f = body["format"]?.stringValue {
                guard let parsed = PipelineConfigLoader.Format(rawValue: f) else {
                    throw APIError.badRequest("unknown format \"\(f)\"", details: [.init(field: "/format", message: "use yaml or json")])
                }
                format = parsed
            }
            let file = body["file"]?.stringValue ?? "pipeline.yaml"
            let (config, locator) = try api.loader.loadLocated(text, file: file, format: format)
            let problems = await api.triggers.validate(config, locator: locator)
            if !problems.isEmpty { throw ConfigError(problems: problems) }
            let ns = try api.param(ctx, "ns")
            var result = try await api.triggers.apply(namespace: ns, config: config)
            let warnings = await api.secrets.problems(namespace: ns, config: config)
            if !warnings.isEmpty { result.warnings = warnings }
            return try api.json(result, status: result.created ? .created : .ok)
        }
        add(.get, pipe) { api, _, ctx in
            let (ns, p) = (try api.param(ctx, "ns"), try api.param(ctx, "pipeline"))
            let pipeline = try await api.store.pipeline(namespace: ns, id: p)
            let version = try await api.store.pipelineVersion(namespace: ns, pipeline: p)
            return try api.json(
                PipelineDetail(
                    pipeline: pipeline, config: version.config, errors: try await api.store.pipelineErrors(namespace: ns, pipeline: p)))
        }
        add(.delete, pipe) { api, _, ctx in
            let (ns, p) = (try api.param(ctx, "ns"), try api.param(ctx, "pipeline"))
            try await api.triggers.delete(namespace: ns, pipeline: p)
            await api.secrets.pipelineDeleted(namespace: ns, pipeline: p)
            return Response(status: .noContent)
        }
        add(.post, pipe + "/disable") { api, _, ctx in
            try api.json(
                try await api.triggers.setEnabled(namespace: try api.param(ctx, "ns"), pipeline: try api.param(ctx, "pipeline"), false))
        }
        add(.post, pipe + "/enable") { api, _, ctx in
            try api.json(
                try await api.triggers.setEnabled(namespace: try api.param(ctx, "ns"), pipeline: try api.param(ctx, "pipeline"), true))
        }
        add(.get, pipe + "/errors") { api, _, ctx in
            try api.json(
                ["items": try await api.store.pipelineErrors(namespace: try api.param(ctx, "ns"), pipeline: try api.param(ctx, "pipeline"))]
            )
        }
        add(.get, pipe + "/triggers") { api, _, ctx in
            try api.json(
                ["items": try await api.store.subscriptions(namespace: try api.param(ctx, "ns"), pipeline: try api.param(ctx, "pipeline"))])
        }
        add(.get, pipe + "/trigger-events") { api, req, ctx in
            let (_, limit) = try api.paging(req, defaultLimit: 100)
            return try api.json(
                [
                    "items": try await api.store.triggerEvents(
                        namespace: try api.param(ctx, "ns"), pipeline: try api.param(ctx, "pipeline"), limit: limit)
                ])
        }
        add(.get, pipe + "/secrets") { api, _, ctx in
            let names = try await api.secrets.pipelineSecretNames(
                namespace: try api.param(ctx, "ns"), pipeline: try api.param(ctx, "pipeline"))
            return try api.json(["items": names.map { ["name": $0] }])
        }
        add(.put, pipe + "/secrets/{secret}") { api, req, ctx in
            let (ns, p) = (try api.param(ctx, "ns"), try api.param(ctx, "pipeline"))
            let name = try api.secretName(ctx)
            let body = try await api.body(req)
            try await api.secrets.putPipelineSecret(namespace: ns, pipeline: p, name: name, value: try api.secretValue(body))
            return try api.json(["name": name], status: .ok)
        }
        add(.get, pipe + "/secrets/{secret}") { api, req, ctx in
            let (ns, p) = (try api.param(ctx, "ns"), try api.param(ctx, "pipeline"))
            let name = try api.secretName(ctx)
            let value = try await api.secrets.pipelineSecret(namespace: ns, pipeline: p, name: name)
            return try api.json(api.revealed(["name": .string(name)], value, req))
        }
        add(.delete, pipe + "/secrets/{secret}") { api, _, ctx in
            try await api.secrets.deletePipelineSecret(
                namespace: try api.param(ctx, "ns"), pipeline: try api.param(ctx, "pipeline"), name: try api.secretName(ctx))
            return Response(status: .noContent)
        }
        add(.get, "/api/secrets") { api, _, _ in try api.json(["items": try await api.secrets.globalSecrets()]) }
        add(.put, "/api/secrets/{secret}") { api, req, ctx in
            let body = try await api.body(req)
            var namespaces: [String] = []
            if let given = body["namespaces"], given != .null {
                guard let list = given.arrayValue?.compactMap(\.stringValue), list.count == given.arrayValue?.count else {
                    throw APIError.badRequest(
                        "namespaces must be a list of namespace patterns",
                        details: [.init(field: "/namespaces", message: "not a list of strings")])
                }
                namespaces = list
            }
            return try api.json(
                try await api.secrets.putGlobalSecret(
                    name: try api.secretName(ctx), value: try api.secretValue(body), namespaces: namespaces))
        }
        add(.get, "/api/secrets/{secret}") { api, req, ctx in
            let (meta, value) = try await api.secrets.globalSecret(name: try api.secretName(ctx))
            let fields: JSONValue = [
                "name": .string(meta.name), "namespaces": .array(meta.namespaces.map(JSONValue.string)),
                "created_at": .string(meta.createdAt.formatted(.iso8601)), "updated_at": .string(meta.updatedAt.formatted(.iso8601)),
            ]
            return try api.json(api.revealed(fields, value, req))
        }
        add(.delete, "/api/secrets/{secret}") { api, _, ctx in
            try await api.secrets.deleteGlobalSecret(name: try api.secretName(ctx))
            return Response(status: .noContent)
        }
        add(.get, "/api/extensions") { api, _, _ in try api.json(["items": try await api.extensions.list()]) }
        add(.post, "/api/extensions") { api, req, _ in
            let body = try await api.body(req)
            guard let text = body["name"]?.stringValue, let (name, request) = VersionRequest.split(text) else {
                throw APIError.badRequest(
                    "name is required: NAME, NAME@1.2.3 or NAME@^1", details: [.init(field: "/name", message: "required")])
            }
            _ = try api.identifier(name, field: "/name")
            var strings: [String: String] = [:]
            for (k, v) in body["config_strings"]?.objectValue ?? [:] { strings[k] = v.stringValue ?? v.description }
            let config = body["config"] ?? .emptyObject
            guard config.objectValue != nil else {
                throw APIError.badRequest("config must be an object", details: [.init(field: "/config", message: "not an object")])
            }
            _ = try await api.extensions.install(name, request, config: config, configStrings: strings)
            return try api.json(try await api.extensions.get(name), status: .created)
        }
        add(.get, "/api/extensions/{extension}") { api, _, ctx in
            try api.json(try await api.extensions.get(try api.param(ctx, "extension")))
        }
        add(.get, "/api/extensions/{extension}/logs") { api, _, ctx in
            let text = try await api.extensions.logs(try api.param(ctx, "extension"))
            return Response(
                status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
        add(.post, "/api/extensions/{extension}/upgrade") { api, req, ctx in
            let name = try api.param(ctx, "extension")
            let body = try await api.body(req, allowEmpty: true)
            var request = VersionRequest.latest
            if let v = body["version"]?.stringValue {
                guard let parsed = VersionRequest.split("\(name)@\(v)")?.request else {
                    throw APIError.badRequest(
                        "version must be 1.2.3 or ^1", details: [.init(field: "/version", message: "not a version")])
                }
                request = parsed
            }
            return try api.json(
                try await api.extensions.upgrade(name, request, allowMajor: body["allow_major"]?.boolValue ?? false))
        }
        add(.delete, "/api/extensions/{extension}") { api, req, ctx in
            let confirmed = req.uri.queryParameters.get("yes") == "true"
            let result = try await api.extensions.uninstall(try api.param(ctx, "extension"), confirmed: confirmed)
            if !result.removed {
                throw APIError(
                    status: 409, code: "confirmation_required",
                    message:
                        "\(result.name) is used by \(result.pipelines.count) pipeline(s): \(result.pipelines.joined(separator: ", ")); they will be disabled. Confirm with ?yes=true (gofer extension uninstall \(result.name) --yes)",
                    details: result.pipelines.map { .init(field: "pipelines", message: $0) })
            }
            return try api.json(result)
        }
        add(.get, "/api/triggers") { api, _, _ in try api.json(["items": await api.triggers.info()]) }
        add(.post, "/api/external/{trigger}") { api, req, ctx in
            let name = try api.param(ctx, "trigger")
            var req = req
            let buffer: ByteBuffer
            do {
                buffer = try await req.collectBody(upTo: api.maxExternalBody)
            } catch {
                throw APIError(status: 413, code: "too_large", message: "the request body is larger than \(api.maxExternalBody) bytes")
            }
            var headers: [String: String] = [:]
            for field in req.headers { headers[field.name.canonicalName] = field.value }
            let answer = try await api.triggers.external(name, headers: headers, body: Array(buffer.readableBytesView))
            return Response(
                status: HTTPResponse.Status(code: answer.status), headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: answer.body)))
        }
        add(.get, pipe + "/versions/{version}") { api, _, ctx in
            guard let v = Int(try api.param(ctx, "version")), v > 0 else {
                throw APIError.badRequest(
                    "version must be a positive integer", details: [.init(field: "version", message: "not a positive integer")])
            }
            return try api.json(
                try await api.store.pipelineVersion(
                    namespace: try api.param(ctx, "ns"), pipeline: try api.param(ctx, "pipeline"), version: v))
        }
        add(.post, pipe + "/runs") { api, req, ctx in
            let body = try await api.body(req, allowEmpty: true)
            let initiator = body["initiator"]?.stringValue ?? "api"
            var variables: [String: String] = [:]
            if let given = body["variables"], given != .null {
                guard let object = given.objectValue else {
                    throw APIError.badRequest(
                        "variables must be an object of strings", details: [.init(field: "/variables", message: "not an object")])
                }
                for (k, v) in object {
                    guard !k.isEmpty, !k.contains("="), !k.contains("\0"), !k.uppercased().hasPrefix("GOFER_") else {
                        throw APIError.badRequest(
                            "invalid variable name \"\(k)\"",
                            details: [
                                .init(field: "/variables/\(k)", message: "names cannot be empty, contain '=' or NUL, or start with GOFER_")
                            ])
                    }
                    guard let s = v.stringValue else {
                        throw APIError.badRequest(
                            "variable \(k) must be a string", details: [.init(field: "/variables/\(k)", message: "not a string")])
                    }
                    variables[k] = s
                }
            }
            let run = try await api.engine.startRun(
                namespace: try api.param(ctx, "ns"), pipeline: try api.param(ctx, "pipeline"), initiator: initiator, variables: variables)
            return try api.json(run, status: .created)
        }
        add(.get, pipe + "/runs") { api, req, ctx in
            let (cursor, limit) = try api.paging(req, defaultLimit: 20)
            let before = try cursor.map { c -> Int in
                guard let n = Int(c) else {
                    throw APIError.badRequest("invalid cursor", details: [.init(field: "cursor", message: "not a cursor from this list")])
                }
                return n
            }
            return try api.json(
                try await api.store.runs(
                    namespace: try api.param(ctx, "ns"), pipeline: try api.param(ctx, "pipeline"), before: before, limit: limit))
        }
        add(.get, run) { api, _, ctx in
            let (ns, p, r) = try api.runParams(ctx)
            let run = try await api.store.run(namespace: ns, pipeline: p, id: r)
            return try api.json(RunDetail(run: run, tasks: try await api.store.tasks(namespace: ns, pipeline: p, run: r)))
        }
        add(.post, run + "/cancel") { api, req, ctx in
            let (ns, p, r) = try api.runParams(ctx)
            let body = try await api.body(req, allowEmpty: true)
            try await api.engine.cancelRun(
                namespace: ns, pipeline: p, run: r, by: body["by"]?.stringValue ?? "api", why: body["reason"]?.stringValue)
            return try api.json(try await api.store.run(namespace: ns, pipeline: p, id: r), status: .accepted)
        }
        add(.get, run + "/events") { api, _, ctx in
            let (ns, p, r) = try api.runParams(ctx)
            return try await api.runEvents(namespace: ns, pipeline: p, run: r)
        }
        add(.get, run + "/tasks") { api, _, ctx in
            let (ns, p, r) = try api.runParams(ctx)
            return try api.json(Page(items: try await api.store.tasks(namespace: ns, pipeline: p, run: r), nextCursor: nil))
        }
        add(.get, task) { api, _, ctx in
            let (ns, p, r) = try api.runParams(ctx)
            return try api.json(try await api.store.task(namespace: ns, pipeline: p, run: r, task: try api.param(ctx, "task")))
        }
        add(.post, task + "/cancel") { api, req, ctx in
            let (ns, p, r) = try api.runParams(ctx)
            let t = try api.param(ctx, "task")
            let body = try await api.body(req, allowEmpty: true)
            try await api.engine.cancelTask(namespace: ns, pipeline: p, run: r, task: t, by: body["by"]?.stringValue ?? "api")
            return try api.json(try await api.store.task(namespace: ns, pipeline: p, run: r, task: t), status: .accepted)
        }
        add(.get, task + "/logs") { api, req, ctx in
            let (ns, p, r) = try api.runParams(ctx)
            let t = try api.param(ctx, "task")
            let follow = req.uri.queryParameters.get("follow").map { $0 == "true" || $0 == "1" } ?? false
            return try await api.taskLogs(namespace: ns, pipeline: p, run: r, task: t, follow: follow)
        }
        add(.get, "/api/events") { api, req, _ in
            let after = Int64(req.uri.queryParameters.get("cursor") ?? "0") ?? 0
            let (_, limit) = try api.paging(req, defaultLimit: 100)
            return try api.json(
                try await api.store.events(
                    namespace: req.uri.queryParameters.get("namespace").map { String($0) },
                    pipeline: req.uri.queryParameters.get("pipeline").map { String($0) },
                    after: after, limit: limit))
        }
    }

    // MARK: - Helpers

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try Self.encoder.encode(value)
        return Response(
            status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    func errorResponse(_ error: APIError) -> Response {
        let data = (try? Self.encoder.encode(error)) ?? Data(#"{"code":"internal","message":"cannot encode error"}"#.utf8)
        return Response(
            status: HTTPResponse.Status(code: error.status), headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    static let maxBody = 2 * 1024 * 1024

    /// The request body as a JSON object (or `{}` when empty and allowed).
    func body(_ req: Request, allowEmpty: Bool = false) async throws -> JSONValue {
        var req = req
        let buffer: ByteBuffer
        do {
            buffer = try await req.collectBody(upTo: Self.maxBody)
        } catch {
            throw APIError(
                status: 413, code: "too_large",
                message: "the request body is larger than \(Self.maxBody / 1024 / 1024) MiB (pipeline configs may be at most 1 MiB)")
        }
        if buffer.readableBytes == 0 {
            if allowEmpty { return .emptyObject }
            throw APIError.badRequest("the request needs a JSON body")
        }
        let value: JSONValue
        do {
            value = try JSONParser().parse(Array(buffer.readableBytesView))
        } catch {
            throw APIError.badRequest("the body is not valid JSON: \(error)")
        }
        guard case .object = value else { throw APIError.badRequest("the body must be a JSON object") }
        return value
    }

    static let identifierPattern = try? NSRegularExpression(pattern: "^[a-z0-9][a-z0-9_-]{0,62}$")

    func identifier(_ value: String?, field: String) throws -> String {
        guard let value, !value.isEmpty else {
            throw APIError.badRequest("\(field) is required", details: [.init(field: field, message: "required")])
        }
        guard Self.identifierPattern?.firstMatch(in: value, range: NSRange(value.startIndex..., in: value)) != nil else {
            throw APIError.badRequest(
                "\"\(value)\" is not a valid id",
                details: [.init(field: field, message: "use 1–63 lower-case letters, digits, '-' or '_', starting with a letter or digit")])
        }
        return value
    }

    /// The `{secret}` path parameter, checked like every secret name.
    func secretName(_ ctx: BasicRequestContext) throws -> String {
        let name = ctx.parameters.get("secret") ?? ""
        guard SecretReference.isValidName(name) else {
            throw APIError.badRequest(
                "\"\(name)\" is not a valid secret name",
                details: [.init(field: "secret", message: "use 1–128 letters, digits, '_', '-' or '.'")])
        }
        return name
    }

    /// A secret's value from a body: `value` (text) or `value_b64` (any bytes).
    func secretValue(_ body: JSONValue) throws -> [UInt8] {
        if let text = body["value"]?.stringValue { return Array(text.utf8) }
        if let b64 = body["value_b64"]?.stringValue {
            guard let data = Data(base64Encoded: b64) else {
                throw APIError.badRequest("value_b64 is not valid base64", details: [.init(field: "/value_b64", message: "not base64")])
            }
            return Array(data)
        }
        throw APIError.badRequest(
            "the body needs \"value\" (text) or \"value_b64\" (base64)", details: [.init(field: "/value", message: "required")])
    }

    /// Adds the value only when the caller asked with `?reveal=true`.
    func revealed(_ fields: JSONValue, _ value: [UInt8], _ req: Request) -> JSONValue {
        var out = fields
        guard req.uri.queryParameters.get("reveal") == "true" else { return out }
        if let text = String(validating: value, as: UTF8.self) {
            out["value"] = .string(text)
        } else {
            out["value_b64"] = .string(Data(value).base64EncodedString())
        }
        return out
    }

    func param(_ ctx: BasicRequestContext, _ name: String) throws -> String {
        try identifier(ctx.parameters.get(name), field: name)
    }

    func runParams(_ ctx: BasicRequestContext) throws -> (String, String, Int) {
        let ns = try param(ctx, "ns")
        let p = try param(ctx, "pipeline")
        guard let r = ctx.parameters.get("run").flatMap({ Int($0) }), r > 0 else {
            throw APIError.badRequest("run must be a positive integer", details: [.init(field: "run", message: "not a run number")])
        }
        return (ns, p, r)
    }

    func paging(_ req: Request, defaultLimit: Int = 50) throws -> (String?, Int) {
        var limit = defaultLimit
        if let text = req.uri.queryParameters.get("limit") {
            guard let n = Int(text), n >= 1, n <= 1000 else {
                throw APIError.badRequest("limit must be between 1 and 1000", details: [.init(field: "limit", message: "got \(text)")])
            }
            limit = n
        }
        return (req.uri.queryParameters.get("cursor").map { String($0) }, limit)
    }
}

/// Gives errors raised outside the handlers (an unknown route, a framework error) the same JSON
/// body as everything else.
struct JSONErrorMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let api: GoferAPI

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            let message =
                error.status == .notFound
                ? "no such endpoint: \(request.method.rawValue) \(request.uri.path) (see docs/openapi.yaml)"
                : (error.body ?? "\(error.status)")
            return api.errorResponse(
                APIError(
                    status: Int(error.status.code), code: error.status == .notFound ? "not_found" : "http_\(error.status.code)",
                    message: message))
        }
    }
}

/// `GET …/pipelines/{pipeline}`.
public struct PipelineDetail: Codable, Sendable {
    public var pipeline: Pipeline
    public var config: PipelineConfig
    /// Current problems (a trigger missing or refusing the subscription).
    public var errors: [PipelineError]

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        pipeline = try c.decode(Pipeline.self, forKey: .pipeline)
        config = try c.decode(PipelineConfig.self, forKey: .config)
        errors = try c.decodeIfPresent([PipelineError].self, forKey: .errors) ?? []
    }

    init(pipeline: Pipeline, config: PipelineConfig, errors: [PipelineError]) {
        self.pipeline = pipeline
        self.config = config
        self.errors = errors
    }
}

/// `GET …/runs/{run}`.
public struct RunDetail: Codable, Sendable {
    public var run: Run
    public var tasks: [TaskExecution]
}
