import ExtensionSDK
import Foundation
import Hummingbird

extension CreateTokenRequest: RequestBody {}
extension CreateRoleRequest: RequestBody {}

/// Tokens and roles: admin business. Nobody hands out more than they hold.
enum TokenRoutes: RouteCollection {
    /// What these routes use, and nothing else.
    struct Services: RouteServices {
        let store: any TokenRepository
        let auth: Authenticator
    }

    typealias Route = GoferHTTP.Route<Services>

    static let routes: [Route] = [
        Route(.post, "/api/tokens", .permission(Permission(.tokens, .write), .path)) { s, req, ctx in
            let body = try await RequestBodyReader.decode(CreateTokenRequest.self, from: req)
            let caller = ctx.identity
            let name = body.name
            guard !name.isEmpty, name.unicodeScalars.count <= 64, name.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
                throw APIError.badRequest(
                    "name must be 1–64 printable characters", details: [.init(field: "/name", message: "empty, too long or has control characters")])
            }
            guard !body.roles.isEmpty else {
                throw APIError.badRequest("a token needs at least one role", details: [.init(field: "/roles", message: "empty")])
            }
            var roles: [Role] = []
            for (i, id) in body.roles.enumerated() {
                if id == "run" {
                    throw APIError.badRequest(
                        "the run role is given to run tokens only", details: [.init(field: "/roles/\(i)", message: "not assignable")])
                }
                do { roles.append(try await s.store.role(id)) } catch StoreError.notFound {
                    throw APIError.badRequest(
                        "no role \"\(id)\" (gofer role list shows them)", details: [.init(field: "/roles/\(i)", message: "unknown role")])
                }
            }
            let namespaces = body.namespaces ?? ["*"]
            for (i, p) in namespaces.enumerated() where !NamespacePattern.isValid(p) {
                throw APIError.badRequest(
                    "\"\(p)\" is not a namespace pattern",
                    details: [.init(field: "/namespaces/\(i)", message: "use namespace ids, where * stands for any part")])
            }
            if namespaces.isEmpty {
                throw APIError.badRequest("namespaces cannot be empty", details: [.init(field: "/namespaces", message: "empty")])
            }
            try s.requireNoEscalation(caller, grants: roles.flatMap(\.grants))
            var expiresAt: Date?
            if let text = body.expiresIn {
                guard let d = DurationText.parse(text), d > .zero, d <= .seconds(3650 * 86400) else {
                    throw APIError.badRequest(
                        "expires_in must be a duration up to 3650d, such as 90d or 12h",
                        details: [.init(field: "/expires_in", message: "not a duration")])
                }
                expiresAt = Date().addingTimeInterval(Double(d.components.seconds))
            }
            let secret = TokenSecret.generate()
            let token = APIToken(
                id: APIToken.newID(), name: name, kind: .user, roles: body.roles, namespaces: namespaces, createdBy: ctx.principal,
                createdAt: Date(), expiresAt: expiresAt)
            try await s.store.createToken(token, hash: secret.hash)
            return try s.json(CreatedToken(token: token, secret: secret.text), status: .created)
        },
        Route(.get, "/api/tokens", .permission(Permission(.tokens, .read), .path)) { s, req, _ in
            let all = try s.flag(req, "revoked")
            return try s.json(ItemList(items: try await s.store.tokens(includeRevoked: all)))
        },
        Route(.get, "/api/tokens/{token}", .permission(Permission(.tokens, .read), .path)) { s, _, ctx in
            try s.json(try await s.store.token(id: try s.tokenID(ctx)))
        },
        Route(.delete, "/api/tokens/{token}", .permission(Permission(.tokens, .delete), .path)) { s, req, ctx in
            let reason = req.uri.queryParameters.get("reason").map { String($0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "revoked by \(ctx.principal)"
            let token = try await s.store.revokeToken(id: try s.tokenID(ctx), by: ctx.principal, reason: reason)
            s.auth.forget(tokenID: token.id)
            return try s.json(token)
        },
        Route(.get, "/api/roles", .permission(Permission(.roles, .read), .path)) { s, _, _ in
            try s.json(ItemList(items: try await s.store.roles()))
        },
        Route(.get, "/api/roles/{role}", .permission(Permission(.roles, .read), .path)) { s, _, ctx in
            try s.json(try await s.store.role(try s.param(ctx, "role")))
        },
        Route(.post, "/api/roles", .permission(Permission(.roles, .write), .path)) { s, req, ctx in
            let body = try await RequestBodyReader.decode(CreateRoleRequest.self, from: req)
            let id = try s.identifier(body.id, field: "/id")
            guard !body.grants.isEmpty else {
                throw APIError.badRequest("a role needs at least one grant", details: [.init(field: "/grants", message: "empty")])
            }
            for (i, g) in body.grants.enumerated() {
                if g.resources.isEmpty || g.actions.isEmpty {
                    throw APIError.badRequest(
                        "grant \(i) needs resources and actions", details: [.init(field: "/grants/\(i)", message: "empty resources or actions")])
                }
                for (j, p) in g.namespaces.enumerated() where !NamespacePattern.isValid(p) {
                    throw APIError.badRequest(
                        "\"\(p)\" is not a namespace pattern", details: [.init(field: "/grants/\(i)/namespaces/\(j)", message: "invalid")])
                }
            }
            try s.requireNoEscalation(ctx.identity, grants: body.grants)
            let role = Role(id: id, description: body.description ?? "", grants: body.grants)
            try await s.store.createRole(role, by: ctx.principal)
            return try s.json(role, status: .created)
        },
        Route(.delete, "/api/roles/{role}", .permission(Permission(.roles, .delete), .path)) { s, _, ctx in
            try await s.store.deleteRole(try s.param(ctx, "role"), by: ctx.principal)
            return Response(status: .noContent)
        },
    ]
}

extension RouteServices {
    func tokenID(_ ctx: some RouteContext) throws -> String {
        let id = ctx.parameters.get("token") ?? ""
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
        guard !id.isEmpty, id.count <= 200, id.allSatisfy({ allowed.contains($0) }) else {
            throw APIError.badRequest("\"\(id)\" is not a token id", details: [.init(field: "token", message: "ids look like tok_…")])
        }
        return id
    }

    /// Nobody grants what they do not hold: every permission in `grants` must be the caller's in
    /// every namespace.
    func requireNoEscalation(_ caller: Identity, grants: [Grant]) throws {
        for grant in grants {
            for resource in Resource.allCases where grant.resources.contains(where: { $0.covers(resource) }) {
                for action in grant.actions {
                    let p = Permission(resource, action)
                    if !caller.allows(p, on: .server) {
                        throw APIError(
                            status: 403, code: "forbidden",
                            message: "you cannot hand out \(p): token \(caller.token.name) (\(caller.token.id)) does not hold it everywhere",
                            details: [.init(field: "permission", message: p.description)])
                    }
                }
            }
        }
    }
}
