import ExtensionClient
import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GoferStore
import Synchronization

/// Carries one task execution through the scheduler: start, stream logs to its file, wait (within
/// the task's timeout), record how it ended, tell the engine, then remove the container. Cancelling its Swift task stops
/// the container.
struct TaskRunner: Sendable {
    let execution: TaskExecution
    let config: TaskConfig
    let run: Run
    let engine: RunEngine
    let scheduler: any SchedulerClient
    let logs: LogFiles
    let settings: EngineSettings
    /// Every secret the pipeline's tasks reference: their values are masked in this task's log.
    let pipelineSecrets: Set<SecretReference>
    /// Give the task the run's API token (`GOFER_API_TOKEN`).
    let injectToken: Bool
    /// How the engine asks this task to stop. Not Swift task cancellation: the runner must still
    /// record the outcome in the database after being asked to stop.
    let control: Control
    /// Re-attach to an execution a previous server process started, instead of starting it.
    var resume = false

    /// A stop request, delivered once; or a detach: the server is going down and leaves the task
    /// running for the next start to pick up.
    final class Control: Sendable {
        private let state = Mutex<(cancelled: Bool, reason: StateReason?, handlers: [@Sendable () -> Void])>((false, nil, []))
        private let detachState = Mutex<(detached: Bool, handlers: [@Sendable () -> Void])>((false, []))

        var isCancelled: Bool { state.withLock { $0.cancelled } }

        /// Set when the server stops following the task (a graceful stop): nothing about the task
        /// is recorded from then on, and its job is neither stopped nor removed.
        var isDetached: Bool { detachState.withLock { $0.detached } }

        func detach() {
            let handlers = detachState.withLock { s -> [@Sendable () -> Void] in
                guard !s.detached else { return [] }
                s.detached = true
                defer { s.handlers = [] }
                return s.handlers
            }
            for h in handlers { h() }
        }

        /// Runs `handler` on detach (at once if already detached).
        func onDetach(_ handler: @escaping @Sendable () -> Void) {
            let now = detachState.withLock { s -> Bool in
                if s.detached { return true }
                s.handlers.append(handler)
                return false
            }
            if now { handler() }
        }
        /// Why this one task was cancelled, when it was cancelled on its own (not with its run).
        var reason: StateReason? { state.withLock { $0.reason } }

        func cancel(reason: StateReason? = nil) {
            let handlers = state.withLock { s -> [@Sendable () -> Void] in
                guard !s.cancelled else { return [] }
                s.cancelled = true
                s.reason = reason
                defer { s.handlers = [] }
                return s.handlers
            }
            for h in handlers { h() }
        }

        /// Runs `handler` on cancel (at once if already cancelled).
        func onCancel(_ handler: @escaping @Sendable () -> Void) {
            let now = state.withLock { s -> Bool in
                if s.cancelled { return true }
                s.handlers.append(handler)
                return false
            }
            if now { handler() }
        }
    }

    var key: RunEngine.Key { RunEngine.Key(namespace: run.namespace, pipeline: run.pipeline, run: run.id) }

    /// Unique per task execution: the scheduler's idempotency key.
    var executionID: String { "\(settings.serverID.prefix(8))-\(run.namespace)-\(run.pipeline)-\(run.id)-\(execution.task)" }

    func run() async {
        guard let final = await execute() else { return await engine.taskDetached(key, execution.task) }
        // The outcome first: the run's next tasks start (or the run ends) now, while the ended job
        // is removed — housekeeping no task waits for (Swarm takes seconds to remove a service).
        let job = leftover.take()
        await engine.taskEnded(key, execution.task, final, removing: job != nil)
        if let job {
            await remove(job)
            await engine.jobRemoved()
        }
    }

    /// The job of a task whose outcome is decided, removed after the engine has been told.
    let leftover = Leftover()

    final class Leftover: Sendable {
        private let handle = Mutex<String?>(nil)
        func set(_ job: String) { handle.withLock { $0 = job } }
        func take() -> String? {
            handle.withLock { job in
                defer { job = nil }
                return job
            }
        }
    }

    /// Removes an ended job, retried once (a busy engine may refuse or time out); whatever is left
    /// is removed by the next start's recovery.
    private func remove(_ job: String) async {
        for attempt in 0..<2 {
            do {
                try await scheduler.remove(job)
                return
            } catch {
                if attempt == 0 { try? await Task.sleep(for: .seconds(2)) }
            }
        }
    }

