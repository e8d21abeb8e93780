import ExtensionSDK
import Foundation
import Hummingbird
import NIOCore

/// Who may call a route. Every route states one: a route cannot be registered without it.
public enum Access: Sendable, Equatable, CustomStringConvertible {
    /// Anyone, limited per client address (`rate_limit_public`). Health, and webhooks, which
    /// authenticate by signature.
    case open
    /// A caller with a token, and what the token must allow.
    case token(TokenAccess)

    /// Any valid token (`whoami`).
    public static let anyToken = Access.token(.anyToken)
    /// A token whose roles grant `permission` on what the request touches.
    public static func permission(_ permission: Permission, _ rule: TargetRule) -> Access { .token(.permission(permission, rule)) }

    public var description: String {
        switch self {
        case .open: return "public"
        case .token(.anyToken): return "any token"
        case .token(.permission(let p, _)): return p.description
        }
    }

    /// The permission, if the route needs one.
    public var permission: Permission? {
        if case .token(.permission(let p, _)) = self { return p }
        return nil
    }
}

/// What a route that needs a token asks of it. Its handler gets an ``AuthenticatedContext``: the
/// caller is a type there, not a value that might be missing.
public enum TokenAccess: Sendable, Equatable {
    /// Any valid token (`whoami`).
    case anyToken
    /// A token whose roles grant the permission on what the request touches.
    case permission(Permission, TargetRule)
}

/// Where a route's target (namespace, pipeline) comes from.
public enum TargetRule: Sendable, Equatable {
    /// The path's `{ns}` and `{pipeline}`; none means the whole server.
    case path
    /// The `namespace` (and `pipeline`) query parameters; none means every namespace the caller
    /// may see (the handler filters to them).
    case query
    /// A list that shows only what the caller may see: needs the permission somewhere.
    case filtered
}

/// What the route table lists of one endpoint: method, path and who may call it.
public struct RouteSpec: Sendable, Equatable {
    public let method: HTTPRequest.Method
    public let path: String
    /// Who may call it.
    public let access: Access

    /// `GET /api/namespaces/{ns}`.
    public var name: String { "\(method.rawValue) \(path)" }
}

/// One endpoint of a collection whose handlers use `Services` — only those: a collection holds
/// the services it needs (Hummingbird's route collections), not the whole server. An open route's
/// handler gets the request's context; every other route's handler an ``AuthenticatedContext``
/// with its caller.
public struct Route<Services: Sendable>: Sendable {
    public typealias OpenHandler = @Sendable (Services, Request, GoferRequestContext) async throws -> Response
    public typealias Handler = @Sendable (Services, Request, AuthenticatedContext) async throws -> Response

    enum Body: Sendable {
        case open(OpenHandler)
        case authenticated(TokenAccess, Handler)
    }

    public let method: HTTPRequest.Method
    public let path: String
    let body: Body

    /// A route that needs a token that allows `access`.
    init(_ method: HTTPRequest.Method, _ path: String, _ access: TokenAccess, _ handler: @escaping Handler) {
        self.method = method
        self.path = path
        self.body = .authenticated(access, handler)
    }

    /// A route anyone may call (rate-limited per client address).
    static func open(_ method: HTTPRequest.Method, _ path: String, _ handler: @escaping OpenHandler) -> Route {
        Route(method: method, path: path, body: .open(handler))
    }

    private init(method: HTTPRequest.Method, path: String, body: Body) {
        self.method = method
        self.path = path
        self.body = body
    }

    /// Method, path and access.
    public var spec: RouteSpec {
        switch body {
        case .open: return RouteSpec(method: method, path: path, access: .open)
        case .authenticated(let access, _): return RouteSpec(method: method, path: path, access: .token(access))
        }
    }

    /// The route with its collection's services in hand, ready for the router.
    func bound(to services: Services) -> BoundRoute {
        switch body {
        case .open(let handler):
            return BoundRoute(spec: spec, body: .open { req, ctx in try await handler(services, req, ctx) })
        case .authenticated(let access, let handler):
            return BoundRoute(spec: spec, body: .authenticated(access) { req, ctx in try await handler(services, req, ctx) })
        }
    }
}

/// A route whose handler has its services: what the router registers.
struct BoundRoute: Sendable {
    enum Body: Sendable {
        case open(@Sendable (Request, GoferRequestContext) async throws -> Response)
        case authenticated(TokenAccess, @Sendable (Request, AuthenticatedContext) async throws -> Response)
    }

    let spec: RouteSpec
    let body: Body
}

/// The routes of one resource, in one file, and the services they use.
protocol RouteCollection {
    associatedtype Services: RouteServices
    static var routes: [Route<Services>] { get }
}

extension RouteCollection {
    /// Method, path and access of every route.
    static var specs: [RouteSpec] { routes.map(\.spec) }

    /// Every route with `services` in hand.
    static func bound(to services: Services) -> [BoundRoute] { routes.map { $0.bound(to: services) } }
}

/// What every route's handler can read of its request: the path's parameters, the client's
/// address, and who acts.
public protocol RouteContext: Sendable {
    /// The path's `{…}` parameters.
    var parameters: Parameters { get }
    /// The peer's IP address (before trusted-proxy resolution).
    var peer: String? { get }
    /// Who is acting, for records: the caller's token, or the server itself for open routes.
    var principal: Principal { get }
}

/// Per-request state: the client's address. An open route's handler gets it as it is; the router
/// authenticates every other request and hands its handler an ``AuthenticatedContext``.
public struct GoferRequestContext: Hummingbird.RequestContext, RouteContext {
    public var coreContext: CoreRequestContextStorage
    public let peer: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peer = source.channel.remoteAddress?.ipAddress
    }

    /// Open routes act as the server itself.
    public var principal: Principal { .system }
}

/// The context of a route that needs a token: the request's context and the caller, who is
/// always there (the router made this only after authenticating and authorizing the request).
public struct AuthenticatedContext: RouteContext {
    /// The request's own context.
    public let request: GoferRequestContext
    /// The caller.
    public let identity: Identity

    public var parameters: Parameters { request.parameters }
    public var peer: String? { request.peer }
    public var principal: Principal { identity.principal }
}

/// Paths shared by the collections.
enum APIPath {
    static let ns = "/api/namespaces/{ns}"
    static let pipe = ns + "/pipelines/{pipeline}"
    static let run = pipe + "/runs/{run}"
    static let task = run + "/tasks/{task}"
}
