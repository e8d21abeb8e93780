import ExtensionSDK
import Foundation
import GRDB

/// A run just stored, with what the engine needs to start it.
public struct CreatedRun: Sendable {
    public var run: Run
    public var tasks: [TaskExecution]
    public var config: PipelineConfig
    public var event: Event
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
    enum CodingKeys: String, CodingKey {
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

extension Store {
    // MARK: - Subscriptions

    static func subscription(_ row: Row) -> TriggerSubscription {
        TriggerSubscription(
            id: row["id"], namespace: row["namespace"], pipeline: row["pipeline"], label: row["label"], trigger: row["trigger"],
            settings: jsonValue(row, "settings"),
            state: TriggerSubscription.State(rawValue: row["state"]) ?? .failed, detail: row["detail"], cursor: row["cursor"],
            createdAt: row["created_at"], updatedAt: row["updated_at"])
    }

    public func subscriptions(namespace: String, pipeline: String) async throws -> [TriggerSubscription] {
        try await pool.read { db in
            _ = try Self.requirePipeline(db, namespace, pipeline)
            return try Row.fetchAll(
                db, sql: "SELECT * FROM subscriptions WHERE namespace = ? AND pipeline = ? ORDER BY label",
                arguments: [namespace, pipeline]
            ).map(Self.subscription)
        }
    }

    /// Every subscription to `trigger` of an enabled pipeline: what a (re)started trigger must serve.
    public func subscriptions(trigger: String) async throws -> [TriggerSubscription] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT s.* FROM subscriptions s JOIN pipelines p ON p.namespace = s.namespace AND p.id = s.pipeline
                    WHERE s.trigger = ? AND p.state != 'disabled' ORDER BY s.namespace, s.pipeline, s.label
                    """, arguments: [trigger]
            ).map(Self.subscription)
        }
    }

    /// Every subscription (any trigger).
    public func allSubscriptions() async throws -> [TriggerSubscription] {
        try await pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM subscriptions ORDER BY id").map(Self.subscription) }
    }

    /// Replaces the pipeline's subscriptions with `subscriptions` (kept ones keep their cursor).
    func replaceSubscriptions(namespace: String, pipeline: String, with subscriptions: [TriggerSubscription]) async throws {
        try await write { db in
            let keep = subscriptions.map(\.id)
            let existing = try String.fetchAll(
                db, sql: "SELECT id FROM subscriptions WHERE namespace = ? AND pipeline = ?", arguments: [namespace, pipeline])
            for id in existing where !keep.contains(id) {
                try db.execute(sql: "DELETE FROM subscriptions WHERE id = ?", arguments: [id])
            }
            for s in subscriptions {
                try db.execute(
                    sql: """
                        INSERT INTO subscriptions (id, namespace, pipeline, label, trigger, settings, state, detail, cursor, created_at, updated_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT(id) DO UPDATE SET state = excluded.state, detail = excluded.detail, updated_at = excluded.updated_at
                        """,
                    arguments: [
                        s.id, s.namespace, s.pipeline, s.label, s.trigger, s.settings.description, s.state.rawValue, s.detail, s.cursor,
                        s.createdAt, s.updatedAt,
                    ])
            }
        }
    }

    func setSubscriptionState(_ id: String, _ state: TriggerSubscription.State, detail: String) async throws {
        try await write { db in
            try db.execute(
                sql: "UPDATE subscriptions SET state = ?, detail = ?, updated_at = ? WHERE id = ?",
                arguments: [state.rawValue, detail, Date(), id])
        }
    }

    // MARK: - Trigger events

    /// Stores a trigger's event and the run it starts, in one transaction, before the trigger is
    /// answered: a crash on either side can then neither lose it nor start it twice (a repeat of
    /// the same `(subscription, eventID)` is recognised as a duplicate).
    /// A subscription that is gone, or belongs to another trigger, is `notFound`.
    public func deliver(
        subscription id: String, of trigger: String, eventID: String, occurredAt: String?, variables: [String: String], cursor: String?
    ) async throws -> EventDelivery {
        try await write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM subscriptions WHERE id = ? AND trigger = ?", arguments: [id, trigger])
            else {
                throw StoreError.notFound(what: "subscription", id: id)
            }
            let sub = Self.subscription(row)
            if try Row.fetchOne(
                db, sql: "SELECT 1 FROM trigger_events WHERE subscription = ? AND event_id = ?", arguments: [id, eventID]) != nil
            {
                return .duplicate
            }
            let pipeline = try Self.requirePipeline(db, sub.namespace, sub.pipeline)
            var delivery: EventDelivery
            var runID: Int?
            if pipeline.state == .disabled {
                delivery = .recorded(outcome: "not run: the pipeline is disabled")
            } else {
                var all = variables
                all["GOFER_TRIGGER"] = sub.trigger
                all["GOFER_TRIGGER_LABEL"] = sub.label
                all["GOFER_TRIGGER_EVENT"] = eventID
                let created = try Self.insertRun(
                    db, namespace: sub.namespace, pipeline: sub.pipeline, initiator: .trigger(sub.trigger, label: sub.label), variables: all,
                    routing: .route)
                runID = created.run.id
                delivery = .started(created)
            }
            let outcome: String
            switch delivery {
            case .started(let c): outcome = "started run \(c.run.id)"
            case .recorded(let o): outcome = o
            case .duplicate: outcome = ""
            }
            try db.execute(
                sql: """
                    INSERT INTO trigger_events (subscription, event_id, trigger, namespace, pipeline, label, run, outcome, variables,
                        occurred_at, received_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    id, eventID, sub.trigger, sub.namespace, sub.pipeline, sub.label, runID, outcome,
                    try JSONCodec.encode(variables).description, occurredAt, Date(),
                ])
            if let cursor { try db.execute(sql: "UPDATE subscriptions SET cursor = ? WHERE id = ?", arguments: [cursor, id]) }
            var details = ["trigger": sub.trigger, "label": sub.label, "event_id": eventID, "outcome": outcome]
            if let runID { details["run"] = String(runID) }
            let fired = try Self.appendEvent(
                db, .triggerFired, namespace: sub.namespace, pipeline: sub.pipeline, run: runID, details: details)
            if case .started(var c) = delivery {
                c.event = fired
                delivery = .started(c)
            }
            return delivery
        }
    }