    /// Records how the task ended, unless the server has detached from it: then whatever went
    /// wrong is the server going down (its scheduler stopped, its calls cancelled), not the
    /// task's doing, and the next start finds the task where it is. nil: detached, nothing stored.
    private func fail(_ state: TaskState, _ reason: StateReason, exitCode: Int? = nil, started: Date? = nil, ended: Date? = nil) async
        -> TaskState?
    {
        if control.isDetached { return nil }
        try? await engine.persistTask(execution, state, reason: reason, exitCode: exitCode, startedAt: started, endedAt: ended)
        return state
    }

    /// The task's final state (stored), or nil when the server detached from it.
    private func execute() async -> TaskState? {
        if resume { return await reattach() }
        let timeout = config.timeoutSeconds.map { Duration.seconds($0) } ?? settings.defaultTaskTimeout
        let deadline = Date().addingTimeInterval(Double(timeout.components.seconds))
        if control.isCancelled { return await fail(.cancelled, control.reason ?? StateReason(.cancelled, "cancelled before it started")) }
        do {
            try await engine.persistTask(execution, .starting, deadline: deadline)
        } catch {
            return await fail(.failed, StateReason(.schedulerError, "cannot record the task start", cause: error))
        }
        var resolved: ResolvedSecrets
        do {
            resolved = try await resolveSecrets()
        } catch {
            return await fail(.failed, StateReason(.secretError, "", cause: error))
        }
        do {
            resolved.env = try await resolveObjects(resolved.env)
        } catch {
            return await fail(.failed, StateReason(.objectError, "", cause: error))
        }
        let job = jobSpec(resolved)
        let handle: String
        do {
            if let name = config.extension {
                guard let tasks = engine.commonTasks else {
                    throw ProtocolError(.unavailable, "this server runs no common tasks")
                }
                handle = await tasks.steps.startStep(
                    id: executionID, extension: name, params: resolved.settings ?? .emptyObject, variables: job.env, labels: labels,
                    timeout: timeout, tasks: tasks)
            } else {
                handle = try await scheduler.start(job)
            }
        } catch let error as ProtocolError where config.extension == nil && (ImageFailure(error) != nil || error.code == .notFound) {
            switch ImageFailure(error) {
            case .registryUnreachable, .denied: return await fail(.failed, StateReason(.imagePullFailed, error.message))
            case .notFound, nil: return await fail(.failed, StateReason(.imageNotFound, error.message))
            }
        } catch {
            if control.isCancelled { return await fail(.cancelled, control.reason ?? StateReason(.cancelled, "cancelled while starting")) }
            return await fail(.failed, StateReason(.schedulerError, "the scheduler could not start the task: \(ErrorText.describe(error))"))
        }
        var startedAt = Date()
        if config.extension == nil, await scheduler.placesJobs() {
            switch await followPlacement(handle, deadline: deadline, timeout: timeout) {
            case .runs(let at): startedAt = at ?? Date()
            case .ended(let state): return state
            }
        }
        do {
            try await engine.persistTask(execution, .running, handle: handle, startedAt: startedAt)
        } catch {
            try? await scheduler.stop(handle, grace: settings.stopGrace)
            return await fail(.failed, StateReason(.schedulerError, "cannot record that the task is running", cause: error))
        }

        return await attach(handle, timeout: timeout, freshLog: false, masks: resolved.masks)
    }

    enum Placement {
        /// The job runs (or already ran), since this time.
        case runs(Date?)
        /// The task ended before its job ran (cancelled, timed out, or the scheduler gave up).
        case ended(TaskState?)
    }

    /// A job that waits for a node after start (Swarm, Nomad): the task stays `starting`, with the
    /// scheduler's reason ("no suitable node …") as its message, until the job runs — not
    /// `running` with a clock that ticks while nothing runs. Cancel and the task's timeout apply.
    private func followPlacement(_ handle: String, deadline: Date, timeout: Duration) async -> Placement {
        var shown: String?
        var delay = Duration.milliseconds(100)
        let placementStarted = ContinuousClock.now
        while true {
            let status: JobStatus
            do {
                status = try await scheduler.inspect(handle)
            } catch {
                try? await scheduler.remove(handle)
                return .ended(await fail(.failed, Self.waitFailure(error)))
            }
            if status.state != .created { return .runs(status.startedAt.flatMap(Self.parseDate)) }
            if let message = status.message, message != shown {
                shown = message
                try? await engine.persistTask(execution, .starting, reason: StateReason(.waitingForPlacement, message), handle: handle)
            }
            if control.isCancelled {
                try? await scheduler.stop(handle, grace: settings.stopGrace)
                try? await scheduler.remove(handle)
                return .ended(await fail(.cancelled, control.reason ?? StateReason(.cancelled, "cancelled while waiting for a node")))
            }
            if Date() >= deadline {
                try? await scheduler.stop(handle, grace: settings.stopGrace)
                try? await scheduler.remove(handle)
                return .ended(
                    await fail(
                        .failed,
                        StateReason(
                            .timeout, "waited longer than its timeout of \(DurationText.format(timeout)) for a node" + (shown.map { ": \($0)" } ?? ""))))
            }
            // Every 100 ms while a job usually gets its node (Swarm: ~0.6 s from create to running),
            // so a wave of tasks is not held up by the poll; then backing off to once a second.
            try? await Task.sleep(for: delay)
            if ContinuousClock.now - placementStarted > .seconds(3) { delay = min(.seconds(1), delay * 2) }
        }
    }

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

