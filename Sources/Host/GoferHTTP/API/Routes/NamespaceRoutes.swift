import Foundation
import Hummingbird

extension CreateNamespaceRequest: RequestBody {}

/// Namespaces: listing shows those the caller may read; creating and deleting is for admins.
enum NamespaceRoutes: RouteCollection {
    static let routes: [Route] = [
        Route(.get, "/api/namespaces", .permission(Permission(.namespaces, .read), .filtered)) { api, req, ctx in
            let (cursor, limit) = try api.paging(req)
            let caller = ctx.identity
            var page = try await api.store.namespaces(after: cursor, limit: limit)
            page.items = page.items.filter { caller.mayRead(.namespaces, namespace: $0.id) }
            return try api.json(page)
        },
        Route(.post, "/api/namespaces", .permission(Permission(.namespaces, .write), .path)) { api, req, ctx in
            let body = try await RequestBodyReader.decode(CreateNamespaceRequest.self, from: req)
            let id = try api.identifier(body.id, field: "/id")
            if api.trials.policy.enabled && id.hasPrefix(TrialPolicy.namespacePrefix) {
                throw APIError.badRequest(
                    "namespaces starting with \(TrialPolicy.namespacePrefix) are public mode's trials",
                    details: [.init(field: "/id", message: "choose another name")])
            }
            let ns = try await api.store.createNamespace(id: id, name: body.name, description: body.description ?? "", by: ctx.principal)
            return try api.json(ns, status: .created)
        },
        Route(.get, APIPath.ns, .permission(Permission(.namespaces, .read), .path)) { api, _, ctx in
            try api.json(try await api.store.namespace(try api.param(ctx, "ns")))
        },
        Route(.delete, APIPath.ns, .permission(Permission(.namespaces, .delete), .path)) { api, _, ctx in
            let ns = try api.param(ctx, "ns")
            try await api.store.deleteNamespace(ns, by: ctx.principal)
            await api.secrets.namespaceDeleted(ns)
            await api.objects.namespaceDeleted(ns)
            return Response(status: .noContent)
        },
    ]
}
