import ExtensionSDK
import Foundation
import Hummingbird
import NIOCore

/// Health, the caller's identity, the event log, installed triggers and webhooks.
enum SystemRoutes: RouteCollection {
    static let routes: [Route] = [
        Route(.get, "/api/health", .open) { api, _, _ in try api.json(["status": "ok", "version": api.version]) },
        Route(.get, "/api/whoami", .anyToken) { api, _, ctx in try api.json(try ctx.caller().token) },
        Route(.get, "/api/events", .permission(Permission(.events, .read), .query)) { api, req, _ in
            let q = req.uri.queryParameters
            guard let after = Int64(q.get("cursor") ?? "0"), after >= 0 else {
                throw APIError.badRequest("invalid cursor", details: [.init(field: "cursor", message: "not a cursor from this list")])
            }
            let (_, limit) = try api.paging(req, defaultLimit: 100)
            let namespace = try q.get("namespace").map { try api.identifier(String($0), field: "namespace") }
            let pipeline = try q.get("pipeline").map { try api.identifier(String($0), field: "pipeline") }
            return try api.json(try await api.store.events(namespace: namespace, pipeline: pipeline, after: after, limit: limit))
        },
        // A token, not a separate listener: the API's TLS and rate limits cover it, there is no
        // second port to firewall, and Prometheus sends bearer tokens (`authorization` in a scrape config).
        Route(.get, "/metrics", .permission(Permission(.metrics, .read), .path)) { _, _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: Telemetry.prometheus.emitToBuffer())))
        },
        Route(.get, "/api/triggers", .permission(Permission(.triggers, .read), .path)) { api, _, _ in
            try api.json(["items": await api.triggers.info()])
        },
        // Webhooks authenticate by signature (the trigger checks it), not by token.
        Route(.post, "/api/external/{trigger}", .open) { api, req, ctx in
            let name = try api.param(ctx, "trigger")
            var req = req
            let buffer: ByteBuffer
            do {
                buffer = try await req.collectBody(upTo: api.maxExternalBody)
            } catch {
                throw APIError(status: 413, code: "too_large", message: "the request body is larger than \(api.maxExternalBody) bytes")
            }
            var headers: [String: String] = [:]
            for field in req.headers { headers[field.name.canonicalName] = field.value }
            let answer = try await api.triggers.external(name, headers: headers, body: Array(buffer.readableBytesView))
            return Response(
                status: HTTPResponse.Status(code: answer.status), headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: answer.body)))
        },
    ]
}
