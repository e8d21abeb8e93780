import ExtensionSDK
import Foundation
import Hummingbird

extension ApplyPipelineRequest: RequestBody {}

/// Pipelines: apply, read, enable/disable, delete; their versions, errors and trigger events.
enum PipelineRoutes: RouteCollection {
    static let read = TokenAccess.permission(Permission(.pipelines, .read), .path)
    static let write = TokenAccess.permission(Permission(.pipelines, .write), .path)

    static let routes: [Route] = [
        Route(.get, APIPath.ns + "/pipelines", read) { api, req, ctx in
            let (cursor, limit) = try api.paging(req)
            return try api.json(try await api.store.pipelines(namespace: try api.param(ctx, "ns"), after: cursor, limit: limit))
        },
        Route(.post, APIPath.ns + "/pipelines", write) { api, req, ctx in
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
            let (config, locator) = try api.loader.loadLocated(body.config, file: file, format: format)
            let ns = try api.param(ctx, "ns")
            // A trial's limits first: a trial may not use extensions, so their checks would only
            // add noise.
            let trialProblems = api.trials.policy.isTrial(ns) ? api.trials.policy.problems(config, locator: locator) : []
            if !trialProblems.isEmpty { throw ConfigError(problems: trialProblems) }
            try await api.trials.checkNewPipeline(namespace: ns, pipeline: config.id)
            let problems =
                await api.triggers.validate(config, locator: locator) + api.commonTasks.validate(config, locator: locator)
                + api.placement.validate(config, locator: locator)
            if !problems.isEmpty { throw ConfigError(problems: problems) }
            let source = AppliedSource(text: body.config, format: (format ?? PipelineConfigLoader.format(forFile: file)).rawValue)
            var result = try await api.pipelines.apply(namespace: ns, config: config, source: source, kind: kind, by: ctx.principal)
            let warnings = await api.secrets.problems(namespace: ns, config: config)
            if !warnings.isEmpty { result.warnings = warnings }
            return try api.json(result, status: result.created ? .created : .ok)
        },
        Route(.get, APIPath.pipe, read) { api, _, ctx in
            let (ns, p) = try api.pipelineParams(ctx)
            let pipeline = try await api.store.pipeline(namespace: ns, id: p)
            let version = try await api.store.pipelineVersion(namespace: ns, pipeline: p)
            return try api.json(
                PipelineDetail(
                    pipeline: pipeline, config: version.config, errors: try await api.store.pipelineErrors(namespace: ns, pipeline: p),
                    rollout: try await api.store.activeRollout(namespace: ns, pipeline: p)))
        },
        Route(.delete, APIPath.pipe, .permission(Permission(.pipelines, .delete), .path)) { api, _, ctx in
            let (ns, p) = try api.pipelineParams(ctx)
            try await api.pipelines.delete(namespace: ns, pipeline: p, by: ctx.principal)
            await api.secrets.pipelineDeleted(namespace: ns, pipeline: p)
            await api.objects.pipelineDeleted(namespace: ns, pipeline: p)
            return Response(status: .noContent)
        },
        Route(.post, APIPath.pipe + "/disable", write) { api, _, ctx in
            let (ns, p) = try api.pipelineParams(ctx)
            return try api.json(try await api.pipelines.setEnabled(namespace: ns, pipeline: p, false))
        },
        Route(.post, APIPath.pipe + "/enable", write) { api, _, ctx in
            let (ns, p) = try api.pipelineParams(ctx)
            return try api.json(try await api.pipelines.setEnabled(namespace: ns, pipeline: p, true))
        },
        Route(.get, APIPath.pipe + "/errors", read) { api, _, ctx in
            let (ns, p) = try api.pipelineParams(ctx)
            return try api.json(ItemList(items: try await api.store.pipelineErrors(namespace: ns, pipeline: p)))
        },
        Route(.get, APIPath.pipe + "/triggers", read) { api, _, ctx in
            let (ns, p) = try api.pipelineParams(ctx)
            return try api.json(ItemList(items: try await api.store.subscriptions(namespace: ns, pipeline: p)))
        },
        Route(.get, APIPath.pipe + "/trigger-events", read) { api, req, ctx in
            let (ns, p) = try api.pipelineParams(ctx)
            let (_, limit) = try api.paging(req, defaultLimit: 100)
            return try api.json(ItemList(items: try await api.store.triggerEvents(namespace: ns, pipeline: p, limit: limit)))
        },
    ]
}
