import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel

/// Canary rollouts and the runs they judge.
package protocol RolloutRepository: Sendable {
    /// The pipeline's active rollout, if any.
    func activeRollout(namespace: String, pipeline: String) async throws -> Rollout?

    /// Every active rollout (for the rollout clock and after a restart).
    func activeRollouts() async throws -> [Rollout]

    /// The pipeline's rollouts, newest first.
    func rollouts(namespace: String, pipeline: String, limit: Int) async throws -> [Rollout]

    /// Ends rollout `id` (only if it is still active, so two deciders cannot both act) in one
    /// transaction with its event: promoted makes the canary live; rolled back also records a
    /// pipeline error saying why; aborted and rolled back leave the live version as it was.
    /// Returns nil when the rollout had already ended.
    func finishRollout(namespace: String, pipeline: String, id: Int, as state: RolloutState, reason: String, by: Principal) async throws -> Rollout?
}

/// The defaults callers leave out.
extension RolloutRepository {
    package func rollouts(namespace: String, pipeline: String, limit: Int = 20) async throws -> [Rollout] {
        try await rollouts(namespace: namespace, pipeline: pipeline, limit: limit)
    }
}
