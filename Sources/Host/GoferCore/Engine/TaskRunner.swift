import ExtensionClient
import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GoferStore
import Synchronization

/// Carries one task execution through the scheduler: start, stream logs to its file, wait (within
/// the task's timeout), record how it ended, tell the engine, then remove the container. What the
/// task is given is ``TaskInputs``; its log, ``TaskLogStream``; following its job, ``JobWait``;
/// picking it up after a restart, `reattach` (TaskRunner+Recovery.swift); how the engine stops it,
/// ``TaskControl``.
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
    let control: TaskControl
    /// Re-attach to an execution a previous server process started, instead of starting it.
    var resume = false

    /// What the task is given: resolved env, masks, labels, the job.
    var inputs: TaskInputs {
        TaskInputs(
            execution: execution, config: config, run: run, engine: engine, settings: settings, pipelineSecrets: pipelineSecrets,
            injectToken: injectToken)
    }

    /// Where its output goes.
    var logStream: TaskLogStream {
        TaskLogStream(
            path: logs.path(namespace: run.namespace, pipeline: run.pipeline, run: run.id, task: execution.task), scheduler: scheduler,
            limit: settings.maxLogBytes(namespace: run.namespace))
    }

    var key: RunEngine.Key { RunEngine.Key(namespace: run.namespace, pipeline: run.pipeline, run: run.id) }

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
    func fail(_ state: TaskState, _ reason: StateReason, exitCode: Int? = nil, started: Date? = nil, ended: Date? = nil) async
        -> TaskState?
    {
        if control.isDetached { return nil }
        try? await engine.persistTask(execution, state, reason: reason, exitCode: exitCode, startedAt: started, endedAt: ended)
        return state
    }

    /// The task's final state (stored), or nil when the server detached from it.
    func execute() async -> TaskState? {
        if resume { return await reattach() }
        let timeout = config.timeoutSeconds.map { Duration.seconds($0) } ?? settings.defaultTaskTimeout
        let deadline = Date().addingTimeInterval(Double(timeout.components.seconds))
        if control.isCancelled { return await fail(.cancelled, control.reason ?? StateReason(.cancelled, "cancelled before it started")) }
        do {
            try await engine.persistTask(execution, .starting, deadline: deadline)
        } catch {
            return await fail(.failed, StateReason(.schedulerError, "cannot record the task start", cause: error))
        }
        var resolved: TaskInputs.ResolvedSecrets
        do {
            resolved = try await inputs.resolveSecrets()
        } catch {
            return await fail(.failed, StateReason(.secretError, "", cause: error))
        }
        do {
            resolved.env = try await inputs.resolveObjects(resolved.env)
        } catch {
            return await fail(.failed, StateReason(.objectError, "", cause: error))
        }
        let job = inputs.jobSpec(resolved)
        let handle: String
        do {
            if let name = config.extension {
                guard let tasks = engine.commonTasks else {
                    throw ProtocolError(.unavailable, "this server runs no common tasks")
                }
                handle = await tasks.steps.startStep(
                    id: inputs.executionID, extension: name, params: resolved.settings ?? .emptyObject, variables: job.env, labels: inputs.labels,
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
    func followPlacement(_ handle: String, deadline: Date, timeout: Duration) async -> Placement {
        var shown: String?
        var delay = Duration.milliseconds(100)
        let placementStarted = ContinuousClock.now
        while true {
            let status: JobStatus
            do {
                status = try await scheduler.inspect(handle)
            } catch {
                try? await scheduler.remove(handle)
                return .ended(await fail(.failed, JobWait.waitFailure(error)))
            }
            if status.state != .created { return .runs(status.startedAt.flatMap(JobWait.parseDate)) }
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

    /// Streams the job's log to its file and waits for it (stopping it on timeout or cancel).
    func attach(_ handle: String, timeout: Duration, freshLog: Bool, masks: [[UInt8]]) async -> TaskState? {
        let logFailure = TaskLogStream.Failure()
        let logTask: Task<Void, Never>? = config.logging ? logStream.start(handle, truncate: freshLog, failure: logFailure, masks: masks) : nil
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
                    try? await Task.sleep(for: TaskLogStream.drainBound)
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


    enum Stop { case timeout, cancelled, storage, detached }

    /// Waits for the job, stopping it on timeout or cancellation. Returns the final state (stored),
    /// or nil when the server detached from the task (the job runs on).
    private func waitOrStop(_ handle: String, timeout: Duration, logFailure: TaskLogStream.Failure) async -> TaskState? {
        let scheduler = self.scheduler
        let grace = settings.stopGrace
        // The wait runs unstructured so that cancelling this runner does not cancel the wait:
        // we stop the container instead and still collect its real exit.
        let outage = JobWait.Outage()
        let wait = Task {
            try await JobWait.waitSurvivingRestarts(scheduler, handle, timeout: timeout + grace + .seconds(120), outage: outage)
        }
        let first = FirstOf<Stop?>()
        // Cancelled as soon as the task has ended: no sleeper outlives its task (timeouts are hours).
        let timer = Task {
            try? await CancellableSleep.sleep(for: timeout)
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
            return await fail(.failed, JobWait.waitFailure(error))
        }
        let started = status.startedAt.flatMap(JobWait.parseDate)
        // Never before the start, whatever the clocks' resolution.
        let ended = max(status.finishedAt.flatMap(JobWait.parseDate) ?? Date(), started ?? .distantPast)
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

}

extension RunEngine {
    /// Why a run is stopping, for tasks cancelled as part of it.
    func stopReason(_ key: Key) -> StateReason? {
        active[key]?.machine.stopping?.reason
    }
}
