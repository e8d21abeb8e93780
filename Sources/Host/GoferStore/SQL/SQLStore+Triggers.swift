import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel

extension SQLStore {
    // MARK: - Subscriptions

    package static func subscription(_ row: Row) -> TriggerSubscription {
        TriggerSubscription(
            id: row["id"], namespace: row["namespace"], pipeline: row["pipeline"], label: row["label"], trigger: row["trigger"],
            settings: jsonValue(row, "settings"),
            state: TriggerSubscription.State(rawValue: row["state"]) ?? .failed, detail: row["detail"], cursor: row["cursor"],
            createdAt: row["created_at"], updatedAt: row["updated_at"])
    }

    public func subscriptions(namespace: String, pipeline: String) async throws -> [TriggerSubscription] {
        try await read { db in
            _ = try Self.requirePipeline(db, namespace, pipeline)
            return try Row.fetchAll(
                db, sql: "SELECT * FROM subscriptions WHERE namespace = ? AND pipeline = ? ORDER BY label",
                arguments: [namespace, pipeline]
            ).map(Self.subscription)
        }
    }

    public func subscriptions(trigger: String) async throws -> [TriggerSubscription] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT s.* FROM subscriptions s JOIN pipelines p ON p.namespace = s.namespace AND p.id = s.pipeline
                    WHERE s.trigger = ? AND p.state != 'disabled' ORDER BY s.namespace, s.pipeline, s.label
                    """, arguments: [trigger]
            ).map(Self.subscription)
        }
    }

    public func allSubscriptions() async throws -> [TriggerSubscription] {
        try await read { db in try Row.fetchAll(db, sql: "SELECT * FROM subscriptions ORDER BY id").map(Self.subscription) }
    }

    package func replaceSubscriptions(namespace: String, pipeline: String, with subscriptions: [TriggerSubscription]) async throws {
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

    package func setSubscriptionState(_ id: String, _ state: TriggerSubscription.State, detail: String) async throws {
        try await write { db in
            try db.execute(
                sql: "UPDATE subscriptions SET state = ?, detail = ?, updated_at = ? WHERE id = ?",
                arguments: [state.rawValue, detail, Date(), id])
        }
    }

    // MARK: - Trigger events

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

    public func triggerEvents(namespace: String, pipeline: String, limit: Int) async throws -> [TriggerEvent] {
        try await read { db in
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
        try await read { db in
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

    package func setPipelineError(namespace: String, pipeline: String, source: String, kind: String, message: String) async throws {
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

    package func clearPipelineErrors(source: String) async throws {
        try await write { db in try db.execute(sql: "DELETE FROM pipeline_errors WHERE source = ?", arguments: [source]) }
    }

    package func clearPipelineErrors(namespace: String, pipeline: String, sourcePrefix prefix: String) async throws {
        try await write { db in
            try db.execute(
                sql: "DELETE FROM pipeline_errors WHERE namespace = ? AND pipeline = ? AND substr(source, 1, CAST(? AS INTEGER)) = ?",
                arguments: [namespace, pipeline, prefix.count, prefix])
        }
    }

    // MARK: - Pipeline state and versions

    package func setPipelineState(namespace: String, pipeline: String, _ state: Pipeline.State) async throws {
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
