import ExtensionSDK
import Foundation
import Hummingbird

extension RollbackRequest: RequestBody {}

/// A pipeline's versions, rollback, and canary rollouts.
enum VersionRoutes: RouteCollection {
    /// What these routes use, and nothing else.
    struct Services: RouteServices {
        let store: any VersionRepository & RolloutRepository
        let pipelines: Pipelines
        let rollouts: Rollouts
    }

    typealias Route = GoferHTTP.Route<Services>

    static let read = TokenAccess.permission(Permission(.pipelines, .read), .path)
    static let write = TokenAccess.permission(Permission(.pipelines, .write), .path)

    static func version(_ ctx: some RouteContext, _ name: String = "version") throws -> Int {
        guard let v = ctx.parameters.get(name).flatMap({ Int($0) }), v > 0 else {
            throw APIError.badRequest("\(name) must be a positive integer", details: [.init(field: name, message: "not a positive integer")])
        }
        return v
    }

    static let routes: [Route] = [
        Route(.get, APIPath.pipe + "/versions", read) { s, req, ctx in
            let (cursor, limit) = try s.paging(req)
            let before = try cursor.map { c -> Int in
                guard let n = Int(c) else {
                    throw APIError.badRequest("invalid cursor", details: [.init(field: "cursor", message: "not a cursor from this list")])
                }
                return n
            }
            let (ns, p) = try s.pipelineParams(ctx)
            return try s.json(try await s.store.pipelineVersions(namespace: ns, pipeline: p, before: before, limit: limit))
        },
        Route(.get, APIPath.pipe + "/versions/{version}", read) { s, _, ctx in
            let (ns, p) = try s.pipelineParams(ctx)
            return try s.json(try await s.store.pipelineVersion(namespace: ns, pipeline: p, version: try version(ctx)))
        },
        Route(.get, APIPath.pipe + "/versions/{version}/diff", read) { s, req, ctx in
            let (ns, p) = try s.pipelineParams(ctx)
            let to = try await s.store.pipelineVersion(namespace: ns, pipeline: p, version: try version(ctx))
            let fromNumber: Int
            if let text = req.uri.queryParameters.get("from") {
                guard let n = Int(text), n > 0 else {
                    throw APIError.badRequest("from must be a positive integer", details: [.init(field: "from", message: "got \"\(text)\"")])
                }
                fromNumber = n
            } else {
                guard to.version > 1 else {
                    throw APIError.badRequest(
                        "version 1 has no version before it; say which to compare with (?from=N)",
                        details: [.init(field: "from", message: "required for version 1")])
                }
                fromNumber = to.version - 1
            }
            let from = try await s.store.pipelineVersion(namespace: ns, pipeline: p, version: fromNumber)
            return try s.json(
                VersionDiff(
                    from: from.version, to: to.version, changes: ConfigDiff.changes(from: from.config, to: to.config),
                    text: try diffText(from, to)))
        },
        Route(.post, APIPath.pipe + "/rollback", write) { s, req, ctx in
            let (ns, p) = try s.pipelineParams(ctx)
            let body = try await RequestBodyReader.decode(RollbackRequest.self, from: req, allowEmpty: true)
            if let to = body.to, to < 1 {
                throw APIError.badRequest("to must be a positive version number", details: [.init(field: "/to", message: "got \(to)")])
            }
            return try s.json(try await s.pipelines.rollback(namespace: ns, pipeline: p, to: body.to, by: ctx.principal), status: .created)
        },
        Route(.get, APIPath.pipe + "/rollouts", read) { s, req, ctx in
            let (ns, p) = try s.pipelineParams(ctx)
            let (_, limit) = try s.paging(req, defaultLimit: 20)
            return try s.json(Page(items: try await s.store.rollouts(namespace: ns, pipeline: p, limit: limit), nextCursor: nil))
        },
        Route(.post, APIPath.pipe + "/rollout/promote", write) { s, _, ctx in
            let (ns, p) = try s.pipelineParams(ctx)
            return try s.json(try await s.rollouts.promote(namespace: ns, pipeline: p, by: ctx.principal))
        },
        Route(.post, APIPath.pipe + "/rollout/abort", write) { s, req, ctx in
            let (ns, p) = try s.pipelineParams(ctx)
            // Like a cancel: an optional reason, recorded after who aborted.
            let body = try await RequestBodyReader.decode(CancelRequest.self, from: req, allowEmpty: true)
            return try s.json(try await s.rollouts.abort(namespace: ns, pipeline: p, by: ctx.principal, why: body.reason))
        },
    ]

    /// The two versions' texts as applied when both were kept in one format; else their
    /// canonical JSON, pretty-printed, so the diff compares like with like.
    static func diffText(_ from: PipelineVersion, _ to: PipelineVersion) throws -> String {
        let a: String
        let b: String
        if let s1 = from.source, let s2 = to.source, from.format == to.format {
            (a, b) = (s1, s2)
        } else {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            a = String(decoding: try encoder.encode(from.config), as: UTF8.self)
            b = String(decoding: try encoder.encode(to.config), as: UTF8.self)
        }
        return LineDiff.unified(a, b, oldName: "version \(from.version)", newName: "version \(to.version)")
    }
}
