import ExtensionClient
import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GoferStore
import Synchronization

extension TaskRunner {
    /// Picks up an execution left running by a previous server process: finds its job (by the
    /// recorded handle, or by labels if the server died before recording it), then follows it to
    /// the end. Never starts a second job; if none was ever created, starting is safe because
    /// starts are idempotent per task execution.
    func reattach() async -> TaskState? {
        if config.extension != nil, (try? await scheduler.inspect(inputs.executionID)) == nil {
            // A common-task step does not outlive the server that called it: call it again with
            // the same idempotency key, so the extension does its work once.
            var fresh = self
            fresh.resume = false
            return await fresh.execute()
        }
        var handle = execution.handle
        if handle == nil, let found = try? await scheduler.list(labels: inputs.labels).first {
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
        let resolved = (try? await inputs.resolveSecrets(strict: false)) ?? TaskInputs.ResolvedSecrets(env: config.env, masks: [], registryPassword: nil, apiToken: nil)
        // The deadline was persisted at start, so a timeout holds across restarts.
        let deadline = execution.deadline ?? Date().addingTimeInterval(Double(settings.defaultTaskTimeout.components.seconds))
        var startedAt = Date()
        if status.state == .created {
            // Created but never started (the server died between the two): starting is
            // idempotent per task execution, and the scheduler starts only a never-run job.
            _ = try? await scheduler.start(inputs.jobSpec(resolved))
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
}
