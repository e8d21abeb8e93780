import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GoferStore
import Logging

/// Delivers run hooks from the outbox (``HookDelivery``): each pending call goes to its common
/// task with the run's state, and is retried with backoff until it succeeds or gives up. A hook
/// never delays or changes its run: the run's state was stored before the call was even queued.
public actor HookDispatcher {
    let store: any Store
    let tasks: CommonTasks
    let secrets: (any SecretResolving)?
    let engine: EngineSettings
    /// Gives up after this many attempts (about an hour and a half of backoff).
    static let maxAttempts = 15
    /// How long one call may take.
    static let callTimeout: Duration = .seconds(60)
    private var loop: Task<Void, Never>?
    private let wakes: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private var inFlight: Set<Int64> = []
    private let logger = Logger(label: "gofer.hooks")

    package init(store: any Store, tasks: CommonTasks, secrets: (any SecretResolving)?, engine: EngineSettings) {
        self.store = store
        self.tasks = tasks
        self.secrets = secrets
        self.engine = engine
        (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Starts delivering (pending deliveries from before a restart first).
    public func start() {
        let stream = wakes
        let continuation = wake
        loop = Task { [weak self] in
            await withTaskGroup(of: Void.self) { group in
                // The poll catches retries coming due; a poke (a run changed state) comes sooner.
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(1))
                        continuation.yield()
                    }
                }
                group.addTask {
                    for await _ in stream {
                        guard let self else { return }
                        await self.deliverDue()
                    }
                }
                await group.next()
                group.cancelAll()
            }
        }
        continuation.yield()
    }

    public func stop() {
        wake.finish()
        loop?.cancel()
        loop = nil
    }

    /// A run changed state: look for deliveries now.
    public nonisolated func poke() { wake.yield() }

    private func deliverDue() async {
        guard let due = try? await store.dueHookDeliveries() else { return }
        let fresh = due.filter { !inFlight.contains($0.id) }
        for d in fresh { inFlight.insert(d.id) }
        await withTaskGroup(of: Void.self) { group in
            for d in fresh { group.addTask { await self.deliver(d) } }
        }
        for d in fresh { inFlight.remove(d.id) }
    }

    private func deliver(_ d: HookDelivery) async {
        var failure: String?
        var summary: String?
        do {
            let (run, taskList, history, config) = try await store.hookContext(d)
            guard let use = config.hooks.first(where: { $0.label == d.label }) else {
                throw ProtocolError(.notFound, "the run's version has no hook \"\(d.label)\"")
            }
            let settings = try await resolve(use.settings, run: run)
            let hook = Self.hookPayload(d.phase, run: run, tasks: taskList, history: history, url: engine.runURL(run))
            var variables = run.variables
            variables["GOFER_NAMESPACE"] = run.namespace
            variables["GOFER_PIPELINE"] = run.pipeline
            variables["GOFER_PIPELINE_VERSION"] = String(run.pipelineVersion)
            variables["GOFER_RUN"] = String(run.id)
            variables["GOFER_HOOK"] = d.label
            variables["GOFER_API_URL"] = engine.apiURL
            if let url = engine.runURL(run) { variables["GOFER_RUN_URL"] = url }
            let answer = try await tasks.run(
                d.extension, params: settings, variables: variables, hook: hook, idempotencyKey: "hook-\(engine.serverID)-\(d.id)",
                timeout: Self.callTimeout, output: { _ in })
            summary = answer["summary"]?.stringValue.map { String($0.prefix(1000)) }
            if answer["status"]?.stringValue != "success" {
                failure = "the hook answered \(answer["status"]?.stringValue ?? "no status")" + (answer["summary"]?.stringValue.map { ": \($0)" } ?? "")
            }
        } catch {
            failure = ErrorText.describe(error)
        }
        let attempt = d.attempts + 1
        let retryAt: Date? =
            failure == nil || attempt >= Self.maxAttempts ? nil : Date().addingTimeInterval(min(pow(2, Double(attempt)), 600))
        if let failure { logger.warning("hook \(d.label) of \(d.namespace)/\(d.pipeline)#\(d.run) (\(d.phase.rawValue)): \(failure)") }
        do {
            try await store.recordHookAttempt(d, error: failure, summary: summary, retryAt: retryAt)
        } catch {
            logger.error("cannot record hook delivery \(d.id): \(ErrorText.describe(error))")
        }
    }

    private func resolve(_ settings: JSONValue, run: Run) async throws -> JSONValue {
        var refs = Set<SecretReference>()
        for (_, text) in SecretReference.strings(in: settings, at: "") {
            for case .reference(let r) in (try? SecretReference.parse(text)) ?? [] { refs.insert(r) }
        }
        if refs.isEmpty { return settings }
        guard let secrets else { throw SecretError(kind: .unavailable, message: "the hook uses secrets but no secret store is configured") }
        let values = try await secrets.resolve(namespace: run.namespace, pipeline: run.pipeline, refs)
        return try SecretSubstitution(text: { r in values[r].map { String(decoding: $0, as: UTF8.self) } }).apply(settings)
    }

    /// What the hook's task hears (``RunHook``, the SDK's own type), as JSON.
    static func hookPayload(_ phase: HookPhase, run: Run, tasks: [TaskExecution], history: [Run], url: String?) -> JSONValue {
        let info = RunHook.RunInfo(
            id: run.id, state: run.state.rawValue, reason: run.reason?.message, startedAt: run.startedAt.map(RFC3339.format),
            endedAt: run.endedAt.map(RFC3339.format), url: url, tasks: tasks.map { RunHook.RunInfo.TaskInfo(id: $0.task, state: $0.state.rawValue) })
        let past = history.map { h in
            RunHook.PastRun(
                id: h.id, state: h.state.rawValue,
                durationMs: h.startedAt.flatMap { s in h.endedAt.flatMap { e in Int(exactly: (e.timeIntervalSince(s) * 1000).rounded()) } })
        }
        let hook = RunHook(phase: phase, run: info, history: phase == .runFinished ? past : nil)
        return (try? JSONCodec.encode(hook)) ?? .emptyObject
    }
}
