import ExtensionClient
import ExtensionSDK
import Foundation
import GoferAPIModels
import GoferConfig
import GoferModel
import GoferStore
import Logging

/// Why a pipeline's triggers could not be set up; the apply was undone.
public struct SubscriptionError: Error, Sendable, CustomStringConvertible {
    public var label: String
    public var trigger: String
    public var reason: String
    public var description: String {
        "trigger \"\(label)\" (\(trigger)) refused the subscription: \(reason); the pipeline keeps its previous version and triggers"
    }
}

/// Owns every trigger extension and every pipeline's subscriptions to them.
///
/// The order of things is what makes delivery exactly-once: a subscription is stored before the
/// trigger hears of it (so its first event finds it), an event is stored with its run before the
/// trigger is answered, and after any restart the trigger is subscribed again from the stored
/// cursor, so an event it never saw acknowledged is sent again and recognised if it was stored.
public actor Triggers: ExtensionHost {
    let store: any Store
    let engine: RunEngine
    let policy: ExtensionSupervisor.Policy
    let hostVersion: String
    private var roster = ExtensionRoster()
    private let logger = Logger(label: "gofer.triggers")

    /// How long a trigger may take to answer a subscribe or validate.
    let callTimeout: Duration = .seconds(10)
    /// GitHub gives up on a webhook after 10 s; answer before that.
    let externalTimeout: Duration = .seconds(9)

    package init(store: any Store, engine: RunEngine, policy: ExtensionSupervisor.Policy = .init(), hostVersion: String) {
        self.store = store
        self.engine = engine
        self.policy = policy
        self.hostVersion = hostVersion
    }

    // MARK: - Extensions

    /// Starts the trigger extensions; one that fails to start is recorded (and its pipelines get
    /// an error) without stopping the others.
    public func start(_ specs: [ExtensionSpec]) async {
        for spec in specs {
            do {
                try await add(spec)
            } catch {
                roster.failed(spec.name, ErrorText.describe(error))
                logger.error("trigger \(spec.name) did not start: \(ErrorText.describe(error))")
                await markPipelines(of: spec.name, kind: "trigger_unreachable", message: ErrorText.wrapping("trigger \(spec.name) is not running", error))
            }
        }
        // Pipelines subscribed to a trigger this server does not have (removed from `triggers`,
        // its executable gone) are told so instead of silently never firing.
        for s in (try? await store.allSubscriptions()) ?? [] where roster.running[s.trigger] == nil && roster.unavailable[s.trigger] == nil {
            try? await store.setPipelineError(
                namespace: s.namespace, pipeline: s.pipeline, source: "trigger:\(s.label)", kind: "trigger_not_installed",
                message: "trigger \(s.trigger) is not installed on this server; install it or remove \"\(s.label)\" from the pipeline")
        }
    }

    private func supervisor(for spec: ExtensionSpec) -> ExtensionSupervisor {
        let name = spec.name
        return ExtensionSupervisor(
            spec: spec, kind: .trigger, hostVersion: hostVersion, policy: policy,
            requestHandler: { [weak self] method, params in
                guard let self else { throw ProtocolError(.unavailable, "the host is stopping", retryable: true) }
                return try await self.handle(trigger: name, method: method, params: params)
            },
            onReady: { [weak self] connection in await self?.resubscribeAll(name, connection) })
    }

    /// Starts one trigger (installed now or at server start); its subscriptions are subscribed
    /// as soon as its handshake is done. For an installed one this is an online upgrade: the new
    /// executable is handed every subscription before the old one stops; if it fails its
    /// handshake, the old one keeps running.
    public func add(_ spec: ExtensionSpec) async throws {
        let s = supervisor(for: spec)
        _ = try await s.start()
        await roster.started(spec.name, s)?.stop()
    }

    /// An online upgrade (see ``add(_:)``).
    public func replace(_ spec: ExtensionSpec) async throws -> Bool {
        try await add(spec)
        return true
    }

    /// Stops a trigger that is being uninstalled.
    public func remove(_ name: String) async {
        await roster.remove(name)?.stop()
    }

    /// The supervisor of a running trigger (status, restarts, stderr).
    public func runningSupervisor(_ name: String) -> ExtensionSupervisor? { roster.running[name] }

    /// Pipelines with a subscription to `trigger`, as `namespace/pipeline`.
    public func pipelinesUsing(_ trigger: String) async throws -> [PipelineRef] {
        Array(Set(try await store.allSubscriptions().filter { $0.trigger == trigger }.map { PipelineRef(namespace: $0.namespace, pipeline: $0.pipeline) }))
            .sorted()
    }

    public func stop() async {
        let all = roster.removeAll()
        await withTaskGroup(of: Void.self) { group in
            for s in all { group.addTask { await s.stop() } }
        }
    }

    public func info() async -> [TriggerInfo] {
        var out: [TriggerInfo] = []
        let subs = (try? await store.allSubscriptions()) ?? []
        for (name, s) in roster.running.sorted(by: { $0.key < $1.key }) {
            let shake = await s.handshake
            out.append(
                TriggerInfo(
                    name: name, status: "\(await s.status)", version: shake?.version, summary: shake?.summary,
                    external: shake?.capabilities.has(.external) == true, subscriptions: subs.filter { $0.trigger == name && $0.state == .active }.count,
                    restarts: await s.restarts))
        }
        for (name, why) in roster.unavailable.sorted(by: { $0.key < $1.key }) {
            out.append(
                TriggerInfo(
                    name: name, status: "failed: \(why)", version: nil, summary: nil, external: false,
                    subscriptions: subs.filter { $0.trigger == name }.count, restarts: 0))
        }
        return out
    }

    // MARK: - Events from triggers

    func handle(trigger: String, method: String, params: JSONValue) async throws -> JSONValue {
        guard method == ProtocolMethod.triggerEmit.rawValue else { throw ProtocolError.methodNotFound(method) }
        // A trigger is input like any other: the schema, then what it cannot say.
        let event = try ProtocolCalls.triggerEmit.decodeParams(params)
        let problems = event.problems
        if !problems.isEmpty { throw ProtocolError.invalidParams(diagnostics: problems) }
        let delivery: EventDelivery
        do {
            delivery = try await store.deliver(
                subscription: event.subscriptionId, of: trigger, eventID: event.eventId, occurredAt: event.occurredAt,
                variables: event.variables ?? [:], cursor: event.cursor)
        } catch StoreError.notFound(what: "subscription", _) {
            throw ProtocolError(
                .notFound, "no subscription \"\(event.subscriptionId)\" of trigger \(trigger) (it was removed); stop emitting for it")
        } catch let error as StoreError where error.isStorageFailure {
            // Not stored, so not acknowledged: the trigger sends it again.
            throw ProtocolError(.unavailable, ErrorText.wrapping("the host cannot store events right now", error), retryable: true)
        }
        if Failpoint.emitCrashAfterStore.fires { kill(getpid(), SIGKILL) }
        if Failpoint.emitKillTriggerAfterStore.fires, case .running(let pid) = await roster.running[trigger]?.status {
            kill(pid, SIGKILL)
        }
        switch delivery {
        case .started(let created):
            GoferMetrics.count(.triggerEvents, [("trigger", trigger), ("outcome", "run")])
            await engine.enqueue(created)
            return try ProtocolCalls.triggerEmit.encodeResult(EmitAnswer(accepted: true, duplicate: false, run: created.run.id))
        case .recorded:
            GoferMetrics.count(.triggerEvents, [("trigger", trigger), ("outcome", "pipeline_disabled")])
            return try ProtocolCalls.triggerEmit.encodeResult(EmitAnswer(accepted: true, duplicate: false))
        case .duplicate:
            GoferMetrics.count(.triggerEvents, [("trigger", trigger), ("outcome", "duplicate")])
            return try ProtocolCalls.triggerEmit.encodeResult(EmitAnswer(accepted: true, duplicate: true))
        }
    }

    // MARK: - Subscribing

    private func subscribeParams(_ s: TriggerSubscription) -> SubscribeRequest {
        SubscribeRequest(subscriptionId: s.id, params: s.settings, cursor: s.cursor)
    }

    /// After every (re)start of a trigger: subscribe everything it serves again, from the stored cursors.
    private func resubscribeAll(_ name: String, _ connection: ExtensionConnection) async {
        guard let subs = try? await store.subscriptions(trigger: name) else { return }
        for s in subs {
            do {
                _ = try await connection.call(ProtocolCalls.triggerSubscribe, subscribeParams(s), timeout: callTimeout)
                if s.state != .active { try? await store.setSubscriptionState(s.id, .active, detail: "") }
                try? await store.clearPipelineErrors(namespace: s.namespace, pipeline: s.pipeline, sourcePrefix: "trigger:\(s.label)")
            } catch {
                let why = ErrorText.describe(error)
                try? await store.setSubscriptionState(s.id, .failed, detail: why)
                try? await store.setPipelineError(
                    namespace: s.namespace, pipeline: s.pipeline, source: "trigger:\(s.label)", kind: "subscription_failed",
                    message: "trigger \(name) refused subscription \"\(s.label)\" after it restarted: \(why)")
            }
        }
    }

    private func markPipelines(of trigger: String, kind: String, message: String) async {
        for s in (try? await store.subscriptions(trigger: trigger)) ?? [] {
            try? await store.setPipelineError(
                namespace: s.namespace, pipeline: s.pipeline, source: "trigger:\(s.label)", kind: kind, message: message)
        }
    }


    private func call<P, R>(_ trigger: String, _ call: ProtocolCall<P, R>, _ params: P, timeout: Duration? = nil) async throws -> R {
        guard let s = roster.running[trigger] else {
            throw SupervisorError(extensionName: trigger, message: roster.unavailable[trigger] ?? "not installed")
        }
        return try await s.call(call, params, timeout: timeout ?? callTimeout)
    }

    // MARK: - Validation (apply time)

    /// Checks each `triggers:` entry: the trigger is installed and running, its settings pass the
    /// trigger's schema and the trigger's own checks. Problems name the config path and line.
    public func validate(_ config: PipelineConfig, locator: PipelineConfigLoader.Locator) async -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        for (i, use) in config.triggers.enumerated() {
            let base = "/triggers/\(i)"
            guard let s = roster.running[use.trigger] else {
                if let why = roster.unavailable[use.trigger] {
                    problems.append(locator.problem(base + "/trigger", "trigger \"\(use.trigger)\" is installed but not running: \(why)"))
                } else {
                    let known = roster.names
                    problems.append(
                        locator.problem(
                            base + "/trigger",
                            "no trigger named \"\(use.trigger)\" is installed (installed: \(known))"))
                }
                continue
            }
            guard let shake = await s.handshake else { continue }
            let structural = shake.paramsSchema.validate(use.settings, basePath: base + "/settings")
            if !structural.isEmpty {
                problems += structural.map { locator.problem($0.path, $0.message) }
                continue
            }
            func mapped(_ d: Diagnostic) -> ConfigProblem {
                var path = d.path
                if path.hasPrefix("/params") { path.removeFirst("/params".count) }
                return locator.problem(base + "/settings" + path, d.message)
            }
            do {
                let answer = try await s.call(ProtocolCalls.triggerValidate, ParamsCheck(params: use.settings), timeout: callTimeout)
                for d in answer.diagnostics where d.severity == "error" {
                    problems.append(mapped(d))
                }
            } catch let error as ProtocolError where error.code == .invalidParams && !error.diagnostics.isEmpty {
                problems += error.diagnostics.map(mapped)
            } catch {
                problems.append(
                    locator.problem(base + "/trigger", "trigger \"\(use.trigger)\" could not check the settings: \(ErrorText.describe(error))"))
            }
        }
        return problems
    }

    // MARK: - A pipeline's subscriptions (the pipeline lifecycle is ``Pipelines``')

    /// Makes the stored and live subscriptions match `wanted`. New ones are stored, then
    /// subscribed; only when all succeeded are removed ones unsubscribed and forgotten.
    package func reconcile(
        namespace: String, pipeline: String, existing: [TriggerSubscription], wanted: [TriggerUse], dormant: Bool
    ) async throws {
        let now = Date()
        var keep: [TriggerSubscription] = []
        var fresh: [TriggerSubscription] = []
        for use in wanted {
            if let same = existing.first(where: { $0.label == use.label && $0.trigger == use.trigger && $0.settings == use.settings }) {
                keep.append(same)
            } else {
                let id = "\(namespace)/\(pipeline)/\(use.label)/\(UUID().uuidString.prefix(8).lowercased())"
                fresh.append(
                    TriggerSubscription(
                        id: id, namespace: namespace, pipeline: pipeline, label: use.label, trigger: use.trigger, settings: use.settings,
                        state: .active, detail: "", cursor: nil, createdAt: now, updatedAt: now))
            }
        }
        let removed = existing.filter { e in !keep.contains { $0.id == e.id } }
        // Keep the old ones stored while the new ones are subscribed, so both can deliver.
        try await store.replaceSubscriptions(namespace: namespace, pipeline: pipeline, with: existing + fresh)
        if !dormant {
            var done: [TriggerSubscription] = []
            // Kept ones that had failed are retried too.
            for s in fresh + keep.filter({ $0.state != .active }) {
                do {
                    _ = try await call(s.trigger, ProtocolCalls.triggerSubscribe, subscribeParams(s))
                    done.append(s)
                } catch {
                    for d in done where fresh.contains(where: { $0.id == d.id }) {
                        _ = try? await call(d.trigger, ProtocolCalls.triggerUnsubscribe, UnsubscribeRequest(subscriptionId: d.id))
                    }
                    try? await store.replaceSubscriptions(namespace: namespace, pipeline: pipeline, with: existing)
                    throw SubscriptionError(label: s.label, trigger: s.trigger, reason: ErrorText.describe(error))
                }
            }
            for s in removed {
                _ = try? await call(s.trigger, ProtocolCalls.triggerUnsubscribe, UnsubscribeRequest(subscriptionId: s.id))
            }
        }
        var final = keep.map { s -> TriggerSubscription in
            var s = s
            s.state = .active
            s.detail = ""
            return s
        }
        final += fresh
        try await store.replaceSubscriptions(namespace: namespace, pipeline: pipeline, with: final)
    }

    /// Subscribes again the pipeline's stored subscriptions (it was enabled): one a trigger refuses
    /// is marked failed with a pipeline error saying why; the others stay subscribed.
    package func resubscribe(namespace: String, pipeline: String, _ subs: [TriggerSubscription]) async {
        for s in subs {
            do {
                _ = try await call(s.trigger, ProtocolCalls.triggerSubscribe, subscribeParams(s))
                try await store.setSubscriptionState(s.id, .active, detail: "")
                try await store.clearPipelineErrors(namespace: namespace, pipeline: pipeline, sourcePrefix: "trigger:\(s.label)")
            } catch {
                let why = ErrorText.describe(error)
                try? await store.setSubscriptionState(s.id, .failed, detail: why)
                try? await store.setPipelineError(
                    namespace: namespace, pipeline: pipeline, source: "trigger:\(s.label)", kind: "subscription_failed",
                    message: "trigger \(s.trigger) refused subscription \"\(s.label)\": \(why)")
            }
        }
    }

    /// Unsubscribes `subs` from their triggers (the pipeline was disabled or deleted); a trigger
    /// that does not answer forgets them when it restarts, as it is only told about stored ones.
    package func unsubscribe(_ subs: [TriggerSubscription], marking state: TriggerSubscription.State?, detail: String = "") async {
        for s in subs {
            _ = try? await call(s.trigger, ProtocolCalls.triggerUnsubscribe, UnsubscribeRequest(subscriptionId: s.id))
            if let state { try? await store.setSubscriptionState(s.id, state, detail: detail) }
        }
    }

    // MARK: - External events

    /// What a trigger answered to a forwarded HTTP request.
    public struct ExternalAnswer: Sendable {
        public var status: Int
        public var body: String
    }

    /// Forwards a webhook to the trigger that owns `name` and returns its answer, or throws
    /// ``WebhookError`` saying why the trigger could not take it.
    public func external(_ name: String, headers: [String: String], body: [UInt8]) async throws -> ExternalAnswer {
        guard let s = roster.running[name] else {
            if let why = roster.unavailable[name] { throw WebhookError(trigger: name, kind: .unavailable, message: "trigger \(name) is not running: \(why)") }
            throw WebhookError(trigger: name, kind: .unknownTrigger, message: "no trigger named \"\(name)\" is installed")
        }
        guard await s.handshake?.capabilities.has(.external) == true else {
            throw WebhookError(trigger: name, kind: .notExternal, message: "trigger \(name) does not accept external events")
        }
        // The request travels in one protocol frame, base64-encoded: refuse what cannot fit, clearly.
        let frameLimit = await s.handshake?.raw["limits"]?["maxFrameBytes"]?.intValue.map { Int($0) } ?? ExtensionConnection.maxFrameBytes
        let overhead = headers.reduce(512) { $0 + $1.key.utf8.count + $1.value.utf8.count * 2 + 8 }
        if (body.count + 2) / 3 * 4 + overhead > frameLimit {
            throw WebhookError(
                trigger: name, kind: .tooLarge,
                message:
                    "the request body is \(body.count) bytes; trigger \(name) takes at most \(max(0, (frameLimit - overhead) / 4 * 3)) bytes per request (one protocol frame of \(frameLimit) bytes)"
            )
        }
        let request = ForwardedRequest(headers: headers, bodyB64: Data(body).base64EncodedString())
        do {
            let answer: ForwardedAnswer
            do {
                answer = try await s.call(ProtocolCalls.triggerExternal, request, timeout: externalTimeout)
            } catch is AnswerMismatch {
                throw WebhookError(trigger: name, kind: .badAnswer, message: "trigger \(name) answered without a valid HTTP status")
            }
            guard (100...599).contains(answer.status) else {
                throw WebhookError(trigger: name, kind: .badAnswer, message: "trigger \(name) answered without a valid HTTP status")
            }
            return ExternalAnswer(status: answer.status, body: answer.body ?? "")
        } catch let error as ProtocolError {
            throw WebhookError(trigger: name, kind: .refused(error.code), message: "trigger \(name): \(ErrorText.describe(error))")
        } catch let failure as ExtensionFailure where failure.kind == .timedOut {
            throw WebhookError(trigger: name, kind: .timedOut, message: "trigger \(name) did not answer within 9 s")
        }
    }

    /// Whether `name` is an installed trigger (running or not): only those get a metrics series of their own.
    public func isInstalled(_ name: String) -> Bool {
        roster.running[name] != nil || roster.unavailable[name] != nil
    }
}

/// Why a forwarded webhook did not reach its trigger, or what the trigger refused it with. The
/// HTTP layer answers each kind with its own status.
public struct WebhookError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Installed but not running (crashed, restarting).
        case unavailable
        /// No trigger by that name.
        case unknownTrigger
        /// The trigger does not advertise `external`.
        case notExternal
        /// The body cannot fit in one protocol frame.
        case tooLarge
        /// The trigger's answer had no valid HTTP status.
        case badAnswer
        /// The trigger answered with this protocol error.
        case refused(ErrorCode)
        /// The trigger did not answer in time.
        case timedOut
    }

    public var trigger: String
    public var kind: Kind
    public var message: String
    public var description: String { message }
}
