import Foundation
import Hummingbird

extension CreateNamespaceRequest: RequestBody {}

/// Namespaces: listing shows those the caller may read; creating and deleting is for admins.
enum NamespaceRoutes: RouteCollection {
    /// What these routes use, and nothing else.
    struct Services: RouteServices {
        let store: any NamespaceRepository
        let objects: Objects
        let secrets: Secrets
        let trials: Trials
    }

    typealias Route = GoferHTTP.Route<Services>

    static let routes: [Route] = [
        Route(.get, "/api/namespaces", .permission(Permission(.namespaces, .read), .filtered)) { s, req, ctx in
            let (cursor, limit) = try s.paging(req)
            let caller = ctx.identity
            var page = try await s.store.namespaces(after: cursor, limit: limit)
            page.items = page.items.filter { caller.mayRead(.namespaces, namespace: $0.id) }
            return try s.json(page)
        },
        Route(.post, "/api/namespaces", .permission(Permission(.namespaces, .write), .path)) { s, req, ctx in
            let body = try await RequestBodyReader.decode(CreateNamespaceRequest.self, from: req)
            let id = try s.identifier(body.id, field: "/id")
            if s.trials.policy.enabled && id.hasPrefix(TrialPolicy.namespacePrefix) {
                throw APIError.badRequest(
                    "namespaces starting with \(TrialPolicy.namespacePrefix) are public mode's trials",
                    details: [.init(field: "/id", message: "choose another name")])
            }
            let ns = try await s.store.createNamespace(id: id, name: body.name, description: body.description ?? "", by: ctx.principal)
            return try s.json(ns, status: .created)
        },
        Route(.get, APIPath.ns, .permission(Permission(.namespaces, .read), .path)) { s, _, ctx in
            try s.json(try await s.store.namespace(try s.param(ctx, "ns")))
        },
        Route(.delete, APIPath.ns, .permission(Permission(.namespaces, .delete), .path)) { s, _, ctx in
            let ns = try s.param(ctx, "ns")
            try await s.store.deleteNamespace(ns, by: ctx.principal)
            await s.secrets.namespaceDeleted(ns)
            await s.objects.namespaceDeleted(ns)
            return Response(status: .noContent)
        },
    ]
}
