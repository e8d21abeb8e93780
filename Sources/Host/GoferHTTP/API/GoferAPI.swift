import ExtensionSDK
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The REST/JSON API. Each resource's routes live in their own ``RouteCollection``; every route
/// states who may call it (``Access``), and the dispatcher here authenticates and authorizes
/// before the handler runs. The route table is checked against docs/openapi.yaml by a test.
public struct GoferAPI: RouteServices {
    package let store: any Store
    public let engine: RunEngine
    public let bus: EventBus
    public let logs: LogFiles
    public let loader: PipelineConfigLoader
    public let version: String
    public let triggers: Triggers
    public let pipelines: Pipelines
    public let rollouts: Rollouts
    public let commonTasks: CommonTasks
    public let secrets: Secrets
    public let objects: Objects
    public let extensions: ExtensionManager
    public let auth: Authenticator
    public let placement: SchedulerPlacement
    /// `task_attach`: off, the attach route is not served and the scheduler is never asked.
    public let attachEnabled: Bool
    /// The largest webhook body `POST /api/external/{trigger}` accepts.
    public let maxExternalBody: Int
    /// Web UI sessions (cookie → token).
    public let sessions: WebSessions
    /// Public mode's trials (off unless `public_mode`).
    public let trials: Trials
    /// Requests to open routes, per client address.
    let openLimiter: RateLimiter
    let clients: ClientAddressResolver
    let responses: ResponseCache

    package init(
        store: any Store, engine: RunEngine, triggers: Triggers, pipelines: Pipelines, rollouts: Rollouts, commonTasks: CommonTasks, secrets: Secrets, objects: Objects, extensions: ExtensionManager, bus: EventBus, logs: LogFiles,
        loader: PipelineConfigLoader, version: String, maxExternalBody: Int = 25 << 20, auth: Authenticator,
        openLimit: RateLimit = RateLimit(count: 300, per: .seconds(60)), trustedProxies: [CIDR] = [],
        placement: SchedulerPlacement = SchedulerPlacement(name: "none", schema: { nil }), attachEnabled: Bool = true,
        secureCookies: Bool = false, trials: Trials? = nil
    ) {
        self.trials = trials ?? Trials(store: store, policy: TrialPolicy())
        self.sessions = WebSessions(secureCookies: secureCookies)
        self.placement = placement
        self.attachEnabled = attachEnabled
        self.store = store
        self.engine = engine
        self.triggers = triggers
        self.pipelines = pipelines
        self.rollouts = rollouts
        self.commonTasks = commonTasks
        self.secrets = secrets
        self.objects = objects
        self.extensions = extensions
        self.maxExternalBody = maxExternalBody
        self.bus = bus
        self.logs = logs
        self.loader = loader
        self.version = version
        self.auth = auth
        self.openLimiter = RateLimiter(openLimit)
        self.clients = ClientAddressResolver(trustedProxies: trustedProxies)
        self.responses = ResponseCache(generations: store.generations)
    }

    /// Every route of the API, each with its access rule.
    public static let routeTable: [RouteSpec] =
        SystemRoutes.specs + NamespaceRoutes.specs + PipelineRoutes.specs + VersionRoutes.specs + RunRoutes.specs + SecretRoutes.specs
        + ExtensionRoutes.specs + TokenRoutes.specs + ObjectRoutes.specs + AttachRoutes.specs + WebUIRoutes.specs + TrialRoutes.specs

    /// Every route, each collection given the services it uses (and only those), in the order of
    /// ``routeTable``.
    func boundRoutes() -> [BoundRoute] {
        SystemRoutes.bound(to: .init(store: store, triggers: triggers, version: version, maxExternalBody: maxExternalBody))
            + NamespaceRoutes.bound(to: .init(store: store, objects: objects, secrets: secrets, trials: trials))
            + PipelineRoutes.bound(
                to: .init(
                    store: store, pipelines: pipelines, triggers: triggers, loader: loader, commonTasks: commonTasks, objects: objects,
                    secrets: secrets, placement: placement, trials: trials))
            + VersionRoutes.bound(to: .init(store: store, pipelines: pipelines, rollouts: rollouts))
            + RunRoutes.bound(to: .init(store: store, engine: engine, trials: trials, bus: bus, logs: logs, answers: responses))
            + SecretRoutes.bound(to: .init(store: store, secrets: secrets))
            + ExtensionRoutes.bound(to: .init(extensions: extensions))
            + TokenRoutes.bound(to: .init(store: store, auth: auth))
            + ObjectRoutes.bound(to: .init(objects: objects))
            + AttachRoutes.bound(to: attachServices)
            + WebUIRoutes.bound(to: .init(auth: auth, sessions: sessions, clients: clients))
            + TrialRoutes.bound(to: .init(trials: trials, clients: clients))
    }

    /// What the attach route and the WebSocket upgrade use.
    var attachServices: AttachRoutes.Services { .init(attachEnabled: attachEnabled, store: store, engine: engine) }

    /// Every route as `METHOD /path/{param}`.
    public static var routes: [String] { routeTable.map(\.name) }

