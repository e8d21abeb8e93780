import ExtensionSDK
import Foundation
import Hummingbird
import NIOCore

/// Who may call a route. Every route states one: a route cannot be registered without it.
public enum Access: Sendable, Equatable, CustomStringConvertible {
    /// Anyone, limited per client address (`rate_limit_public`). Health, and webhooks, which
    /// authenticate by signature.
    case open
    /// Any valid token (`whoami`).
    case anyToken
    /// A token whose roles grant the permission on what the request touches.
    case permission(Permission, TargetRule)

    public var description: String {
        switch self {
        case .open: return "public"
        case .anyToken: return "any token"
        case .permission(let p, _): return p.description
        }
    }

    /// The permission, if the route needs one.
    public var permission: Permission? {
        if case .permission(let p, _) = self { return p }
        return nil
    }
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

/// One endpoint: method, path, who may call it, and what it does.
public struct Route: Sendable {
    public typealias Handler = @Sendable (GoferAPI, Request, GoferRequestContext) async throws -> Response

    public let method: HTTPRequest.Method
    public let path: String
    public let access: Access
    let handler: Handler

    init(_ method: HTTPRequest.Method, _ path: String, _ access: Access, _ handler: @escaping Handler) {
        self.method = method
        self.path = path
        self.access = access
        self.handler = handler
    }

    /// `GET /api/namespaces/{ns}`.
    public var name: String { "\(method.rawValue) \(path)" }
}

/// The routes of one resource, in one file.
protocol RouteCollection {
    static var routes: [Route] { get }
}

/// Per-request state: the client's address and, once authenticated, the caller.
public struct GoferRequestContext: Hummingbird.RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The peer's IP address (before trusted-proxy resolution).
    public let peer: String?
    /// Set for every route that needs a token, before its handler runs.
    public var identity: Identity?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peer = source.channel.remoteAddress?.ipAddress
    }

    /// Who is acting, for records: the caller's token, or the server itself for open routes.
    public var principal: Principal { identity?.principal ?? .system }

    /// The caller; open routes have none.
    func caller() throws -> Identity {
        guard let identity else { throw APIError(status: 500, code: "internal", message: "internal error: no caller on this route") }
        return identity
    }
}

/// Paths shared by the collections.
enum APIPath {
    static let ns = "/api/namespaces/{ns}"
    static let pipe = ns + "/pipelines/{pipeline}"
    static let run = pipe + "/runs/{run}"
    static let task = run + "/tasks/{task}"
}
