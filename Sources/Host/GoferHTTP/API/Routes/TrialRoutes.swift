import ExtensionSDK
import Foundation
import Hummingbird

/// Public mode: anyone asks for a trial token; a trial token reads its budget.
enum TrialRoutes: RouteCollection {
    static let routes: [Route] = [
        // Open by design (public mode is for people without a token), rate-limited per client
        // address by trial_rate_limit on top of rate_limit_public; 404 when public mode is off.
        Route.open(.post, "/api/trial") { api, req, ctx in
            let client = api.clients.client(peer: ctx.peer, forwardedFor: req.headers[.xForwardedFor])
            let grant = try await api.trials.issue(address: client)
            return try api.json(grant, status: .created)
        },
        Route(.get, "/api/trial", .anyToken) { api, _, ctx in
            let caller = ctx.identity
            guard api.trials.policy.enabled, caller.token.roles.contains(TrialPolicy.role), let ns = caller.token.namespaces.first,
                api.trials.policy.isTrial(ns)
            else {
                throw TrialRefusal(kind: .off, message: "this token is not a public-mode trial's")
            }
            return try api.json(try await api.trials.budget(namespace: ns))
        },
    ]
}
