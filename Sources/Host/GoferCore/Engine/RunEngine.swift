import ExtensionClient
import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GoferStore
import Logging
import Synchronization
import Tracing

/// Runs pipelines: turns runs into task executions on a scheduler, following the DAG, the
/// conditions, the limits and the timeouts. Every state change goes through ``RunStateMachine``
/// and is stored (with its event) before anyone hears of it.
public actor RunEngine {
    struct Key: Hashable, Sendable, CustomStringConvertible {
        var namespace: String
        var pipeline: String
        var run: Int
        var description: String { "\(namespace)/\(pipeline)#\(run)" }
    }

    final class Active {
        var run: Run
        var machine: RunStateMachine
        var tasks: [String: TaskExecution]
        var runners: [String: TaskControl] = [:]
        var timer: Task<Void, Never>?
        /// The time limit is a public-mode trial's budget, not the run timeout.
        var budgetLimited = false
        /// The run's trace (one per run) and its tasks' spans, while they last.
        var span: (any Span)?
        var taskSpans: [String: any Span] = [:]
        /// Every secret the run's tasks reference (their values are masked in every task's log).
        let secretReferences: Set<SecretReference>

        init(run: Run, machine: RunStateMachine, tasks: [String: TaskExecution]) {
            self.run = run
            self.machine = machine
            self.tasks = tasks
            secretReferences = Set(SecretReference.all(in: machine.config).map(\.reference))
        }
    }

    let store: any Store
    package let scheduler: any SchedulerClient
    let bus: EventBus
    let logs: LogFiles
    package nonisolated let settings: EngineSettings
    /// Resolves `secret{{…}}` references when a task starts; nil when no secret store is set up.
    let secrets: (any SecretResolving)?
    /// Issues run tokens (`inject_api_token`); nil when the server issues none.
    public nonisolated let runTokens: RunTokenIssuer?
    /// Runs extension tasks; nil when the server has none.
    public nonisolated let commonTasks: CommonTasks?
    /// Resolves `pipeline_object{{…}}` / `run_object{{…}}` in env values; nil without an object store.
    public nonisolated let objects: Objects?

    var active: [Key: Active] = [:]
    /// Runs waiting for their pipeline's parallelism, oldest first.
    private var queued: [(Key, Run, [TaskExecution], PipelineConfig)] = [] {
        didSet { GoferMetrics.gauge(.runsQueued, queued.count) }
    }
    /// Tasks waiting for a global slot.
    private var slotQueue = SlotQueue<(Key, String)>()
    private var runningTasks = 0 {
        didSet { GoferMetrics.gauge(.tasksRunning, runningTasks) }
    }
    /// Jobs of ended tasks being removed: nothing waits for them but a stop (so a stopping server
    /// does not shut its scheduler down under a removal).
    private var removingJobs = 0

    /// When each run and task execution in progress began running, for their duration metrics.
    private var taskStartedAt: [String: Date] = [:]
    private var runStartedAt: [Key: Date] = [:]
    private var finishWaiters: [Key: [CheckedContinuation<Run, Never>]] = [:]
    private var rolloutRunFinished: (@Sendable (Run) async -> Void)?
    /// Runs that ended and whose rollout is being judged: waiting for one waits for the judgment
    /// too, so whoever saw the run end then sees the rollout's decision.
    private var judging: Set<Key> = []
    private var runStateStored: (@Sendable () -> Void)?
    /// Public mode's trials, whose runs end with their container time.
    private var trials: Trials?
    /// Set once the server is going down: nothing new starts, and running tasks are left running
    /// for the next start to re-attach (``detachAll(within:)``).
    private(set) var detaching = false
    /// Set while draining (``drain(within:)``): runs in progress go on, nothing new is admitted.
    private(set) var draining = false

    /// Called after every stored run state change (the hook outbox has new work then).
    public func onRunStateStored(_ handler: @escaping @Sendable () -> Void) { runStateStored = handler }

    package init(
        store: any Store, scheduler: any SchedulerClient, bus: EventBus, logs: LogFiles, settings: EngineSettings,
        secrets: (any SecretResolving)? = nil, runTokens: RunTokenIssuer? = nil, commonTasks: CommonTasks? = nil, objects: Objects? = nil
    ) {
        self.commonTasks = commonTasks
        self.objects = objects
        self.secrets = secrets
        self.runTokens = runTokens
        self.store = store
        self.scheduler = scheduler
        self.bus = bus
        self.logs = logs
        self.settings = settings
    }

    // MARK: - Public API

    /// Queues a run and starts it when limits allow: of `version` when given, else of the live
    /// version (or the canary, for its share of runs while a rollout is active).
    public func startRun(
        namespace: String, pipeline: String, initiator: Principal, variables: [String: String] = [:], version: Int? = nil
    ) async throws -> Run {
        let created = try await store.createRun(
            namespace: namespace, pipeline: pipeline, initiator: initiator, variables: variables, version: version)
        enqueue(created)
        return created.run
    }

    /// Queues a rerun of a finished run (its version and variables): all of it, or only its
    /// failed and cancelled tasks and their dependents, the rest carried over.
    public func rerun(namespace: String, pipeline: String, run: Int, failedOnly: Bool, by: Principal) async throws -> Run {
        let created = try await store.rerun(namespace: namespace, pipeline: pipeline, run: run, failedOnly: failedOnly, by: by)
        enqueue(created)
        return created.run
    }

    /// Called with every run routed by a rollout once it has ended (before its waiters hear of
    /// it), so the rollout can be judged on it.
    public func onRolloutRunFinished(_ handler: @escaping @Sendable (Run) async -> Void) {
        rolloutRunFinished = handler
    }

    /// Takes a run that is already stored (by ``startRun`` or a trigger's event) and starts it
    /// when limits allow.
    public func enqueue(_ created: CreatedRun) {
        bus.publish(created.event)
        let run = created.run
        let key = Key(namespace: run.namespace, pipeline: run.pipeline, run: run.id)
        if active[key] != nil || queued.contains(where: { $0.0 == key }) { return }
        queued.append((key, run, created.tasks, created.config))
        // The run is stored: from here on nothing about it may fail the request. Admitting it
        // (which writes again) waits out a full disk on its own time.
        Task { try? await self.admitQueued() }
    }

    /// Cancels a run: waiting tasks are cancelled, running ones stopped (grace, then kill).
    public func cancelRun(namespace: String, pipeline: String, run: Int, by who: Principal, why: String?) async throws {
        let key = Key(namespace: namespace, pipeline: pipeline, run: run)
        let reason = StateReason(.cancelled, "cancelled by \(who)" + (why.map { ": \($0)" } ?? ""))
        if let index = queued.firstIndex(where: { $0.0 == key }) {
            let (_, r, tasks, _) = queued.remove(at: index)
            for t in tasks {
                try await persistTask(t, .cancelled, reason: StateReason(.cancelled, "the run was cancelled before it started"))
            }
            try await persistRun(r, .cancelled, reason: reason)
            resumeWaiters(key)
            return
        }
        guard let a = active[key] else {
            let r = try await store.run(namespace: namespace, pipeline: pipeline, id: run)
            if r.state.isTerminal { throw StoreError.conflict("run \(key) already ended (\(r.state.rawValue))") }
            throw StoreError.notFound(what: "active run", id: key.description)
        }
        // Stored before any task hears of it, so a restart in the middle finishes the stop.
        if a.machine.stopping == nil { bus.publish(try await store.requestRunStop(a.run, reason: reason, by: who)) }
        stop(a, reason)
        try await advance(key)
    }

    /// Cancels one task of a running run. Its dependents then follow their conditions.
    public func cancelTask(namespace: String, pipeline: String, run: Int, task: String, by who: Principal, why: String? = nil) async throws {
        let key = Key(namespace: namespace, pipeline: pipeline, run: run)
        guard let a = active[key] else { throw StoreError.conflict("run \(key) is not in progress") }
        guard let t = a.tasks[task] else { throw StoreError.notFound(what: "task", id: "\(key)/\(task)") }
        let state = a.machine.states[task] ?? .waiting
        if state.isTerminal { throw StoreError.conflict("task \(task) already ended (\(state.rawValue))") }
        let reason = StateReason(.cancelled, "cancelled by \(who)" + (why.map { ": \($0)" } ?? ""))
        if state == .waiting {
            a.machine.record(task, .cancelled)
            try await persistTask(t, .cancelled, reason: reason)
            try await advance(key)
        } else {
            a.runners[task]?.cancel(reason: reason)
        }
    }

    /// Waits until the run has ended and returns it.
    public func waitForRun(namespace: String, pipeline: String, run: Int) async throws -> Run {
        let key = Key(namespace: namespace, pipeline: pipeline, run: run)
        // Decide without suspending between the check and registering the waiter, or the run
        // could finish in between and the waiter would never be resumed.
        if active[key] == nil && !judging.contains(key) && !queued.contains(where: { $0.0 == key }) {
            return try await store.run(namespace: namespace, pipeline: pipeline, id: run)
        }
        return await withCheckedContinuation { c in finishWaiters[key, default: []].append(c) }
    }

    /// Picks up the runs a previous server process left unfinished: pending runs are queued again;
    /// running runs continue where they were, their running tasks re-attached through the scheduler
    /// (a running job is followed to its real exit, an exited one harvested, a vanished one marked
    /// `orphaned`), and never started twice. Returns how many runs were recovered.
    @discardableResult
    public func recoverRuns() async throws -> Int {
        var count = 0
        for run in try await store.unfinishedRuns() {
            let key = Key(namespace: run.namespace, pipeline: run.pipeline, run: run.id)
            if active[key] != nil || queued.contains(where: { $0.0 == key }) { continue }
            let config = try await store.config(forRun: run)
            let tasks = try await store.tasks(namespace: run.namespace, pipeline: run.pipeline, run: run.id)
            count += 1
            if run.state == .pending {
                queued.append((key, run, tasks, config))
                continue
            }
            // The run timeout counts from when the run started, not from the restart.
            let elapsed = Date().timeIntervalSince(run.startedAt ?? run.createdAt)
            let remaining = max(Duration.zero, settings.runTimeout - .milliseconds(Checked.int64(elapsed, times: 1000) ?? 0))
            let (limit, budgeted) = await timeLimit(run, config, base: remaining)
            let a = activate(key, run, tasks, config, timeout: limit)
            a.budgetLimited = budgeted
            for t in tasks where t.state == .starting || t.state == .running { launch(key, t.task, resume: true) }
            // A stop that was requested before the restart is carried out now.
            if let reason = run.stopRequested { stop(a, reason) }
            try await advance(key)
        }
        try await admitQueued()
        await removeLeftoverJobs()
        return count
    }

    /// Removes finished jobs of task executions that already ended (the server died between
    /// recording the end and removing the container).
    private func removeLeftoverJobs() async {
        guard let jobs = try? await scheduler.list(labels: ["gofer.server": settings.serverID]) else { return }
        for job in jobs where job.state == .exited || job.state == .created {
            guard let ns = job.labels["gofer.namespace"], let p = job.labels["gofer.pipeline"],
                let r = job.labels["gofer.run"].flatMap(Int.init),
                let t = job.labels["gofer.task"]
            else { continue }
            let key = Key(namespace: ns, pipeline: p, run: r)
            if active[key]?.machine.states[t]?.isTerminal == false { continue }
            // Only what the store positively knows as ended (or never heard of) goes: a read that
            // failed says nothing, and removing a live task's container would fail the task.
            let ended: Bool
            do {
                ended = try await store.task(namespace: ns, pipeline: p, run: r, task: t).state.isTerminal
            } catch StoreError.notFound {
                ended = true
            } catch {
                continue
            }
            if ended { try? await scheduler.remove(job.handle) }
        }
    }

    // MARK: - Stopping the server

    /// Stops following every running task without stopping it, for a server that is going down
    /// (SIGTERM): nothing about those tasks is recorded, their jobs keep running, and the next
    /// start re-attaches each of them exactly as after a crash. Queued runs stay queued in the
    /// store. Returns how many tasks were left running; waits at most `timeout` for the runners
    /// to let go.
    @discardableResult
    public func detachAll(within timeout: Duration) async -> Int {
        detaching = true
        var left = 0
        for a in active.values {
            a.timer?.cancel()
            for runner in a.runners.values {
                runner.detach()
                left += 1
            }
        }
        let deadline = ContinuousClock.now + timeout
        while runningTasks + removingJobs > 0 && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if runningTasks > 0 { logger.warning("\(runningTasks) task runner(s) still busy after \(DurationText.format(timeout)); leaving them") }
        return left
    }

    /// Waits until every run in progress has ended, admitting no new ones (`gofer service stop
    /// --drain`); runs that arrive meanwhile are stored and wait for the next start. Returns the
    /// number of runs still in progress when `timeout` passed (0: drained).
    public func drain(within timeout: Duration) async -> Int {
        draining = true
        let deadline = ContinuousClock.now + timeout
        while !active.isEmpty && ContinuousClock.now < deadline && !Task.isCancelled { try? await Task.sleep(for: .milliseconds(100)) }
        return active.count
    }

    /// Runs in progress now (for the drain's report).
    public var activeRunCount: Int { active.count }

    /// Called by a ``TaskRunner`` when the job of its ended task is removed (or could not be).
    func jobRemoved() { removingJobs -= 1 }

    /// Called by a ``TaskRunner`` that let go of its task because the server is going down.
    func taskDetached(_ key: Key, _ task: String) {
        runningTasks -= 1
        guard let a = active[key] else { return }
        a.runners[task] = nil
        a.taskSpans.removeValue(forKey: task)?.end()
    }

    // MARK: - Scheduling

    private func admitQueued() async throws {
        if detaching || draining { return }
        var i = 0
        while i < queued.count {
            let (key, run, tasks, config) = queued[i]
            let inProgress = active.keys.filter { $0.namespace == key.namespace && $0.pipeline == key.pipeline }.count
            if config.parallelism > 0 && inProgress >= config.parallelism {
                i += 1
                continue
            }
            var (limit, budgeted) = (settings.runTimeout, false)
            if trials != nil {
                // Public mode: the run stays queued (waiters see it) while its budget is read; a
                // cancel may take it out of the queue meanwhile.
                (limit, budgeted) = await timeLimit(run, config, base: settings.runTimeout)
                guard let now = queued.firstIndex(where: { $0.0 == key }) else { continue }
                i = now
            }
            queued.remove(at: i)
            let a = activate(key, run, tasks, config, timeout: limit)
            a.budgetLimited = budgeted
            try await persistRun(run, .running)
            a.run.state = .running
            try await advance(key)
        }
    }

    /// Makes a run active: its state machine from its tasks' states, and its run-timeout timer.
    @discardableResult
    private func activate(_ key: Key, _ run: Run, _ tasks: [TaskExecution], _ config: PipelineConfig, timeout: Duration) -> Active {
        var states: [String: TaskState] = [:]
        for t in tasks { states[t.task] = t.state }
        let a = Active(
            run: run, machine: RunStateMachine(config: config, states: states),
            tasks: Dictionary(tasks.map { ($0.task, $0) }, uniquingKeysWith: { x, _ in x }))
        active[key] = a
        a.timer = Task { [weak self] in
            try? await CancellableSleep.sleep(for: timeout)
            guard !Task.isCancelled else { return }
            await self?.runTimedOut(key)
        }
        return a
    }

    /// The run's time limit: the run timeout, or less for a public-mode trial (its container time
    /// left, shared among the run's tasks, which may all run at once).
    private func timeLimit(_ run: Run, _ config: PipelineConfig, base: Duration) async -> (Duration, budgeted: Bool) {
        guard let trials, let left = await trials.remaining(namespace: run.namespace) else { return (base, false) }
        let share = left / max(1, config.tasks.count)
        return share < base ? (share, true) : (base, false)
    }

    /// Public mode: trial runs end when their container time does.
    public func limit(by trials: Trials) { self.trials = trials }

    private func runTimedOut(_ key: Key) async {
        guard let a = active[key], a.machine.stopping == nil else { return }
        if a.budgetLimited { await trials?.budgetRanOut(namespace: key.namespace) }
        guard active[key] === a, a.machine.stopping == nil else { return }
        let reason =
            a.budgetLimited
            ? StateReason(.runTimeout, "the trial's container time ran out (public mode: \(DurationText.format(trials?.policy.budget ?? .zero)) per trial)")
            : StateReason(.runTimeout, "the run took longer than the server's run timeout of \(DurationText.format(settings.runTimeout))")
        if let event = try? await durably("the stop of run \(key)", { try await store.requestRunStop(a.run, reason: reason, by: .system) }) {
            bus.publish(event)
        }
        stop(a, reason)
        try? await advance(key)
    }

    /// Stops a run in memory: nothing new starts, running tasks are told to stop. The state it
    /// ends in follows from the reason: cancelled for a cancel, failed for anything else.
    private func stop(_ a: Active, _ reason: StateReason) {
        a.machine.stop(as: reason.kind == .cancelled ? .cancelled : .failed, reason: reason)
        for runner in a.runners.values { runner.cancel() }
    }

    /// Applies what the state machine decides until nothing changes.
    private func advance(_ key: Key) async throws {
        guard !detaching, let a = active[key] else { return }
        var actions = a.machine.nextActions()
        while !actions.isEmpty {
            for action in actions {
                switch action {
                case .start(let task):
                    if runningTasks < settings.maxConcurrentTasks {
                        launch(key, task)
                    } else {
                        slotQueue.append((key, task))
                    }
                case .finishTask(let task, let state, let reason):
                    if let t = a.tasks[task] { try await persistTask(t, state, reason: reason) }
                case .finishRun(let state, let reason):
                    a.timer?.cancel()
                    try await persistRun(a.run, state, reason: reason)
                    active[key] = nil
                    slotQueue.removeAll { $0.0 == key }
                    if a.run.rollout != nil, let judge = rolloutRunFinished {
                        var ended = a.run
                        ended.state = state
                        judging.insert(key)
                        await judge(ended)
                        judging.remove(key)
                    }
                    resumeWaiters(key)
                    try await admitQueued()
                    return
                }
            }
            actions = a.machine.nextActions()
        }
    }

    private func resumeWaiters(_ key: Key) {
        guard let waiters = finishWaiters.removeValue(forKey: key) else { return }
        Task {
            guard let run = try? await store.run(namespace: key.namespace, pipeline: key.pipeline, id: key.run) else { return }
            for w in waiters { w.resume(returning: run) }
        }
    }

    private func launch(_ key: Key, _ task: String, resume: Bool = false) {
        guard !detaching, let a = active[key], let execution = a.tasks[task], let config = a.machine.task(task) else { return }
        runningTasks += 1
        let control = TaskControl()
        let steps: (any SchedulerClient)? = config.extension == nil ? nil : commonTasks?.steps
        let runner = TaskRunner(
            execution: execution, config: config, run: a.run, engine: self, scheduler: steps ?? scheduler, logs: logs, settings: settings,
            pipelineSecrets: a.secretReferences, injectToken: a.machine.config.injectsToken(config),
            control: control, resume: resume)
        a.runners[task] = control
        // A span per task execution, in its run's trace; the runner's extension calls nest in it.
        let span = startSpan("task \(task)", context: a.span?.context ?? .topLevel)
        span.attributes["gofer.task"] = task
        span.attributes["gofer.task.image"] = config.image
        span.attributes["gofer.task.resumed"] = resume
        a.taskSpans[task] = span
        Task { await ServiceContext.withValue(span.context) { await runner.run() } }
    }

    /// Called by a ``TaskRunner`` when its task has ended (state already stored); `removing`: the
    /// runner goes on to remove the task's job and calls ``jobRemoved()`` when it has.
    func taskEnded(_ key: Key, _ task: String, _ state: TaskState, removing: Bool = false) async {
        runningTasks -= 1
        if removing { removingJobs += 1 }
        if let a = active[key] {
            a.runners[task] = nil
            a.machine.record(task, state)
            if let span = a.taskSpans.removeValue(forKey: task) {
                span.attributes["gofer.task.state"] = state.rawValue
                if state == .failed { span.setStatus(SpanStatus(code: .error, message: "task \(task) failed")) }
                span.end()
            }
        }
        // Going down: nothing new starts (the next start picks the run up where it is).
        if detaching { return }
        while runningTasks < settings.maxConcurrentTasks, let next = slotQueue.popFirst() {
            let (k, t) = next
            if active[k]?.machine.stopping != nil {
                // The run is stopping: never start it.
                if let a = active[k], let exec = a.tasks[t] {
                    a.machine.record(t, .cancelled)
                    try? await persistTask(exec, .cancelled, reason: StateReason(.cancelled, "the run stopped before it started"))
                }
                try? await advance(k)
                continue
            }
            launch(k, t)
        }
        try? await advance(key)
    }

    // MARK: - Persistence (every transition: store first, then tell listeners)

    func persistRun(_ run: Run, _ state: RunState, reason: StateReason? = nil) async throws {
        let event = try await durably("run \(run.namespace)/\(run.pipeline)#\(run.id) → \(state.rawValue)") {
            try await store.setRunState(run, state, reason: reason)
        }
        if state.isTerminal && Failpoint.runEndCrashBeforeHooks.fires { kill(getpid(), SIGKILL) }
        bus.publish(event)
        observe(run, state, reason: reason)
        runStateStored?()
    }

    /// A run's metrics and trace follow its stored transitions.
    private func observe(_ run: Run, _ state: RunState, reason: StateReason?) {
        let key = Key(namespace: run.namespace, pipeline: run.pipeline, run: run.id)
        let labels = [("namespace", run.namespace), ("pipeline", run.pipeline)]
        if state == .running {
            runStartedAt[key] = Date()
            GoferMetrics.count(.runsStarted, labels)
            if let a = active[key], a.span == nil {
                let span = startSpan("run \(run.namespace)/\(run.pipeline)", context: .topLevel)
                span.attributes["gofer.namespace"] = run.namespace
                span.attributes["gofer.pipeline"] = run.pipeline
                span.attributes["gofer.run"] = run.id
                span.attributes["gofer.pipeline.version"] = run.pipelineVersion
                span.attributes["gofer.run.initiator"] = run.initiator.description
                a.span = span
            }
        }
        guard state.isTerminal else { return }
        GoferMetrics.count(.runsFinished, labels + [("state", state.rawValue)])
        GoferMetrics.duration(.runDuration, labels + [("state", state.rawValue)], since: runStartedAt.removeValue(forKey: key) ?? run.startedAt)
        if let span = active[key]?.span {
            span.attributes["gofer.run.state"] = state.rawValue
            if let reason { span.attributes["gofer.run.reason"] = reason.kind.rawValue }
            if state == .failed { span.setStatus(SpanStatus(code: .error, message: reason?.message)) }
            span.end()
            active[key]?.span = nil
        }
    }

    private let logger = Logger(label: "gofer.engine")

    /// Writes a transition of a run in progress, waiting out storage failures (a full disk): the
    /// transition happened and must be recorded, not dropped, and the admin freeing space must
    /// be enough for every run to catch up. Other errors are thrown.
    private func durably<T: Sendable>(_ what: String, _ write: () async throws -> T) async throws -> T {
        var delay = Duration.milliseconds(200)
        var warned = false
        while true {
            do {
                return try await write()
            } catch let error as StoreError where error.isStorageFailure {
                if !warned {
                    logger.error("cannot record \(what), retrying until it can be stored: \(ErrorText.describe(error))")
                    warned = true
                }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    func persistTask(
        _ t: TaskExecution, _ state: TaskState, reason: StateReason? = nil, exitCode: Int? = nil, handle: String? = nil,
        startedAt: Date? = nil,
        endedAt: Date? = nil, deadline: Date? = nil
    ) async throws {
        let event = try await durably("task \(t.namespace)/\(t.pipeline)#\(t.run)/\(t.task) → \(state.rawValue)") {
            try await store.setTaskState(
                t, state, reason: reason, exitCode: exitCode, handle: handle, startedAt: startedAt,
                endedAt: endedAt ?? (state.isTerminal ? Date() : nil),
                deadline: deadline)
        }
        bus.publish(event)
        let id = "\(t.namespace)/\(t.pipeline)#\(t.run)/\(t.task)"
        if state == .running { taskStartedAt[id] = startedAt ?? Date() }
        if state.isTerminal {
            let labels = [("namespace", t.namespace), ("pipeline", t.pipeline), ("state", state.rawValue)]
            GoferMetrics.count(.tasksFinished, labels + [("reason", reason?.kind.rawValue ?? "none")])
            GoferMetrics.duration(.taskDuration, labels, since: taskStartedAt.removeValue(forKey: id) ?? t.startedAt)
        }
    }
}
