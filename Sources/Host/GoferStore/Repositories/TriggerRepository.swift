import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel

/// Trigger subscriptions, the events triggers delivered, and the pipeline errors they report.
package protocol TriggerRepository: Sendable {
    /// A pipeline's trigger subscriptions.
    func subscriptions(namespace: String, pipeline: String) async throws -> [TriggerSubscription]

    /// Every subscription to `trigger` of an enabled pipeline: what a (re)started trigger must serve.
    func subscriptions(trigger: String) async throws -> [TriggerSubscription]

    /// Every subscription (any trigger).
    func allSubscriptions() async throws -> [TriggerSubscription]

    /// Replaces the pipeline's subscriptions with `subscriptions` (kept ones keep their cursor).
    func replaceSubscriptions(namespace: String, pipeline: String, with subscriptions: [TriggerSubscription]) async throws

    /// Records whether a subscription is active, failed (with `detail`) or disabled.
    func setSubscriptionState(_ id: String, _ state: TriggerSubscription.State, detail: String) async throws

    /// Stores a trigger's event and the run it starts, in one transaction, before the trigger is
    /// answered: a crash on either side can then neither lose it nor start it twice (a repeat of
    /// the same `(subscription, eventID)` is recognised as a duplicate).
    /// A subscription that is gone, or belongs to another trigger, is `notFound`.
    func deliver(subscription id: String, of trigger: String, eventID: String, occurredAt: String?, variables: [String: String], cursor: String?) async throws -> EventDelivery

    /// The events triggers delivered for a pipeline, newest first.
    func triggerEvents(namespace: String, pipeline: String, limit: Int) async throws -> [TriggerEvent]

    /// What is wrong with a pipeline right now, as its extensions reported it.
    func pipelineErrors(namespace: String, pipeline: String) async throws -> [PipelineError]

    /// Records (or replaces) the error `source` reports for a pipeline.
    func setPipelineError(namespace: String, pipeline: String, source: String, kind: String, message: String) async throws

    /// Clears one kind of problem (by its source) from every pipeline.
    func clearPipelineErrors(source: String) async throws

    /// Clears problems of the pipeline whose source starts with `prefix` (all with "").
    func clearPipelineErrors(namespace: String, pipeline: String, sourcePrefix prefix: String) async throws

    /// Enables or disables a pipeline, with its event.
    func setPipelineState(namespace: String, pipeline: String, _ state: Pipeline.State) async throws
}

/// The defaults callers leave out.
extension TriggerRepository {
    package func triggerEvents(namespace: String, pipeline: String, limit: Int = 100) async throws -> [TriggerEvent] {
        try await triggerEvents(namespace: namespace, pipeline: pipeline, limit: limit)
    }
}

/// What storing a trigger event did.
public enum EventDelivery: Sendable {
    /// Stored; it started this run.
    case started(CreatedRun)
    /// Stored; no run (the pipeline is disabled).
    case recorded(outcome: String)
    /// Seen before: acknowledged again, nothing started.
    case duplicate
}
