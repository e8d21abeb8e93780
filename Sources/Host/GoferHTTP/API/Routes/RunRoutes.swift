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
    /// What these routes use, and nothing else.
    struct Services: RouteServices {
        let store: any RunRepository & HookRepository
        let engine: RunEngine
        let trials: Trials
        let bus: EventBus
        let logs: LogFiles
        /// Answers of busy reads while nothing changes.
        let answers: ResponseCache
    }

    typealias Route = GoferHTTP.Route<Services>

    static let read = TokenAccess.permission(Permission(.runs, .read), .path)
    static let write = TokenAccess.permission(Permission(.runs, .write), .path)

    static let routes: [Route] = [
        Route(.post, APIPath.pipe + "/runs", write) { s, req, ctx in
            let body = try await RequestBodyReader.decode(StartRunRequest.self, from: req, allowEmpty: true)
            let (ns, p) = try s.pipelineParams(ctx)
            if let v = body.version, v < 1 {
                throw APIError.badRequest("version must be a positive integer", details: [.init(field: "/version", message: "got \(v)")])
            }
            try await s.trials.checkRun(namespace: ns)
            let run = try await s.engine.startRun(
                namespace: ns, pipeline: p, initiator: ctx.principal, variables: try body.validated(), version: body.version)
            return try s.json(run, status: .created)
        },
        Route(.post, APIPath.run + "/rerun", write) { s, req, ctx in
            let (ns, p, r) = try s.runParams(ctx)
            let body = try await RequestBodyReader.decode(RerunRequest.self, from: req, allowEmpty: true)
            try await s.trials.checkRun(namespace: ns)
            let run = try await s.engine.rerun(namespace: ns, pipeline: p, run: r, failedOnly: body.failedOnly ?? false, by: ctx.principal)
            return try s.json(run, status: .created)
        },
        Route(.get, APIPath.pipe + "/runs", read) { s, req, ctx in
            let (cursor, limit) = try s.paging(req, defaultLimit: 20)
            let before = try cursor.map { c -> Int in
                guard let n = Int(c) else {
                    throw APIError.badRequest("invalid cursor", details: [.init(field: "cursor", message: "not a cursor from this list")])
                }
                return n
            }
            let (ns, p) = try s.pipelineParams(ctx)
            let key = "runs \(ns)/\(p) \(before.map(String.init) ?? "-") \(limit)"
            return try await s.answers.json(key, scope: .runList(namespace: ns, pipeline: p)) {
                try await s.store.runs(namespace: ns, pipeline: p, before: before, limit: limit)
            }
        },
        Route(.get, APIPath.run, read) { s, _, ctx in
            let (ns, p, r) = try s.runParams(ctx)
            return try await s.answers.json("run \(ns)/\(p)#\(r)", scope: .run(namespace: ns, pipeline: p, id: r)) {
                try await s.store.runDetail(namespace: ns, pipeline: p, id: r)
            }
        },
        Route(.post, APIPath.run + "/cancel", write) { s, req, ctx in
            let (ns, p, r) = try s.runParams(ctx)
            let body = try await RequestBodyReader.decode(CancelRequest.self, from: req, allowEmpty: true)
            try await s.engine.cancelRun(namespace: ns, pipeline: p, run: r, by: ctx.principal, why: body.reason)
            return try s.json(try await s.store.run(namespace: ns, pipeline: p, id: r), status: .accepted)
        },
        Route(.get, APIPath.run + "/events", read) { s, _, ctx in
            let (ns, p, r) = try s.runParams(ctx)
            return try await s.runEvents(namespace: ns, pipeline: p, run: r)
        },
        Route(.get, APIPath.run + "/hooks", read) { s, _, ctx in
            let (ns, p, r) = try s.runParams(ctx)
            _ = try await s.store.run(namespace: ns, pipeline: p, id: r)
            return try s.json(ItemList(items: try await s.store.hookDeliveries(namespace: ns, pipeline: p, run: r)))
        },
        Route(.get, APIPath.run + "/tasks", read) { s, _, ctx in
            let (ns, p, r) = try s.runParams(ctx)
            return try s.json(Page(items: try await s.store.tasks(namespace: ns, pipeline: p, run: r), nextCursor: nil))
        },
        Route(.get, APIPath.task, read) { s, _, ctx in
            let (ns, p, r) = try s.runParams(ctx)
            return try s.json(try await s.store.task(namespace: ns, pipeline: p, run: r, task: try s.param(ctx, "task")))
        },
        Route(.post, APIPath.task + "/cancel", write) { s, req, ctx in
            let (ns, p, r) = try s.runParams(ctx)
            let t = try s.param(ctx, "task")
            let body = try await RequestBodyReader.decode(CancelRequest.self, from: req, allowEmpty: true)
            try await s.engine.cancelTask(namespace: ns, pipeline: p, run: r, task: t, by: ctx.principal, why: body.reason)
            return try s.json(try await s.store.task(namespace: ns, pipeline: p, run: r, task: t), status: .accepted)
        },
        Route(.get, APIPath.task + "/logs", read) { s, req, ctx in
            let (ns, p, r) = try s.runParams(ctx)
            let t = try s.param(ctx, "task")
            let follow = try s.flag(req, "follow")
            return try await s.taskLogs(namespace: ns, pipeline: p, run: r, task: t, follow: follow)
        },
    ]
}
