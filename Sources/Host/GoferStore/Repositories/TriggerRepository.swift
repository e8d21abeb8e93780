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

/// A pipeline's subscription to a trigger: one per `triggers:` entry of its current version.
public struct TriggerSubscription: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        /// The trigger confirmed it is watching.
        case active
        /// Subscribing failed (see `detail`); retried when the trigger (re)starts.
        case failed
        /// The pipeline is disabled: unsubscribed until it is enabled again.
        case disabled
    }

    /// Unique; the trigger sees only this. New for every new or changed entry, so event ids of an
    /// old subscription never collide with a new one's.
    public var id: String
    public var namespace: String
    public var pipeline: String
    public var label: String
    public var trigger: String
    public var settings: JSONValue
    public var state: State
    public var detail: String
    /// The cursor of the last stored event, given back to the trigger on re-subscribe.
    public var cursor: String?
    public var createdAt: Date
    public var updatedAt: Date

    package init(id: String, namespace: String, pipeline: String, label: String, trigger: String, settings: JSONValue, state: State, detail: String, cursor: String?, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.namespace = namespace
        self.pipeline = pipeline
        self.label = label
        self.trigger = trigger
        self.settings = settings
        self.state = state
        self.detail = detail
        self.cursor = cursor
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// An event a trigger delivered, as stored before it was acknowledged.
public struct TriggerEvent: Codable, Sendable, Equatable {
    public var subscription: String
    public var eventID: String
    public var trigger: String
    public var namespace: String
    public var pipeline: String
    public var label: String
    /// The run it started; nil when it started none (`outcome` says why).
    public var run: Int?
    public var outcome: String
    public var variables: [String: String]
    public var occurredAt: String?
    public var receivedAt: Date

    // "eventId" so that the API's snake_case (`event_id`) round-trips.
    package enum CodingKeys: String, CodingKey {
        case subscription, trigger, namespace, pipeline, label, run, outcome, variables, occurredAt, receivedAt
        case eventID = "eventId"
    }
}

/// A current problem of a pipeline (a trigger missing or failing, a subscription refused).
/// One per source; cleared when the source recovers.
public struct PipelineError: Codable, Sendable, Equatable {
    public var namespace: String
    public var pipeline: String
    /// What the problem is about, e.g. `trigger:nightly`.
    public var source: String
    /// `trigger_not_installed`, `trigger_unreachable`, `subscription_failed`, `extension_uninstalled`.
    public var kind: String
    public var message: String
    public var at: Date
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
