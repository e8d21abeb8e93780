import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel

extension SQLStore {
    /// The pipeline-error source of a canary that was rolled back (cleared by the next apply).
    package static let rolloutErrorSource = "rollout"

    package static func rollout(_ db: Database, _ row: Row) throws -> Rollout {
        let namespace: String = row["namespace"]
        let pipeline: String = row["pipeline"]
        let id: Int = row["id"]
        let strategy = try JSONDecoder().decode(RolloutStrategy.self, from: Data((row["strategy"] as String).utf8))
        return Rollout(
            namespace: namespace, pipeline: pipeline, id: id, version: row["version"], baseVersion: row["base_version"],
            strategy: strategy, state: RolloutState(rawValue: row["state"]) ?? .aborted, reason: row["reason"],
            startedBy: Principal.stored(row["started_by"]), startedAt: row["started_at"], endedAt: row["ended_at"],
            stats: try rolloutStats(db, namespace, pipeline, id: id, canary: row["version"]))
    }

    /// How the rollout's runs did, counted from the runs themselves (so nothing can drift).
    package static func rolloutStats(_ db: Database, _ namespace: String, _ pipeline: String, id: Int, canary: Int) throws -> RolloutStats {
        var stats = RolloutStats()
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT version_reason, state, COUNT(*) AS n FROM runs WHERE namespace = ? AND pipeline = ? AND rollout = ?
                GROUP BY version_reason, state
                """, arguments: [namespace, pipeline, id])
        for row in rows {
            let n: Int = row["n"]
            guard (row["version_reason"] as String) == VersionReason.canary.rawValue else {
                stats.liveRuns += n
                continue
            }
            stats.canaryRuns += n
            switch RunState(rawValue: row["state"]) {
            case .succeeded: stats.succeeded += n
            case .failed: stats.failed += n
            case .cancelled: stats.cancelled += n
            default: break
            }
        }
        return stats
    }

    package static func activeRollout(_ db: Database, _ namespace: String, _ pipeline: String) throws -> Rollout? {
        try Row.fetchOne(
            db, sql: "SELECT * FROM rollouts WHERE namespace = ? AND pipeline = ? AND state = 'active'", arguments: [namespace, pipeline]
        ).map { try rollout(db, $0) }
    }

    package static func insertRollout(
        _ db: Database, _ namespace: String, _ pipeline: String, version: Int, base: Int, _ strategy: RolloutStrategy, by: Principal,
        at now: Date
    ) throws -> Rollout {
        let id =
            (try Int.fetchOne(
                db, sql: "SELECT MAX(id) FROM rollouts WHERE namespace = ? AND pipeline = ?", arguments: [namespace, pipeline]) ?? 0) + 1
        try db.execute(
            sql: """
                INSERT INTO rollouts (namespace, pipeline, id, version, base_version, strategy, state, started_by, started_at)
                VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?)
                """,
            arguments: [
                namespace, pipeline, id, version, base, String(decoding: try JSONEncoder().encode(strategy), as: UTF8.self), by.storedText,
                now,
            ])
        var details = by.eventDetails
        details["rollout"] = String(id)
        details["version"] = String(version)
        details["base_version"] = String(base)
        details["share"] = strategy.share.description
        details["window"] = strategy.window.description
        details["max_failure_percent"] = String(strategy.maxFailurePercent)
        _ = try appendEvent(db, .rolloutStarted, namespace: namespace, pipeline: pipeline, details: details)
        return Rollout(
            namespace: namespace, pipeline: pipeline, id: id, version: version, baseVersion: base, strategy: strategy, state: .active,
            startedBy: by, startedAt: now, stats: RolloutStats())
    }

    public func activeRollout(namespace: String, pipeline: String) async throws -> Rollout? {
        try await read { db in
            _ = try Self.requirePipeline(db, namespace, pipeline)
            return try Self.activeRollout(db, namespace, pipeline)
        }
    }

    public func activeRollouts() async throws -> [Rollout] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM rollouts WHERE state = 'active'").map { try Self.rollout(db, $0) }
        }
    }

    public func rollouts(namespace: String, pipeline: String, limit: Int) async throws -> [Rollout] {
        try await read { db in
            _ = try Self.requirePipeline(db, namespace, pipeline)
            return try Row.fetchAll(
                db, sql: "SELECT * FROM rollouts WHERE namespace = ? AND pipeline = ? ORDER BY id DESC LIMIT ?",
                arguments: [namespace, pipeline, limit]
            ).map { try Self.rollout(db, $0) }
        }
    }

    package func finishRollout(namespace: String, pipeline: String, id: Int, as state: RolloutState, reason: String, by: Principal) async throws
        -> Rollout?
    {
        try await write { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT * FROM rollouts WHERE namespace = ? AND pipeline = ? AND id = ? AND state = 'active'",
                    arguments: [namespace, pipeline, id])
            else { return nil }
            var r = try Self.rollout(db, row)
            let now = Date()
            try db.execute(
                sql: "UPDATE rollouts SET state = ?, reason = ?, ended_at = ? WHERE namespace = ? AND pipeline = ? AND id = ?",
                arguments: [state.rawValue, reason, now, namespace, pipeline, id])
            r.state = state
            r.reason = reason
            r.endedAt = now
            let kind: EventKind
            switch state {
            case .promoted:
                kind = .rolloutPromoted
                let p = try Self.requirePipeline(db, namespace, pipeline)
                let canary = try Self.requireVersion(db, p, r.version)
                try db.execute(
                    sql: "UPDATE pipelines SET live_version = ?, name = ?, description = ?, updated_at = ? WHERE namespace = ? AND id = ?",
                    arguments: [r.version, canary.config.name, canary.config.description, now, namespace, pipeline])
                try db.execute(
                    sql: "UPDATE pipeline_versions SET went_live_at = ? WHERE namespace = ? AND pipeline = ? AND version = ?",
                    arguments: [now, namespace, pipeline, r.version])
            case .rolledBack:
                kind = .rolloutRolledBack
                try db.execute(
                    sql: """
                        INSERT INTO pipeline_errors (namespace, pipeline, source, kind, message, at) VALUES (?, ?, ?, 'canary_rolled_back', ?, ?)
                        ON CONFLICT(namespace, pipeline, source) DO UPDATE SET kind = excluded.kind, message = excluded.message, at = excluded.at
                        """,
                    arguments: [
                        namespace, pipeline, Self.rolloutErrorSource,
                        "the canary of version \(r.version) was rolled back: \(reason); version \(r.baseVersion) stays live", now,
                    ])
            case .aborted: kind = .rolloutAborted
            case .active: throw StoreError.conflict("a rollout cannot be finished as active")
            }
            var details = by.eventDetails
            details["rollout"] = String(id)
            details["version"] = String(r.version)
            details["base_version"] = String(r.baseVersion)
            details["reason"] = reason
            _ = try Self.appendEvent(db, kind, namespace: namespace, pipeline: pipeline, details: details)
            return r
        }
    }
}