    /// The methods the route table has for a concrete path (`{param}` matches one segment).
    static func methods(forPath path: String) -> [String] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return routeTable.filter { route in
            let pattern = route.path.split(separator: "/", omittingEmptySubsequences: false)
            return pattern.count == parts.count
                && zip(pattern, parts).allSatisfy { p, s in (p.hasPrefix("{") && p.hasSuffix("}") && !s.isEmpty) || p == s }
        }.map(\.method.rawValue).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
    }

    /// Builds the router.
    public func router() -> Router<GoferRequestContext> {
        let router = Router(context: GoferRequestContext.self)
        // Before the routes: it must wrap them and the not-found responder.
        router.add(middleware: JSONErrorMiddleware(api: self))
        for route in boundRoutes() where attachEnabled || route.spec.path != AttachRoutes.path {
            let spec = route.spec
            router.on(RouterPath(spec.path), method: spec.method) { request, context in
                let start = ContinuousClock.now
                let response: Response
                do {
                    switch route.body {
                    case .open(let handler):
                        try self.admitOpen(headers: request.headers, peer: context.peer)
                        response = try await handler(request, context)
                    case .authenticated(let access, let handler):
                        let identity = try await self.authenticate(request, context, access)
                        response = try await handler(request, AuthenticatedContext(request: context, identity: identity))
                    }
                } catch {
                    response = self.errorResponse(APIError.from(error))
                }
                // By the route's template, not the path: /api/…/runs/{run} is one series, not one per run.
                let labels = [("method", spec.method.rawValue), ("route", spec.path)]
                GoferMetrics.count(.httpRequests, labels + [("status", String(response.status.code))])
                GoferMetrics.duration(.httpRequestDuration, labels, ContinuousClock.now - start)
                return response
            }
        }
        return router
    }

    /// Authenticates and authorizes a request for a route that needs a token, or throws the
    /// 401/403/429 that says why.
    func authenticate(_ request: Request, _ context: GoferRequestContext, _ access: TokenAccess) async throws -> Identity {
        // Without an Authorization header, the web UI's session cookie (CSRF-checked for changes) stands for it.
        let session = request.headers[.authorization] == nil ? try sessions.authorization(request.headers, method: request.method) : nil
        return try await authenticate(
            access, headers: request.headers, peer: context.peer, query: request.uri.queryParameters, pathTarget: { try self.target(context) },
            sessionAuthorization: session)
    }

    /// An open route's one condition: the client's address is within `rate_limit_public`.
    func admitOpen(headers: HTTPFields, peer: String?) throws {
        let client = clients.client(peer: peer, forwardedFor: headers[.xForwardedFor])
        if let wait = openLimiter.take(client) { throw AuthError.rateLimited(retryAfter: wait, what: "requests") }
    }

    /// The one decision of who may call what: `access` against the caller's token (from `headers`)
    /// and what the request touches (`pathTarget` for path rules, `query` for query rules).
    func authenticate(
        _ access: TokenAccess, headers: HTTPFields, peer: String?, query: Parameters?, pathTarget: () throws -> Target,
        sessionAuthorization: String? = nil
    ) async throws -> Identity {
        let client = clients.client(peer: peer, forwardedFor: headers[.xForwardedFor])
        let authorization = headers[.authorization] ?? sessionAuthorization
        switch access {
        case .anyToken:
            return try await auth.authenticate(authorization: authorization, client: client)
        case .permission(let permission, let rule):
            let identity = try await auth.authenticate(authorization: authorization, client: client)
            switch rule {
            case .path:
                try identity.require(permission, on: try pathTarget())
            case .query:
                var target = Target.server
                if let ns = query?.get("namespace") {
                    let ns = try identifier(String(ns), field: "namespace")
                    target = .namespace(ns)
                    if let p = query?.get("pipeline") { target = .pipeline(namespace: ns, pipeline: try identifier(String(p), field: "pipeline")) }
                }
                // No namespace named: the whole server, or (for a caller with the permission only
                // somewhere) what the handler filters to.
                if target == .server && !identity.allows(permission, on: .server) {
                    guard identity.grants.contains(where: { $0.covers(permission) }) else {
                        throw AuthError.forbidden(permission, .server, token: identity.token)
                    }
                } else {
                    try identity.require(permission, on: target)
                }
            case .filtered:
                guard identity.grants.contains(where: { $0.covers(permission) }) else {
                    throw AuthError.forbidden(permission, .server, token: identity.token)
                }
            }
            return identity
        }
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
}

/// Gives errors raised outside the handlers (an unknown route, a framework error) the same JSON
/// body as everything else.
struct JSONErrorMiddleware: RouterMiddleware {
    typealias Context = GoferRequestContext
    let api: GoferAPI

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            if error.status == .notFound, !api.attachEnabled, request.uri.path.hasSuffix("/attach"),
                !GoferAPI.methods(forPath: request.uri.path).isEmpty
            {
                // The route is not served at all; say why rather than "no such endpoint".
                return api.errorResponse(AttachRoutes.disabled)
            }
            if error.status == .notFound, request.method == .get, request.uri.path.hasPrefix("/ui/"), !request.uri.path.hasPrefix("/ui/assets/"),
                GoferAPI.methods(forPath: request.uri.path).isEmpty
            {
                // A web UI address that is no page (and no route under another method, which is a
                // 405 below): a person in a browser gets the UI saying so.
                var page = WebUIRoutes.asset("index.html")
                page.status = .notFound
                return page
            }
            if error.status == .notFound {
                // A known path with another method: 405 and what it does allow.
                let allowed = GoferAPI.methods(forPath: request.uri.path)
                if !allowed.isEmpty {
                    var response = api.errorResponse(
                        APIError(
                            status: 405, code: "method_not_allowed",
                            message:
                                "\(request.method.rawValue) is not allowed on \(request.uri.path); it allows \(allowed.joined(separator: ", "))"))
                    response.headers[.allow] = allowed.joined(separator: ", ")
                    return response
                }
            }
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

