import ExtensionSDK
import Foundation
import GoferConfig

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

    package init(id: String, namespace: String, pipeline: String, label: String, trigger: String, settings: JSONValue, state: State, detail: String, cursor: String? = nil, createdAt: Date, updatedAt: Date) {
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

    package init(subscription: String, eventID: String, trigger: String, namespace: String, pipeline: String, label: String, run: Int? = nil, outcome: String, variables: [String: String], occurredAt: String? = nil, receivedAt: Date) {
        self.subscription = subscription
        self.eventID = eventID
        self.trigger = trigger
        self.namespace = namespace
        self.pipeline = pipeline
        self.label = label
        self.run = run
        self.outcome = outcome
        self.variables = variables
        self.occurredAt = occurredAt
        self.receivedAt = receivedAt
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

    package init(namespace: String, pipeline: String, source: String, kind: String, message: String, at: Date) {
        self.namespace = namespace
        self.pipeline = pipeline
        self.source = source
        self.kind = kind
        self.message = message
        self.at = at
    }
}
