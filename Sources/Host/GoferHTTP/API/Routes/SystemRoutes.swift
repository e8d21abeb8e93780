import ExtensionSDK
import Foundation
import Hummingbird
import NIOCore

/// Health, the caller's identity, the event log, installed triggers and webhooks.
enum SystemRoutes: RouteCollection {
    /// What these routes use, and nothing else.
    struct Services: RouteServices {
        let store: any EventRepository
        let triggers: Triggers
        /// The server's version.
        let version: String
        /// The largest webhook body accepted.
        let maxExternalBody: Int
    }

    typealias Route = GoferHTTP.Route<Services>

    static let routes: [Route] = [
        Route.open(.get, "/api/health") { s, _, _ in try s.json(["status": "ok", "version": s.version, "commit": goferCommit ?? ""]) },
        Route(.get, "/api/whoami", .anyToken) { s, _, ctx in try s.json(ctx.identity.token) },
        // Without `namespace`, a caller limited to some namespaces gets the events of those only.
        Route(.get, "/api/events", .permission(Permission(.events, .read), .query)) { s, req, ctx in
            let q = req.uri.queryParameters
            guard let after = Int64(q.get("cursor") ?? "0"), after >= 0 else {
                throw APIError.badRequest("invalid cursor", details: [.init(field: "cursor", message: "not a cursor from this list")])
            }
            let (_, limit) = try s.paging(req, defaultLimit: 100)
            let namespace = try q.get("namespace").map { try s.identifier(String($0), field: "namespace") }
            let pipeline = try q.get("pipeline").map { try s.identifier(String($0), field: "pipeline") }
            let caller = ctx.identity
            let permission = Permission(.events, .read)
            guard namespace == nil, !caller.allows(permission, on: .server) else {
                return try s.json(try await s.store.events(namespace: namespace, pipeline: pipeline, after: after, limit: limit))
            }
            return try s.json(try await visibleEvents(s, caller: caller, after: after, limit: limit))
        },
        // A token, not a separate listener: the API's TLS and rate limits cover it, there is no
        // second port to firewall, and Prometheus sends bearer tokens (`authorization` in a scrape config).
        Route(.get, "/metrics", .permission(Permission(.metrics, .read), .path)) { _, _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: Telemetry.prometheus.emitToBuffer())))
        },
        Route(.get, "/api/triggers", .permission(Permission(.triggers, .read), .path)) { s, _, _ in
            try s.json(ItemList(items: await s.triggers.info()))
        },
        // Webhooks authenticate by signature (the trigger checks it), not by token.
        Route.open(.post, "/api/external/{trigger}") { s, req, ctx in
            let name = try s.param(ctx, "trigger")
            var req = req
            let buffer: ByteBuffer
            do {
                buffer = try await req.collectBody(upTo: s.maxExternalBody)
            } catch {
                throw APIError(status: 413, code: "too_large", message: "the request body is larger than \(s.maxExternalBody) bytes")
            }
            var headers: [String: String] = [:]
            for field in req.headers { headers[field.name.canonicalName] = field.value }
            let answer: Triggers.ExternalAnswer
            do {
                answer = try await s.triggers.external(name, headers: headers, body: Array(buffer.readableBytesView))
            } catch {
                // Any name can be posted to: only installed triggers get a series of their own.
                let status = APIError.from(error).status
                let known = await s.triggers.isInstalled(name)
                GoferMetrics.count(.webhookDeliveries, [("trigger", known ? name : "unknown"), ("status", String(status))])
                throw error
            }
            GoferMetrics.count(.webhookDeliveries, [("trigger", name), ("status", String(answer.status))])
            return Response(
                status: HTTPResponse.Status(code: answer.status), headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: answer.body)))
        },
    ]

    /// The events after `after` that `caller` may read, up to `limit`: scanned in batches, at most
    /// `maxScanned` events per request (the next cursor then continues the scan).
    static func visibleEvents(_ s: Services, caller: Identity, after: Int64, limit: Int, maxScanned: Int = 20_000) async throws
        -> Page<Event>
    {
        let permission = Permission(.events, .read)
        var items: [Event] = []
        var cursor = after
        var scanned = 0
        while items.count < limit && scanned < maxScanned {
            let batch = try await s.store.events(after: cursor, limit: 500)
            for event in batch.items {
                cursor = event.id
                scanned += 1
                let target: Target =
                    switch (event.namespace, event.pipeline) {
                    case (let ns?, let p?): .pipeline(namespace: ns, pipeline: p)
                    case (let ns?, nil): .namespace(ns)
                    case (nil, _): .server
                    }
                if caller.allows(permission, on: target) { items.append(event) }
                if items.count == limit || scanned == maxScanned { break }
            }
            if batch.nextCursor == nil { break }
        }
        let more = try await s.store.events(after: cursor, limit: 1)
        return Page(items: items, nextCursor: more.items.isEmpty ? nil : String(cursor))
    }
}
