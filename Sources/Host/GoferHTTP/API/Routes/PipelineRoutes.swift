import ExtensionSDK
import Foundation
import Hummingbird

extension ApplyPipelineRequest: RequestBody {}

/// Pipelines: apply, read, enable/disable, delete; their versions, errors and trigger events.
enum PipelineRoutes: RouteCollection {
    /// What these routes use, and nothing else.
    struct Services: RouteServices {
        let store: any PipelineRepository & VersionRepository & TriggerRepository & RolloutRepository
        let pipelines: Pipelines
        let triggers: Triggers
        let loader: PipelineConfigLoader
        let commonTasks: CommonTasks
        let objects: Objects
        let secrets: Secrets
        let placement: SchedulerPlacement
        let trials: Trials
    }

    typealias Route = GoferHTTP.Route<Services>

    static let read = TokenAccess.permission(Permission(.pipelines, .read), .path)
    static let write = TokenAccess.permission(Permission(.pipelines, .write), .path)

    static let routes: [Route] = [
        Route(.get, APIPath.ns + "/pipelines", read) { s, req, ctx in
            let (cursor, limit) = try s.paging(req)
            return try s.json(try await s.store.pipelines(namespace: try s.param(ctx, "ns"), after: cursor, limit: limit))
        },
        Route(.post, APIPath.ns + "/pipelines", write) { s, req, ctx in
            let body = try await RequestBodyReader.decode(ApplyPipelineRequest.self, from: req)
            var format: PipelineConfigLoader.Format?
            if let f = body.format {
                guard let parsed = PipelineConfigLoader.Format(rawValue: f) else {
                    throw APIError.badRequest(
                        "unknown format \"\(f)\"",
                        details: [
                            .init(field: "/format", message: "use \(PipelineConfigLoader.Format.allCases.map(\.rawValue).joined(separator: ", "))")
                        ])
                }
                format = parsed
            }
            let kind = try body.rollout.map { ApplyKind.canary(try RolloutStrategy.parse($0, at: "/rollout")) } ?? .live
            let file = body.file ?? "pipeline.yaml"
            let (config, locator) = try s.loader.loadLocated(body.config, file: file, format: format)
            let ns = try s.param(ctx, "ns")
            // A trial's limits first: a trial may not use extensions, so their checks would only
            // add noise.
            let trialProblems = s.trials.policy.isTrial(ns) ? s.trials.policy.problems(config, locator: locator) : []
            if !trialProblems.isEmpty { throw ConfigError(problems: trialProblems) }
            try await s.trials.checkNewPipeline(namespace: ns, pipeline: config.id)
            let problems =
                await s.triggers.validate(config, locator: locator) + s.commonTasks.validate(config, locator: locator)
                + s.placement.validate(config, locator: locator)
            if !problems.isEmpty { throw ConfigError(problems: problems) }
            let source = AppliedSource(text: body.config, format: (format ?? PipelineConfigLoader.format(forFile: file)).rawValue)
            var result = try await s.pipelines.apply(namespace: ns, config: config, source: source, kind: kind, by: ctx.principal)
            let warnings = await s.secrets.problems(namespace: ns, config: config)
            if !warnings.isEmpty { result.warnings = warnings }
            return try s.json(result, status: result.created ? .created : .ok)
        },
        Route(.get, APIPath.pipe, read) { s, _, ctx in
            let (ns, p) = try s.pipelineParams(ctx)
            let pipeline = try await s.store.pipeline(namespace: ns, id: p)
            let version = try await s.store.pipelineVersion(namespace: ns, pipeline: p)
            return try s.json(
                PipelineDetail(
                    pipeline: pipeline, config: version.config, errors: try await s.store.pipelineErrors(namespace: ns, pipeline: p),
                    rollout: try await s.store.activeRollout(namespace: ns, pipeline: p)))
        },
        Route(.delete, APIPath.pipe, .permission(Permission(.pipelines, .delete), .path)) { s, _, ctx in
            let (ns, p) = try s.pipelineParams(ctx)
            try await s.pipelines.delete(namespace: ns, pipeline: p, by: ctx.principal)
            await s.secrets.pipelineDeleted(namespace: ns, pipeline: p)
            await s.objects.pipelineDeleted(namespace: ns, pipeline: p)
            return Response(status: .noContent)
        },
        Route(.post, APIPath.pipe + "/disable", write) { s, _, ctx in
            let (ns, p) = try s.pipelineParams(ctx)
            return try s.json(try await s.pipelines.setEnabled(namespace: ns, pipeline: p, false))
        },
        Route(.post, APIPath.pipe + "/enable", write) { s, _, ctx in
            let (ns, p) = try s.pipelineParams(ctx)
            return try s.json(try await s.pipelines.setEnabled(namespace: ns, pipeline: p, true))
        },
        Route(.get, APIPath.pipe + "/errors", read) { s, _, ctx in
            let (ns, p) = try s.pipelineParams(ctx)
            return try s.json(ItemList(items: try await s.store.pipelineErrors(namespace: ns, pipeline: p)))
        },
        Route(.get, APIPath.pipe + "/triggers", read) { s, _, ctx in
            let (ns, p) = try s.pipelineParams(ctx)
            return try s.json(ItemList(items: try await s.store.subscriptions(namespace: ns, pipeline: p)))
        },
        Route(.get, APIPath.pipe + "/trigger-events", read) { s, req, ctx in
            let (ns, p) = try s.pipelineParams(ctx)
            let (_, limit) = try s.paging(req, defaultLimit: 100)
            return try s.json(ItemList(items: try await s.store.triggerEvents(namespace: ns, pipeline: p, limit: limit)))
        },
    ]
}
