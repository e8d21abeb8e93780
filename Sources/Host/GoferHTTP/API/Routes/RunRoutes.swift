import Foundation
import Hummingbird

extension StartRunRequest: RequestBody {
    /// The variables, each name checked (not empty, no `=` or NUL, not `GOFER_…`: those are the server's).
    func validated() throws -> [String: String] {
        for k in (variables ?? [:]).keys.sorted() {
            guard !k.isEmpty, !k.contains("="), !k.contains("\0"), !k.uppercased().hasPrefix("GOFER_") else {
                throw APIError.badRequest(
                    "invalid variable name \"\(k)\"",
                    details: [.init(field: "/variables/\(k)", message: "names cannot be empty, contain '=' or NUL, or start with GOFER_")])
            }
        }
        return variables ?? [:]
    }
}

extension RerunRequest: RequestBody {}
extension CancelRequest: RequestBody {}

/// Runs and their task executions: start, list, read, cancel, follow, logs.
enum RunRoutes: RouteCollection {
    static let read = TokenAccess.permission(Permission(.runs, .read), .path)
    static let write = TokenAccess.permission(Permission(.runs, .write), .path)

    static let routes: [Route] = [
        Route(.post, APIPath.pipe + "/runs", write) { api, req, ctx in
            let body = try await RequestBodyReader.decode(StartRunRequest.self, from: req, allowEmpty: true)
            let (ns, p) = try api.pipelineParams(ctx)
            if let v = body.version, v < 1 {
                throw APIError.badRequest("version must be a positive integer", details: [.init(field: "/version", message: "got \(v)")])
            }
            try await api.trials.checkRun(namespace: ns)
            let run = try await api.engine.startRun(
                namespace: ns, pipeline: p, initiator: ctx.principal, variables: try body.validated(), version: body.version)
            return try api.json(run, status: .created)
        },
        Route(.post, APIPath.run + "/rerun", write) { api, req, ctx in
            let (ns, p, r) = try api.runParams(ctx)
            let body = try await RequestBodyReader.decode(RerunRequest.self, from: req, allowEmpty: true)
            try await api.trials.checkRun(namespace: ns)
            let run = try await api.engine.rerun(namespace: ns, pipeline: p, run: r, failedOnly: body.failedOnly ?? false, by: ctx.principal)
            return try api.json(run, status: .created)
        },
        Route(.get, APIPath.pipe + "/runs", read) { api, req, ctx in
            let (cursor, limit) = try api.paging(req, defaultLimit: 20)
            let before = try cursor.map { c -> Int in
                guard let n = Int(c) else {
                    throw APIError.badRequest("invalid cursor", details: [.init(field: "cursor", message: "not a cursor from this list")])
                }
                return n
            }
            let (ns, p) = try api.pipelineParams(ctx)
            return try await api.cachedJSON("runs \(ns)/\(p) \(before.map(String.init) ?? "-") \(limit)") {
                try await api.store.runs(namespace: ns, pipeline: p, before: before, limit: limit)
            }
        },
        Route(.get, APIPath.run, read) { api, _, ctx in
            let (ns, p, r) = try api.runParams(ctx)
            return try await api.cachedJSON("run \(ns)/\(p)#\(r)") { try await api.store.runDetail(namespace: ns, pipeline: p, id: r) }
        },
        Route(.post, APIPath.run + "/cancel", write) { api, req, ctx in
            let (ns, p, r) = try api.runParams(ctx)
            let body = try await RequestBodyReader.decode(CancelRequest.self, from: req, allowEmpty: true)
            try await api.engine.cancelRun(namespace: ns, pipeline: p, run: r, by: ctx.principal, why: body.reason)
            return try api.json(try await api.store.run(namespace: ns, pipeline: p, id: r), status: .accepted)
        },
        Route(.get, APIPath.run + "/events", read) { api, _, ctx in
            let (ns, p, r) = try api.runParams(ctx)
            return try await api.runEvents(namespace: ns, pipeline: p, run: r)
        },
        Route(.get, APIPath.run + "/hooks", read) { api, _, ctx in
            let (ns, p, r) = try api.runParams(ctx)
            _ = try await api.store.run(namespace: ns, pipeline: p, id: r)
            return try api.json(ItemList(items: try await api.store.hookDeliveries(namespace: ns, pipeline: p, run: r)))
        },
        Route(.get, APIPath.run + "/tasks", read) { api, _, ctx in
            let (ns, p, r) = try api.runParams(ctx)
            return try api.json(Page(items: try await api.store.tasks(namespace: ns, pipeline: p, run: r), nextCursor: nil))
        },
        Route(.get, APIPath.task, read) { api, _, ctx in
            let (ns, p, r) = try api.runParams(ctx)
            return try api.json(try await api.store.task(namespace: ns, pipeline: p, run: r, task: try api.param(ctx, "task")))
        },
        Route(.post, APIPath.task + "/cancel", write) { api, req, ctx in
            let (ns, p, r) = try api.runParams(ctx)
            let t = try api.param(ctx, "task")
            let body = try await RequestBodyReader.decode(CancelRequest.self, from: req, allowEmpty: true)
            try await api.engine.cancelTask(namespace: ns, pipeline: p, run: r, task: t, by: ctx.principal, why: body.reason)
            return try api.json(try await api.store.task(namespace: ns, pipeline: p, run: r, task: t), status: .accepted)
        },
        Route(.get, APIPath.task + "/logs", read) { api, req, ctx in
            let (ns, p, r) = try api.runParams(ctx)
            let t = try api.param(ctx, "task")
            let follow = try api.flag(req, "follow")
            return try await api.taskLogs(namespace: ns, pipeline: p, run: r, task: t, follow: follow)
        },
    ]
}