    /// Picks up an execution left running by a previous server process: finds its job (by the
    /// recorded handle, or by labels if the server died before recording it), then follows it to
    /// the end. Never starts a second job; if none was ever created, starting is safe because
    /// starts are idempotent per task execution.
    private func reattach() async -> TaskState? {
        if config.extension != nil, (try? await scheduler.inspect(executionID)) == nil {
            // A common-task step does not outlive the server that called it: call it again with
            // the same idempotency key, so the extension does its work once.
            var fresh = self
            fresh.resume = false
            return await fresh.execute()
        }
        var handle = execution.handle
        if handle == nil, let found = try? await scheduler.list(labels: labels).first {
            handle = found.handle
        }
        guard let handle else {
            if execution.state == .running {
                return await fail(
                    .failed, StateReason(.orphaned, "it was running when the server stopped, and the scheduler no longer knows it"))
            }
            var fresh = self
            fresh.resume = false
            return await fresh.execute()
        }
        let status: JobStatus
        do {
            status = try await scheduler.inspect(handle)
        } catch let error as ProtocolError where error.code == .notFound {
            return await fail(.failed, StateReason(.orphaned, "its container is gone (removed while the server was down)"))
        } catch {
            return await fail(.failed, StateReason(.schedulerError, "cannot find the task again after a restart: \(ErrorText.describe(error))"))
        }
        let resolved = (try? await resolveSecrets(strict: false)) ?? ResolvedSecrets(env: config.env, masks: [], registryPassword: nil, apiToken: nil)
        // The deadline was persisted at start, so a timeout holds across restarts.
        let deadline = execution.deadline ?? Date().addingTimeInterval(Double(settings.defaultTaskTimeout.components.seconds))
        var startedAt = Date()
        if status.state == .created {
            // Created but never started (the server died between the two): starting is
            // idempotent per task execution, and the scheduler starts only a never-run job.
            _ = try? await scheduler.start(jobSpec(resolved))
            // Or still waiting for a node: it stays `starting` until it runs.
            if await scheduler.placesJobs() {
                switch await followPlacement(handle, deadline: deadline, timeout: settings.defaultTaskTimeout) {
                case .runs(let at): startedAt = at ?? Date()
                case .ended(let state): return state
                }
            }
        }
        if execution.handle == nil || execution.state != .running {
            try? await engine.persistTask(execution, .running, handle: handle, startedAt: startedAt)
        }
        let remaining = deadline.timeIntervalSinceNow
        let timeout: Duration =
            status.state == .exited
            ? settings.defaultTaskTimeout : .milliseconds(Checked.int64(max(0.001, remaining), times: 1000) ?? Int64.max / 2)
        return await attach(handle, timeout: timeout, freshLog: true, masks: resolved.masks)
    }

