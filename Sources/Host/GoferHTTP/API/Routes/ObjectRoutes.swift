import ExtensionSDK
import Foundation
import GoferConfig
import HTTPTypes
import Hummingbird
import NIOCore

/// Objects of a pipeline (kept across runs), of a run, and of an extension. Bodies are raw
/// bytes, streamed both ways; `PUT` answers the stored object's description (size, SHA-256),
/// `GET` of one object sends its bytes with `X-Gofer-SHA256` and `Content-Length`.
enum ObjectRoutes: RouteCollection {
    /// What these routes use, and nothing else.
    struct Services: RouteServices {
        let objects: Objects
    }

    typealias Route = GoferHTTP.Route<Services>

    /// The three scopes' paths and permissions, and how a request names its scope.
    struct ScopeRoutes {
        let base: String
        let resource: Resource
        let rule: TargetRule
        let scope: @Sendable (Services, AuthenticatedContext) throws -> ObjectScope

        var routes: [Route] {
            let scope = self.scope
            let upload: Route.Handler = { services, req, ctx in
                let s = try scope(services, ctx)
                let key = try services.objectKey(ctx)
                // No body at all (no length, not chunked) is a mistake, not an empty file; an
                // empty object is sent with `Content-Length: 0`.
                guard req.headers[.contentLength] != nil || req.headers[.transferEncoding] != nil else {
                    throw APIError.badRequest(
                        "the request has no body: send the object's bytes (an empty object is sent with Content-Length: 0)",
                        details: [.init(field: "body", message: "required")])
                }
                let declared = req.headers[.contentLength].flatMap { Int64($0) }
                let info: ObjectInfo
                switch req.uri.queryParameters.get("encoding") {
                case nil:
                    info = try await services.objects.put(s, key: key, body: req.body, declaredSize: declared, by: ctx.principal)
                case "base64":
                    info = try await services.objects.put(s, key: key, body: Base64Chunks(upstream: req.body), declaredSize: nil, by: ctx.principal)
                case let other?:
                    throw APIError.badRequest(
                        "encoding \"\(other)\" is not known; leave it out (raw bytes) or use base64",
                        details: [.init(field: "encoding", message: "use base64")])
                }
                return try services.json(info, status: .created)
            }
            return [
                Route(.get, base, .permission(Permission(resource, .read), rule)) { services, _, ctx in
                    let items = try await services.objects.list(try scope(services, ctx))
                    return try services.json(ItemList(items: items))
                },
                Route(.put, base + "/{key}", .permission(Permission(resource, .write), rule), upload),
                // The same as PUT, for clients that can only POST (busybox wget --post-file).
                Route(.post, base + "/{key}", .permission(Permission(resource, .write), rule), upload),
                Route(.get, base + "/{key}", .permission(Permission(resource, .read), rule)) { services, _, ctx in
                    let s = try scope(services, ctx)
                    let info = try await services.objects.info(s, key: try services.objectKey(ctx))
                    let objects = services.objects
                    let body = ResponseBody { writer in
                        try await objects.read(info, in: s) { try await writer.write($0) }
                        try await writer.finish(nil)
                    }
                    return Response(
                        status: .ok,
                        headers: [
                            .contentType: "application/octet-stream", .contentLength: String(info.size), .xGoferSHA256: info.sha256,
                            .eTag: "\"\(info.sha256)\"",
                        ], body: body)
                },
                Route(.delete, base + "/{key}", .permission(Permission(resource, .delete), rule)) { services, _, ctx in
                    try await services.objects.delete(try scope(services, ctx), key: try services.objectKey(ctx), by: ctx.principal)
                    return Response(status: .noContent)
                },
            ]
        }
    }

    static let routes: [Route] =
        ScopeRoutes(base: APIPath.pipe + "/objects", resource: .objects, rule: .path) { services, ctx in
            let (ns, p) = try services.pipelineParams(ctx)
            return .pipeline(namespace: ns, pipeline: p)
        }.routes
        + ScopeRoutes(base: APIPath.run + "/objects", resource: .objects, rule: .path) { services, ctx in
            let (ns, p, r) = try services.runParams(ctx)
            return .run(namespace: ns, pipeline: p, run: r)
        }.routes
        + ScopeRoutes(base: "/api/extensions/{extension}/objects", resource: .extensions, rule: .path) { services, ctx in
            .extension(try services.param(ctx, "extension"))
        }.routes
}

extension RouteServices {
    /// The `{key}` path parameter, checked like every object key.
    func objectKey(_ ctx: some RouteContext) throws -> ObjectKey {
        let text = ctx.parameters.get("key") ?? ""
        do {
            return try ObjectKey(text.removingPercentEncoding ?? text)
        } catch {
            throw APIError.badRequest(error.description, details: [.init(field: "key", message: error.why)])
        }
    }
}

extension HTTPField.Name {
    static let xGoferSHA256 = Self("X-Gofer-SHA256")!
}
