import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel

/// The hook outbox: deliveries of run hooks to common-task extensions, retried until delivered.
package protocol HookRepository: Sendable {
    /// Deliveries due now, oldest first — never a run's `run_finished` while its `run_started`
    /// for the same hook is still pending, so a receiver sees them in order.
    func dueHookDeliveries(limit: Int) async throws -> [HookDelivery]

    /// A run's hook deliveries (for the API and tests).
    func hookDeliveries(namespace: String, pipeline: String, run: Int) async throws -> [HookDelivery]

    /// Records how a delivery attempt went, with its event and (on failure) the pipeline error
    /// `hook:LABEL`; a success clears that error.
    func recordHookAttempt(_ d: HookDelivery, error: String?, summary: String?, retryAt: Date?) async throws

    /// What a hook is told about its run: the run, its tasks and (when it ended) the pipeline's
    /// earlier finished runs.
    func hookContext(_ d: HookDelivery, historyLimit: Int) async throws -> (Run, [TaskExecution], [Run], PipelineConfig)
}

/// The defaults callers leave out.
extension HookRepository {
    package func dueHookDeliveries(limit: Int = 32) async throws -> [HookDelivery] {
        try await dueHookDeliveries(limit: limit)
    }

    package func hookContext(_ d: HookDelivery, historyLimit: Int = 100) async throws -> (Run, [TaskExecution], [Run], PipelineConfig) {
        try await hookContext(d, historyLimit: historyLimit)
    }
}