    /// Streams the job's log to its file and waits for it (stopping it on timeout or cancel).
    private func attach(_ handle: String, timeout: Duration, freshLog: Bool, masks: [[UInt8]]) async -> TaskState? {
        let logFailure = LogFailure()
        let logTask: Task<Void, Never>? = config.logging ? startLogs(handle, truncate: freshLog, failure: logFailure, masks: masks) : nil
        guard let outcome = await waitOrStop(handle, timeout: timeout, logFailure: logFailure) else {
            // Detached: the job runs on; the next start streams its whole log again.
            logTask?.cancel()
            return nil
        }
        // Let the log stream drain after the container exits, but never hang on it: past the
        // bound the log task is cancelled (its log gets a marker saying so). Awaiting a task's
        // value does not end when the waiter is cancelled, so the log task itself is cancelled
        // before the group waits for its children.
        if let logTask {
            await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    await logTask.value
                    return true
                }
                group.addTask {
                    try? await Task.sleep(for: Self.logDrainBound)
                    return false
                }
                if await group.next() == false { logTask.cancel() }
                group.cancelAll()
            }
        }
        // The job has ended and its outcome is decided: removing it is housekeeping, done by
        // ``run()`` after the engine has the outcome.
        leftover.set(handle)
        return outcome
    }

    /// Set when the task's log cannot be written; the task is then stopped, because output
    /// nobody can read defeats the point of running it.
    final class LogFailure: Sendable {
        let control = Control()
        private let message = Mutex<String?>(nil)

        func report(_ text: String) {
            message.withLock { if $0 == nil { $0 = text } }
            control.cancel()
        }

        var text: String? { message.withLock { $0 } }
    }

    /// How long a task's end waits for the rest of its output to be read.
    static let logDrainBound: Duration = .seconds(10)

    private func startLogs(_ handle: String, truncate: Bool, failure: LogFailure, masks: [[UInt8]]) -> Task<Void, Never> {
        let path = logs.path(namespace: run.namespace, pipeline: run.pipeline, run: run.id, task: execution.task)
        let scheduler = self.scheduler
        let limit = settings.maxLogBytes(namespace: run.namespace)
        return Task {
            // If the stream breaks (the scheduler extension restarts, the engine is briefly away),
            // stream the whole log again: the job and its log live on in the engine. The file is
            // replaced only once the new stream delivers, so a failed retry never empties it.
            var fresh = truncate
            for attempt in 0..<20 {
                if Task.isCancelled { return }
                let writer: LogWriter
                do {
                    writer = try LogWriter(path: path, truncate: fresh ? .onFirstWrite : .no, limit: limit, masks: masks)
                } catch {
                    failure.report(ErrorText.describe(error))
                    return
                }
                let cut =
                    "its output was not read to the end within \(DurationText.format(Self.logDrainBound)) of the task ending; the rest was not stored"
                do {
                    try await scheduler.logs(handle, follow: true) { _, bytes in try writer.write(bytes) }
                    writer.close(incomplete: Task.isCancelled ? cut : nil)
                    return
                } catch _ where Task.isCancelled {
                    writer.close(incomplete: cut)
                    return
                } catch let error as LogWriteError {
                    writer.close()
                    failure.report(error.description)
                    return
                } catch let error as ProtocolError where error.code == .notFound {
                    writer.close()
                    return
                } catch {
                    writer.close()
                    fresh = true
                    try? await Task.sleep(for: .milliseconds(100 * (attempt + 1)))
                }
            }
        }
    }

    /// Waits for the job, riding out restarts of the scheduler extension (the job does not depend
    /// on it) and outages of the engine behind it, until `timeout`. `outage` records whether the
    /// engine was unreachable meanwhile.
    static func waitSurvivingRestarts(
        _ scheduler: any SchedulerClient, _ handle: String, timeout: Duration, outage: Outage
    ) async throws -> JobStatus {
        let deadline = ContinuousClock.now + timeout
        var attempt = 0
        while true {
            do {
                return try await scheduler.wait(handle, timeout: max(deadline - ContinuousClock.now, .seconds(1)))
            } catch let failure as ExtensionFailure where failure.kind == .exited && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
            } catch let error as ProtocolError where error.code == .unavailable && ContinuousClock.now < deadline {
                outage.seen()
                attempt += 1
                try await Task.sleep(for: .milliseconds(min(5000, 250 * attempt)))
            }
        }
    }

    /// Whether the engine was unreachable while a task ran.
    final class Outage: Sendable {
        private let flag = Mutex(false)
        func seen() { flag.withLock { $0 = true } }
        var wasSeen: Bool { flag.withLock { $0 } }
    }

    enum Stop { case timeout, cancelled, storage, detached }

    /// Waits for the job, stopping it on timeout or cancellation. Returns the final state (stored),
    /// or nil when the server detached from the task (the job runs on).
    private func waitOrStop(_ handle: String, timeout: Duration, logFailure: LogFailure) async -> TaskState? {
        let scheduler = self.scheduler
        let grace = settings.stopGrace
        // The wait runs unstructured so that cancelling this runner does not cancel the wait:
        // we stop the container instead and still collect its real exit.
        let outage = Outage()
        let wait = Task {
            try await Self.waitSurvivingRestarts(scheduler, handle, timeout: timeout + grace + .seconds(120), outage: outage)
        }
        let first = FirstOf<Stop?>()
        // Cancelled as soon as the task has ended: no sleeper outlives its task (timeouts are hours).
        let timer = Task {
            try? await Task.sleep(for: timeout)
            if !Task.isCancelled { first.resume(.timeout) }
        }
        defer { timer.cancel() }
        let reason: Stop? = await withCheckedContinuation { (c: CheckedContinuation<Stop?, Never>) in
            first.set(c)
            Task {
                _ = try? await wait.value
                first.resume(nil)
            }
            control.onCancel {
                first.resume(.cancelled)
                Task { try? await scheduler.stop(handle, grace: grace) }
            }
            logFailure.control.onCancel {
                first.resume(.storage)
                Task { try? await scheduler.stop(handle, grace: grace) }
            }
            control.onDetach { first.resume(.detached) }
        }
        if reason == .detached {
            wait.cancel()
            return nil
        }
        let stopReason = reason
        if stopReason == .timeout { try? await scheduler.stop(handle, grace: grace) }
        let status: JobStatus
        do {
            status = try await wait.value
        } catch {
            return await fail(.failed, Self.waitFailure(error))
        }
        let started = status.startedAt.flatMap(Self.parseDate)
        // Never before the start, whatever the clocks' resolution.
        let ended = max(status.finishedAt.flatMap(Self.parseDate) ?? Date(), started ?? .distantPast)
        let code = status.exitCode
        switch stopReason {
        case .timeout:
            return await fail(
                .failed, StateReason(.timeout, "ran longer than its timeout of \(DurationText.format(timeout)) and was stopped"),
                exitCode: code,
                started: started, ended: ended)
        case .cancelled:
            var why = control.reason
            if why == nil { why = await engine.stopReason(key) }
            return await fail(.cancelled, why ?? StateReason(.cancelled, "cancelled"), exitCode: code, started: started, ended: ended)
        case .storage:
            return await fail(
                .failed,
                StateReason(
                    .storageError,
                    "\(logFailure.text ?? "cannot write the task's log"); the task was stopped. Free disk space in the server's data directory"
                ),
                exitCode: code, started: started, ended: ended)
        case .detached, nil:
            break
        }
        if outage.wasSeen && (code == 137 || code == 143) {
            return await fail(
                .failed,
                StateReason(
                    .schedulerLost,
                    "the container engine went away while the task ran and stopped it (exit \(code ?? 0)); not a failure of the task itself"
                ),
                exitCode: code, started: started, ended: ended)
        }
        if status.oomKilled {
            return await fail(
                .failed, StateReason(.outOfMemory, "ran out of memory (limit \(config.memoryMB.map { "\($0) MB" } ?? "none"))"),
                exitCode: code, started: started, ended: ended)
        }
        if code == 0 {
            try? await engine.persistTask(execution, .succeeded, exitCode: 0, startedAt: started, endedAt: ended)
            return .succeeded
        }
        return await fail(
            .failed, StateReason(.exitCode, "exited with code \(code.map(String.init) ?? "unknown")"), exitCode: code, started: started,
            ended: ended)
    }

    /// Why a task failed when the scheduler's wait did: the cluster's own verdict (lost node,
    /// nowhere to place it, refused by the node) when the scheduler names one.
    static func waitFailure(_ error: any Error) -> StateReason {
        guard let p = error as? ProtocolError else { return StateReason(.schedulerError, "lost track of the task: \(ErrorText.describe(error))") }
        switch JobFailure(p) {
        case .lost: return StateReason(.schedulerLost, "the scheduler lost the task: \(p.message)")
        case .unplaceable: return StateReason(.schedulerError, "the scheduler could not place the task: \(p.message)")
        case .rejected: return StateReason(.schedulerError, "the scheduler could not run the task: \(p.message)")
        case nil: return StateReason(.schedulerError, "lost track of the task: \(p.message)")
        }
    }

    /// RFC 3339 with or without fractional seconds (Docker reports nanoseconds; we keep microseconds).
    static func parseDate(_ text: String) -> Date? { RFC3339.parse(text) }
}

/// Resumes a continuation with the first of several racing outcomes; later ones are dropped.
final class FirstOf<T: Sendable>: Sendable {
    private let state = Mutex<(CheckedContinuation<T, Never>?, T?)>((nil, nil))

    func set(_ c: CheckedContinuation<T, Never>) {
        let early: T? = state.withLock { s in
            if let value = s.1 { return value }
            s.0 = c
            return nil
        }
        if let early { c.resume(returning: early) }
    }

    func resume(_ value: T) {
        let c: CheckedContinuation<T, Never>? = state.withLock { s in
            guard s.1 == nil else { return nil }
            s.1 = value
            defer { s.0 = nil }
            return s.0
        }
        c?.resume(returning: value)
    }
}

extension RunEngine {
    /// Why a run is stopping, for tasks cancelled as part of it.
    func stopReason(_ key: Key) -> StateReason? {
        active[key]?.machine.stopping?.reason
    }
}
