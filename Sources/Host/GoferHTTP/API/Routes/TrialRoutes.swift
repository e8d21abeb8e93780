import ExtensionSDK
import Foundation
import Hummingbird

/// Public mode: anyone asks for a trial token; a trial token reads its budget.
enum TrialRoutes: RouteCollection {
    /// What these routes use, and nothing else.
    struct Services: RouteServices {
        let trials: Trials
        let clients: ClientAddressResolver
    }

    typealias Route = GoferHTTP.Route<Services>

    static let routes: [Route] = [
        // Open by design (public mode is for people without a token), rate-limited per client
        // address by trial_rate_limit on top of rate_limit_public; 404 when public mode is off.
        Route.open(.post, "/api/trial") { s, req, ctx in
            let client = s.clients.client(peer: ctx.peer, forwardedFor: req.headers[.xForwardedFor])
            let grant = try await s.trials.issue(address: client)
            return try s.json(grant, status: .created)
        },
        Route(.get, "/api/trial", .anyToken) { s, _, ctx in
            let caller = ctx.identity
            guard s.trials.policy.enabled, caller.token.roles.contains(TrialPolicy.role), let ns = caller.token.namespaces.first,
                s.trials.policy.isTrial(ns)
            else {
                throw TrialRefusal(kind: .off, message: "this token is not a public-mode trial's")
            }
            return try s.json(try await s.trials.budget(namespace: ns))
        },
    ]
}
