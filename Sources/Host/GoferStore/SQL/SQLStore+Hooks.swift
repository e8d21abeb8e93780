import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel

extension SQLStore {
    package static func hookDelivery(_ row: Row) -> HookDelivery {
        HookDelivery(
            id: row["id"], namespace: row["namespace"], pipeline: row["pipeline"], run: row["run"], label: row["label"],
            extension: row["extension"], phase: HookPhase(rawValue: row["phase"]) ?? .runFinished,
            state: HookDelivery.State(rawValue: row["state"]) ?? .failed, attempts: row["attempts"], nextAttemptAt: row["next_attempt_at"],
            lastError: row["last_error"], summary: row["summary"], createdAt: row["created_at"], deliveredAt: row["delivered_at"])
    }

    /// Records the calls the run's hooks owe for its new state (inside the state change's transaction).
    package static func enqueueHooks(_ db: Database, _ run: Run, _ state: RunState, at now: Date) throws {
        let phase: HookPhase
        switch state {
        case .running: phase = .runStarted
        case .succeeded, .failed, .cancelled: phase = .runFinished
        case .pending: return
        }
        guard
            let text = try String.fetchOne(
                db, sql: "SELECT config FROM pipeline_versions WHERE namespace = ? AND pipeline = ? AND version = ?",
                arguments: [run.namespace, run.pipeline, run.pipelineVersion]),
            !text.contains("\"hooks\":[]"), text.contains("\"hooks\":")
        else { return }
        for hook in try PipelineConfig.fromCanonical(text).hooks {
            try db.execute(
                sql: """
                    INSERT INTO hook_deliveries (namespace, pipeline, run, label, extension, phase, state, attempts,
                        next_attempt_at, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)
                    ON CONFLICT DO NOTHING
                    """,
                arguments: [run.namespace, run.pipeline, run.id, hook.label, hook.extension, phase.rawValue, now, now])
        }
    }

    public func dueHookDeliveries(limit: Int) async throws -> [HookDelivery] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM hook_deliveries h WHERE h.state = 'pending' AND h.next_attempt_at <= ?
                    AND NOT EXISTS (SELECT 1 FROM hook_deliveries e WHERE e.namespace = h.namespace AND e.pipeline = h.pipeline
                        AND e.run = h.run AND e.label = h.label AND e.id < h.id AND e.state = 'pending')
                    ORDER BY h.id LIMIT ?
                    """, arguments: [Date(), limit]
            ).map(Self.hookDelivery)
        }
    }

    public func hookDeliveries(namespace: String, pipeline: String, run: Int) async throws -> [HookDelivery] {
        try await read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM hook_deliveries WHERE namespace = ? AND pipeline = ? AND run = ? ORDER BY id",
                arguments: [namespace, pipeline, run]
            ).map(Self.hookDelivery)
        }
    }

    package func recordHookAttempt(_ d: HookDelivery, error: String?, summary: String?, retryAt: Date?) async throws {
        try await write(.outsideRuns) { db in
            let now = Date()
            let state: HookDelivery.State = error == nil ? .delivered : retryAt == nil ? .failed : .pending
            try db.execute(
                sql: """
                    UPDATE hook_deliveries SET state = ?, attempts = attempts + 1, next_attempt_at = ?, last_error = ?, summary = ?,
                        delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END
                    WHERE id = ?
                    """,
                arguments: [state.rawValue, retryAt ?? now, error, summary, state.rawValue, now, d.id])
            let source = "hook:\(d.label)"
            if let failure = error {
                let message =
                    retryAt.map {
                        "hook \(d.label) (\(d.extension)) failed for run \(d.run) (\(d.phase.rawValue)), attempt \(d.attempts + 1): \(failure); retrying at \(ISO8601DateFormatter().string(from: $0))"
                    } ?? "hook \(d.label) (\(d.extension)) gave up on run \(d.run) (\(d.phase.rawValue)) after \(d.attempts + 1) attempts: \(failure)"
                try db.execute(
                    sql: """
                        INSERT INTO pipeline_errors (namespace, pipeline, source, kind, message, at) VALUES (?, ?, ?, 'hook_failed', ?, ?)
                        ON CONFLICT(namespace, pipeline, source) DO UPDATE SET kind = excluded.kind, message = excluded.message, at = excluded.at
                        """, arguments: [d.namespace, d.pipeline, source, message, now])
            } else {
                try db.execute(
                    sql: "DELETE FROM pipeline_errors WHERE namespace = ? AND pipeline = ? AND source = ?",
                    arguments: [d.namespace, d.pipeline, source])
            }
            var details = ["hook": d.label, "extension": d.extension, "phase": d.phase.rawValue, "attempt": String(d.attempts + 1)]
            if let error { details["error"] = error }
            if let summary { details["summary"] = summary }
            _ = try Self.appendEvent(
                db, error == nil ? .hookDelivered : .hookFailed, namespace: d.namespace, pipeline: d.pipeline, run: d.run, details: details)
        }
    }

    package func hookContext(_ d: HookDelivery, historyLimit: Int) async throws -> (Run, [TaskExecution], [Run], PipelineConfig) {
        try await read { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT \(RunColumn.selection) FROM runs WHERE namespace = ? AND pipeline = ? AND id = ?",
                    arguments: [d.namespace, d.pipeline, d.run])
            else { throw StoreError.notFound(what: "run", id: "\(d.namespace)/\(d.pipeline)#\(d.run)") }
            let run = Self.run(row)
            let tasks = try Row.fetchAll(
                db, sql: "SELECT \(TaskColumn.selection) FROM task_executions WHERE namespace = ? AND pipeline = ? AND run = ? ORDER BY rowid",
                arguments: [d.namespace, d.pipeline, d.run]
            ).map(Self.task)
            let history = try Row.fetchAll(
                db,
                sql: """
                    SELECT \(RunColumn.selection) FROM runs WHERE namespace = ? AND pipeline = ? AND id < ? AND state IN ('succeeded', 'failed', 'cancelled')
                    ORDER BY id DESC LIMIT ?
                    """, arguments: [d.namespace, d.pipeline, d.run, historyLimit]
            ).map(Self.run)
            guard
                let text = try String.fetchOne(
                    db, sql: "SELECT config FROM pipeline_versions WHERE namespace = ? AND pipeline = ? AND version = ?",
                    arguments: [d.namespace, d.pipeline, run.pipelineVersion])
            else { throw StoreError.notFound(what: "pipeline version", id: "\(d.namespace)/\(d.pipeline)@\(run.pipelineVersion)") }
            return (run, tasks, history, try PipelineConfig.fromCanonical(text))
        }
    }
}
