import ExtensionSDK
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The web UI: its page and assets (public files; every piece of data they show comes from the
/// API with the visitor's own session), and the login that turns an API token into a session.
enum WebUIRoutes: RouteCollection {
    /// What these routes use, and nothing else.
    struct Services: RouteServices {
        let auth: Authenticator
        let sessions: WebSessions
        let clients: ClientAddressResolver
    }

    typealias Route = GoferHTTP.Route<Services>

    /// What the browser may do with the UI's pages: only this server's scripts, styles and API.
    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy: "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        .xContentTypeOptions: "nosniff", HTTPField.Name("X-Frame-Options")!: "DENY", HTTPField.Name("Referrer-Policy")!: "no-referrer",
        .cacheControl: "no-cache",
    ]

    /// Each file's response, built once: a request gets a copy that shares the bytes.
    static let assetResponses: [String: (headers: HTTPFields, body: ByteBuffer)] = WebUIAssets.files.mapValues { file in
        var headers = securityHeaders
        headers[.contentType] = file.contentType
        return (headers, ByteBuffer(string: file.text))
    }

    static func asset(_ name: String) -> Response {
        guard let file = assetResponses[name] else {
            return Response(status: .notFound, headers: [.contentType: "text/plain"], body: ResponseBody(byteBuffer: ByteBuffer(string: "no such file\n")))
        }
        return Response(status: .ok, headers: file.headers, body: ResponseBody(byteBuffer: file.body))
    }

    struct Login: RequestBody {
        static let fields = ["token"]
        var token: String
        enum CodingKeys: String, CodingKey { case token }
    }
    /// The page's CSRF token, the token the session acts as (never its secret), and the pages it
    /// may open (the UI hides links to the others).
    struct SessionAnswer: Encodable {
        var csrf: String
        var token: APIToken
        var pages: [UIPage]

        init(csrf: String, identity: Identity) {
            self.csrf = csrf
            self.token = identity.token
            self.pages = UIPage.allCases.filter { page in page.permission.map { identity.allows($0, on: .server) } ?? true }
        }
    }

    /// The UI's pages that need a permission beyond the caller's own namespaces.
    enum UIPage: String, Encodable, CaseIterable {
        case pipelines, extensions
        var permission: Permission? {
            switch self {
            case .pipelines: return nil
            case .extensions: return ExtensionRoutes.readPermission
            }
        }
    }

    /// The UI's page paths (its links, the run links the server sends out): each answers the page,
    /// whose script shows what the path names — or asks to log in first and then shows it.
    /// Path parameters are not checked here: the page asks the API, which checks them.
    static let pagePaths = [
        "/ui", "/ui/extensions", "/ui/namespaces/{namespace}/pipelines/{pipeline}", "/ui/namespaces/{namespace}/pipelines/{pipeline}/runs/{run}",
        "/ui/namespaces/{namespace}/pipelines/{pipeline}/runs/{run}/tasks/{task}",
    ]
    struct LoggedOut: Encodable { var loggedOut = true }

    static let routes: [Route] = [
        Route.open(.get, "/") { _, _, _ in asset("index.html") },
    ] + pagePaths.map { path in Route.open(.get, path) { _, _, _ in asset("index.html") } } + [
        // Only the names of the compiled-in files match: nothing is read from disk.
        Route.open(.get, "/ui/assets/{file}") { _, _, ctx in asset(ctx.parameters.get("file") ?? "") },
        // Exchanges a token for a session cookie. Failed logins count against the client's
        // authentication-failure budget like any bad token.
        Route.open(.post, "/ui/login") { s, req, ctx in
            let body = try await RequestBodyReader.decode(Login.self, from: req)
            let token = body.token.trimmingCharacters(in: .whitespacesAndNewlines)
            let client = s.clients.client(peer: ctx.peer, forwardedFor: req.headers[.xForwardedFor])
            let identity = try await s.auth.authenticate(authorization: "Bearer " + token, client: client)
            let (id, csrf) = s.sessions.create(token: token)
            var response = try s.json(SessionAnswer(csrf: csrf, identity: identity))
            response.headers[.setCookie] = s.sessions.setCookie(id)
            return response
        },
        // The page's CSRF token and who it acts as, for a page loaded with a live session.
        Route(.get, "/ui/session", .anyToken) { s, req, ctx in
            guard let (_, session) = s.sessions.session(req.headers) else {
                throw APIError(status: 404, code: "not_found", message: "no web UI session: log in at /")
            }
            return try s.json(SessionAnswer(csrf: session.csrf, identity: ctx.identity))
        },
        Route(.post, "/ui/logout", .anyToken) { s, req, _ in
            if let (id, _) = s.sessions.session(req.headers) { s.sessions.remove(id) }
            var response = try s.json(LoggedOut())
            response.headers[.setCookie] = s.sessions.setCookie(nil)
            return response
        },
    ]
}
