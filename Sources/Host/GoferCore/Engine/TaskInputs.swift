import ExtensionClient
import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GoferStore
import Synchronization

/// What a task execution is given: its env with `secret{{…}}` and `…_object{{…}}` references
/// resolved, the values to mask in its log, the run's API token, its labels, and the job the
/// scheduler runs — decided from the task's config and its run, nothing else.
struct TaskInputs: Sendable {
    let execution: TaskExecution
    let config: TaskConfig
    let run: Run
    let engine: RunEngine
    let settings: EngineSettings
    /// Every secret the pipeline's tasks reference: their values are masked in this task's log.
    let pipelineSecrets: Set<SecretReference>
    /// Give the task the run's API token (`GOFER_API_TOKEN`).
    let injectToken: Bool

    /// Unique per task execution: the scheduler's idempotency key.
    var executionID: String { "\(settings.serverID.prefix(8))-\(run.namespace)-\(run.pipeline)-\(run.id)-\(execution.task)" }

    struct ResolvedSecrets {
        var env: [String: String]
        var masks: [[UInt8]]
        /// The registry password, from its secret reference.
        var registryPassword: String?
        /// The run's API token, when the task gets one.
        var apiToken: String?
        /// An extension task's settings with their references resolved.
        var settings: JSONValue?
    }

    /// The task's env with `secret{{…}}` references replaced by their values (throws naming the
    /// first that cannot be used), its registry password, the run's API token if it gets one, and
    /// the values of every secret the pipeline references (and the token), to mask in the log.
    /// Values live only in memory and in the job given to the scheduler.
    func resolveSecrets(strict: Bool = true) async throws -> ResolvedSecrets {
        var env = config.env
        let passwordReference = config.registryAuth.flatMap { RegistryAuthConfig.passwordReference($0.password) }
        if config.registryAuth != nil && passwordReference == nil {
            throw SecretError(
                kind: .invalid,
                message:
                    "registry_auth.password of task \(config.id) is not a secret reference (a plain password stored by an older Gofer was removed); store it as a secret, write password: secret{{NAME}} and apply again"
            )
        }
        var own = Set(
            env.values.flatMap { v in
                ((try? SecretReference.parse(v)) ?? []).compactMap { p -> SecretReference? in
                    if case .reference(let r) = p { return r }
                    return nil
                }
            })
        if let passwordReference { own.insert(passwordReference) }
        for (_, text) in SecretReference.strings(in: config.settings ?? .null, at: "") {
            for case .reference(let r) in (try? SecretReference.parse(text)) ?? [] { own.insert(r) }
        }
        var apiToken: String?
        if injectToken {
            guard let issuer = engine.runTokens else {
                throw SecretError(kind: .unavailable, message: "the task asks for an API token but this server issues none")
            }
            apiToken = try await issuer.token(for: run).text
        }
        let tokenMask = apiToken.map { [Array($0.utf8)] } ?? []
        if own.isEmpty && pipelineSecrets.isEmpty {
            return ResolvedSecrets(env: env, masks: tokenMask, apiToken: apiToken, settings: config.settings)
        }
        guard let secrets = engine.secrets else {
            if strict && !own.isEmpty {
                throw SecretError(kind: .unavailable, message: "the task uses secrets but no secret store is configured")
            }
            return ResolvedSecrets(env: env, masks: tokenMask, apiToken: apiToken, settings: config.settings)
        }
        var values: [SecretReference: [UInt8]] = [:]
        if !own.isEmpty {
            do {
                values = try await secrets.resolve(namespace: run.namespace, pipeline: run.pipeline, own)
            } catch  where !strict {}
        }
        for r in pipelineSecrets where values[r] == nil {
            // Other tasks' secrets: masked too if they resolve; their absence is their task's problem.
            if let v = try? await secrets.resolve(namespace: run.namespace, pipeline: run.pipeline, [r])[r] { values[r] = v }
        }
        func text(_ r: SecretReference) throws -> String? {
            guard let bytes = values[r] else { return nil }
            guard let s = String(validating: bytes, as: UTF8.self), !s.contains("\0") else {
                throw SecretError(kind: .invalid, message: "\(r) is binary; environment variables and passwords can only hold text")
            }
            return s
        }
        let substitution = SecretSubstitution(text: text)
        for (k, v) in env { env[k] = try substitution.apply(v) }
        return ResolvedSecrets(
            env: env, masks: Array(values.values) + tokenMask, registryPassword: try passwordReference.flatMap(text), apiToken: apiToken,
            settings: try config.settings.map(substitution.apply))
    }

    /// The env with `pipeline_object{{…}}` / `run_object{{…}}` replaced by the objects' text.
    func resolveObjects(_ env: [String: String]) async throws -> [String: String] {
        var out = env
        for (name, value) in env where value.contains("_object{{") {
            let parts = try ObjectReference.parse(value)
            guard parts.contains(where: { if case .reference = $0 { true } else { false } }) else { continue }
            guard let objects = engine.objects else { throw ObjectError.storageFailed(path: "", detail: "this server has no object store") }
            var text = ""
            for part in parts {
                switch part {
                case .text(let t): text += t
                case .reference(let r):
                    let scope: ObjectScope =
                        r.scope == .pipeline
                        ? .pipeline(namespace: run.namespace, pipeline: run.pipeline)
                        : .run(namespace: run.namespace, pipeline: run.pipeline, run: run.id)
                    do {
                        text += try await objects.text(scope, key: r.key)
                    } catch {
                        throw UnresolvedObjectReference(variable: name, reference: r, cause: error)
                    }
                }
            }
            out[name] = text
        }
        return out
    }

    /// An env value names an object that cannot be used (missing, too large, not text).
    struct UnresolvedObjectReference: Error, CustomStringConvertible {
        var variable: String
        var reference: ObjectReference
        var cause: any Error
        var description: String { "env \(variable): \(reference): \(cause)" }
    }

    var labels: [String: String] {
        [
            "gofer.server": settings.serverID, "gofer.namespace": run.namespace, "gofer.pipeline": run.pipeline,
            "gofer.run": String(run.id),
            "gofer.task": execution.task,
        ]
    }

    /// What the scheduler runs: the task's config (its env with secrets resolved) plus the
    /// baseline GOFER_* variables.
    func jobSpec(_ resolved: ResolvedSecrets) -> JobSpec {
        // The run's variables (from a trigger or the API), then the task's own env, then Gofer's.
        var env = run.variables.merging(resolved.env) { _, task in task }
        env["GOFER_NAMESPACE"] = run.namespace
        env["GOFER_PIPELINE"] = run.pipeline
        env["GOFER_PIPELINE_VERSION"] = String(run.pipelineVersion)
        env["GOFER_RUN"] = String(run.id)
        env["GOFER_TASK"] = execution.task
        if let name = config.extension { env["GOFER_TASK_EXTENSION"] = name } else { env["GOFER_TASK_IMAGE"] = config.image }
        env["GOFER_API_URL"] = settings.apiURL
        if let url = settings.runURL(run) { env["GOFER_RUN_URL"] = url }
        if let token = resolved.apiToken { env["GOFER_API_TOKEN"] = token }
        return config.jobSpec(
            taskExecutionID: executionID, env: env, labels: labels,
            registryAuth: config.registryAuth.map { RegistryAuth(username: $0.username, password: resolved.registryPassword ?? "") },
            stopGraceMs: Int(settings.stopGrace / .milliseconds(1)))
    }
}