    public func triggerEvents(namespace: String, pipeline: String, limit: Int = 100) async throws -> [TriggerEvent] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT * FROM trigger_events WHERE namespace = ? AND pipeline = ? ORDER BY received_at DESC, event_id DESC LIMIT ?",
                arguments: [namespace, pipeline, limit]
            ).map { row in
                TriggerEvent(
                    subscription: row["subscription"], eventID: row["event_id"], trigger: row["trigger"], namespace: row["namespace"],
                    pipeline: row["pipeline"], label: row["label"], run: row["run"], outcome: row["outcome"],
                    variables: Self.json(row, "variables", [String: String]()),
                    occurredAt: row["occurred_at"], receivedAt: row["received_at"])
            }
        }
    }

    // MARK: - Pipeline errors

    public func pipelineErrors(namespace: String, pipeline: String) async throws -> [PipelineError] {
        try await pool.read { db in
            _ = try Self.requirePipeline(db, namespace, pipeline)
            return try Row.fetchAll(
                db, sql: "SELECT * FROM pipeline_errors WHERE namespace = ? AND pipeline = ? ORDER BY source",
                arguments: [namespace, pipeline]
            ).map {
                PipelineError(
                    namespace: $0["namespace"], pipeline: $0["pipeline"], source: $0["source"], kind: $0["kind"], message: $0["message"],
                    at: $0["at"])
            }
        }
    }

    func setPipelineError(namespace: String, pipeline: String, source: String, kind: String, message: String) async throws {
        try await write { db in
            guard
                try Row.fetchOne(db, sql: "SELECT 1 FROM pipelines WHERE namespace = ? AND id = ?", arguments: [namespace, pipeline]) != nil
            else { return }
            try db.execute(
                sql: """
                    INSERT INTO pipeline_errors (namespace, pipeline, source, kind, message, at) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT(namespace, pipeline, source) DO UPDATE SET kind = excluded.kind, message = excluded.message, at = excluded.at
                    """, arguments: [namespace, pipeline, source, kind, message, Date()])
        }
    }

    /// Clears one kind of problem (by its source) from every pipeline.
    func clearPipelineErrors(source: String) async throws {
        try await write { db in try db.execute(sql: "DELETE FROM pipeline_errors WHERE source = ?", arguments: [source]) }
    }

    /// Clears problems of the pipeline whose source starts with `prefix` (all with "").
    func clearPipelineErrors(namespace: String, pipeline: String, sourcePrefix prefix: String) async throws {
        try await write { db in
            try db.execute(
                sql: "DELETE FROM pipeline_errors WHERE namespace = ? AND pipeline = ? AND substr(source, 1, ?) = ?",
                arguments: [namespace, pipeline, prefix.count, prefix])
        }
    }

    // MARK: - Pipeline state and versions

    func setPipelineState(namespace: String, pipeline: String, _ state: Pipeline.State) async throws {
        try await write { db in
            _ = try Self.requirePipeline(db, namespace, pipeline)
            try db.execute(
                sql: "UPDATE pipelines SET state = ?, updated_at = ? WHERE namespace = ? AND id = ?",
                arguments: [state.rawValue, Date(), namespace, pipeline])
            _ = try Self.appendEvent(
                db, .pipelineStateChanged, namespace: namespace, pipeline: pipeline, details: ["state": state.rawValue])
        }
    }

}
