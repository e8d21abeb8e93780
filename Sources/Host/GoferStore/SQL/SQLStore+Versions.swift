import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import Logging

/// How a new run picks its version.
package enum RunRouting: Sendable {
    /// The live version, or the canary for its share of runs while a rollout is active.
    case route
    /// Exactly this version (`gofer run start P --version N`).
    case pinned(Int)
    /// An earlier run's version, as its rerun (of only its failed tasks with `failedOnly`).
    case rerun(of: Run, failedOnly: Bool)
}

extension SQLStore {
    // MARK: - Apply

    public func apply(
        namespace: String, config: PipelineConfig, source: AppliedSource?, kind: ApplyKind, by: Principal) async throws -> ApplyResult {
        let canonical = try config.canonicalJSON()
        return try await write { db in
            guard try Row.fetchOne(db, sql: "SELECT 1 FROM namespaces WHERE id = ?", arguments: [namespace]) != nil else {
                throw StoreError.notFound(what: "namespace", id: namespace)
            }
            let now = Date()
            let existing = try Row.fetchOne(
                db, sql: "SELECT * FROM pipelines WHERE namespace = ? AND id = ?", arguments: [namespace, config.id]
            ).map(Self.pipeline)
            var previous: PipelineConfig?
            var version = 1
            if let existing {
                if let active = try Self.activeRollout(db, namespace, config.id) {
                    throw StoreError.conflict(
                        "pipeline \(namespace)/\(config.id) has a canary rollout of version \(active.version) in progress; promote or abort it first (gofer pipeline promote / abort \(config.id))"
                    )
                }
                let liveText = try String.fetchOne(
                    db, sql: "SELECT config FROM pipeline_versions WHERE namespace = ? AND pipeline = ? AND version = ?",
                    arguments: [namespace, config.id, existing.liveVersion])
                previous = try liveText.map(PipelineConfig.fromCanonical)
                // Compared as re-encoded, so a version stored before a field existed still equals
                // the same config applied today.
                if try previous?.canonicalJSON() == canonical {
                    switch kind {
                    case .live:
                        return ApplyResult(pipeline: existing, version: existing.liveVersion, created: false, changes: [])
                    case .canary:
                        throw StoreError.conflict(
                            "the config is the same as the live version \(existing.liveVersion); there is nothing to roll out")
                    case .rollback(let from):
                        throw StoreError.conflict(
                            "version \(from) has the same config as the live version \(existing.liveVersion); there is nothing to roll back")
                    }
                }
                version = existing.latestVersion + 1
            } else if case .canary = kind {
                throw StoreError.conflict(
                    "pipeline \(namespace)/\(config.id) does not exist yet, so there is no live version for a canary to run beside; apply it without a rollout first"
                )
            }
            if case .canary = kind, let previous, previous.triggers != config.triggers {
                throw StoreError.conflict(
                    "a canary cannot change the pipeline's triggers (they fire for both versions); apply the trigger change on its own, without a rollout, first"
                )
            }
            let goesLive: Bool
            if case .canary = kind { goesLive = false } else { goesLive = true }
            if existing != nil {
                if goesLive {
                    try db.execute(
                        sql: """
                            UPDATE pipelines SET name = ?, description = ?, latest_version = ?, live_version = ?, updated_at = ?
                            WHERE namespace = ? AND id = ?
                            """,
                        arguments: [config.name, config.description, version, version, now, namespace, config.id])
                } else {
                    try db.execute(
                        sql: "UPDATE pipelines SET latest_version = ?, updated_at = ? WHERE namespace = ? AND id = ?",
                        arguments: [version, now, namespace, config.id])
                }
            } else {
                try db.execute(
                    sql: """
                        INSERT INTO pipelines (namespace, id, name, description, state, latest_version, live_version, created_at, updated_at)
                        VALUES (?, ?, ?, ?, 'active', 1, 1, ?, ?)
                        """, arguments: [namespace, config.id, config.name, config.description, now, now])
            }
            var origin = VersionOrigin.apply
            var copiedFrom: Int?
            if case .rollback(let from) = kind {
                origin = .rollback
                copiedFrom = from
            }
            try db.execute(
                sql: """
                    INSERT INTO pipeline_versions (namespace, pipeline, version, config, created_at, source, format, created_by, origin,
                        copied_from, went_live_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    namespace, config.id, version, canonical, now, source?.text, source?.format, by.storedText, origin.rawValue, copiedFrom,
                    goesLive ? now : nil,
                ])
            // A new version has only references: a removed plain password is no longer a problem;
            // and whoever applies has seen why the last canary was rolled back.
            try db.execute(
                sql: "DELETE FROM pipeline_errors WHERE namespace = ? AND pipeline = ? AND source IN (?, ?)",
                arguments: [namespace, config.id, Self.registryPasswordErrorSource, Self.rolloutErrorSource])
            var details = by.eventDetails
            details["version"] = String(version)
            if let copiedFrom { details["rolled_back_to"] = String(copiedFrom) }
            _ = try Self.appendEvent(db, origin == .rollback ? .pipelineRolledBack : .pipelineApplied, namespace: namespace, pipeline: config.id, details: details)
            var rollout: Rollout?
            if case .canary(let strategy) = kind, let existing {
                rollout = try Self.insertRollout(db, namespace, config.id, version: version, base: existing.liveVersion, strategy, by: by, at: now)
            }
            let pipeline = try Self.requirePipeline(db, namespace, config.id)
            var result = ApplyResult(
                pipeline: pipeline, version: version, created: true, changes: ConfigDiff.changes(from: previous, to: config))
            result.rollout = rollout
            return result
        }
    }

    package func revertApply(namespace: String, pipeline: String, version: Int, previousLive: Int?) async throws {
        try await write { db in
            guard let previousLive else {
                try db.execute(sql: "DELETE FROM pipelines WHERE namespace = ? AND id = ?", arguments: [namespace, pipeline])
                return
            }
            try db.execute(
                sql: "DELETE FROM pipeline_versions WHERE namespace = ? AND pipeline = ? AND version = ?",
                arguments: [namespace, pipeline, version])
            try db.execute(
                sql: """
                    UPDATE pipelines SET latest_version = ?, live_version = ?, state = 'active', updated_at = ?
                    WHERE namespace = ? AND id = ?
                    """,
                arguments: [version - 1, previousLive, Date(), namespace, pipeline])
        }
    }

    // MARK: - Versions

    package static func version(_ row: Row, namespace: String, pipeline: String) throws -> PipelineVersion {
        PipelineVersion(
            namespace: namespace, pipeline: pipeline, version: row["version"], config: try PipelineConfig.fromCanonical(row["config"]),
            source: row["source"], format: row["format"], origin: VersionOrigin(rawValue: row["origin"] ?? "") ?? .apply,
            copiedFrom: row["copied_from"], createdBy: (row["created_by"] as String?).map(Principal.stored),
            createdAt: row["created_at"], wentLiveAt: row["went_live_at"])
    }

    /// A version, or a not-found error saying whether it never existed or was pruned.
    package static func requireVersion(_ db: Database, _ p: Pipeline, _ v: Int) throws -> PipelineVersion {
        if let row = try Row.fetchOne(
            db, sql: "SELECT * FROM pipeline_versions WHERE namespace = ? AND pipeline = ? AND version = ?",
            arguments: [p.namespace, p.id, v])
        {
            return try version(row, namespace: p.namespace, pipeline: p.id)
        }
        let id = "\(p.namespace)/\(p.id)@\(v)"
        if v >= 1 && v <= p.latestVersion {
            let oldest = try Int.fetchOne(
                db, sql: "SELECT MIN(version) FROM pipeline_versions WHERE namespace = ? AND pipeline = ?", arguments: [p.namespace, p.id])
            throw StoreError.gone(
                what: "pipeline version", id: id, why: "it was pruned by the version retention limit; the oldest kept is \(oldest ?? 0)")
        }
        throw StoreError.gone(what: "pipeline version", id: id, why: "versions go up to \(p.latestVersion)")
    }

    public func pipelineVersion(namespace: String, pipeline: String, version: Int?) async throws -> PipelineVersion {
        try await read { db in
            let p = try Self.requirePipeline(db, namespace, pipeline)
            return try Self.requireVersion(db, p, version ?? p.liveVersion)
        }
    }

    public func pipelineVersions(namespace: String, pipeline: String, before: Int?, limit: Int) async throws -> Page<
        PipelineVersionSummary
    > {
        try await read { db in
            let p = try Self.requirePipeline(db, namespace, pipeline)
            let canary = try Self.activeRollout(db, namespace, pipeline)?.version
            // One more than the page, to diff the page's oldest against the version before it.
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT * FROM pipeline_versions WHERE namespace = ? AND pipeline = ? AND version < ? ORDER BY version DESC LIMIT ?",
                arguments: [namespace, pipeline, before ?? Int.max, limit + 1])
            let versions = try rows.map { try Self.version($0, namespace: namespace, pipeline: pipeline) }
            // How each version's last rollout ended: a canary that never went live is not "previous".
            var rolloutEnd: [Int: RolloutState] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT version, state FROM rollouts WHERE namespace = ? AND pipeline = ? ORDER BY id", arguments: [namespace, pipeline])
            {
                if let state = RolloutState(rawValue: row["state"]) { rolloutEnd[row["version"]] = state }
            }
            var items: [PipelineVersionSummary] = []
            for (i, v) in versions.prefix(limit).enumerated() {
                let older = i + 1 < versions.count ? versions[i + 1].config : nil
                let status: VersionStatus =
                    if v.version == p.liveVersion { .live } else if v.version == canary { .canary } else if v.wentLiveAt == nil, rolloutEnd[v.version] == .rolledBack {
                        .rolledBack
                    } else if v.wentLiveAt == nil, rolloutEnd[v.version] == .aborted { .aborted } else { .previous }
                items.append(
                    PipelineVersionSummary(
                        version: v.version, origin: v.origin, copiedFrom: v.copiedFrom, format: v.format, createdBy: v.createdBy,
                        createdAt: v.createdAt, wentLiveAt: v.wentLiveAt, status: status,
                        changes: older == nil && v.version > 1 ? [] : ConfigDiff.changes(from: older, to: v.config)))
            }
            return Page(items: items, nextCursor: versions.count > limit ? items.last.map { String($0.version) } : nil)
        }
    }

    public func previousLiveVersion(namespace: String, pipeline: String) async throws -> Int {
        try await read { db in
            let p = try Self.requirePipeline(db, namespace, pipeline)
            guard let v = try Self.previousLive(db, p) else {
                throw StoreError.conflict(
                    "pipeline \(namespace)/\(pipeline) has no earlier live version to roll back to (gofer pipeline versions \(pipeline) lists them)")
            }
            return v
        }
    }

    package static func previousLive(_ db: Database, _ p: Pipeline) throws -> Int? {
        try Int.fetchOne(
            db,
            sql: """
                SELECT version FROM pipeline_versions WHERE namespace = ? AND pipeline = ? AND version != ? AND went_live_at IS NOT NULL
                ORDER BY went_live_at DESC, version DESC LIMIT 1
                """,
            arguments: [p.namespace, p.id, p.liveVersion])
    }

    public func pruneVersionsAfterChange(namespace: String, pipeline: String, logger: Logger) async {
        do {
            try await pruneVersions(namespace: namespace, pipeline: pipeline)
        } catch {
            logger.warning("\(namespace)/\(pipeline): old versions were not pruned (the next change retries): \(ErrorText.describe(error))")
        }
    }

    @discardableResult
    public func pruneVersions(namespace: String, pipeline: String) async throws -> [Int] {
        try await write { db in
            guard let p = try? Self.requirePipeline(db, namespace, pipeline) else { return [] }
            let live = try Self.requireVersion(db, p, p.liveVersion)
            let keep = live.config.keepVersions ?? self.defaultKeepVersions
            let all = try Int.fetchAll(
                db, sql: "SELECT version FROM pipeline_versions WHERE namespace = ? AND pipeline = ? ORDER BY version DESC",
                arguments: [namespace, pipeline])
            guard all.count > keep else { return [] }
            var protected: Set<Int> = [p.liveVersion]
            if let previous = try Self.previousLive(db, p) { protected.insert(previous) }
            if let r = try Self.activeRollout(db, namespace, pipeline) { protected.formUnion([r.version, r.baseVersion]) }
            protected.formUnion(
                try Int.fetchAll(
                    db,
                    sql: """
                        SELECT DISTINCT pipeline_version FROM runs r WHERE namespace = ? AND pipeline = ? AND (state IN ('pending', 'running')
                            OR EXISTS (SELECT 1 FROM hook_deliveries h WHERE h.namespace = r.namespace AND h.pipeline = r.pipeline
                                AND h.run = r.id AND h.state = 'pending'))
                        """,
                    arguments: [namespace, pipeline]))
            let doomed = all.dropFirst(keep).filter { !protected.contains($0) }
            guard !doomed.isEmpty else { return [] }
            for v in doomed {
                try db.execute(
                    sql: "DELETE FROM pipeline_versions WHERE namespace = ? AND pipeline = ? AND version = ?",
                    arguments: [namespace, pipeline, v])
            }
            _ = try Self.appendEvent(
                db, .pipelineVersionsPruned, namespace: namespace, pipeline: pipeline,
                details: ["versions": doomed.sorted().map(String.init).joined(separator: ","), "keep": String(keep)])
            return doomed.sorted()
        }
    }

    // MARK: - Runs: routing and reruns

    /// Inserts a pending run with its task executions and event; the version follows `routing`.
    package static func insertRun(
        _ db: Database, namespace: String, pipeline: String, initiator: Principal, variables: [String: String], routing: RunRouting
    ) throws -> CreatedRun {
        let p = try Self.requirePipeline(db, namespace, pipeline)
        if p.state == .disabled { throw StoreError.conflict("pipeline \(namespace)/\(pipeline) is disabled; enable it to start runs") }
        var version = p.liveVersion
        var reason = VersionReason.live
        var rolloutID: Int?
        var rerunOf: Run?
        var failedOnly = false
        switch routing {
        case .route:
            if let r = try activeRollout(db, namespace, pipeline) {
                let routed =
                    try Int.fetchOne(
                        db, sql: "SELECT COUNT(*) FROM runs WHERE namespace = ? AND pipeline = ? AND rollout = ?",
                        arguments: [namespace, pipeline, r.id]) ?? 0
                rolloutID = r.id
                if CanaryPolicy.routesToCanary(routed, share: r.strategy.share) {
                    version = r.version
                    reason = .canary
                }
            }
        case .pinned(let v):
            version = v
            reason = .pinned
        case .rerun(let original, let only):
            version = original.pipelineVersion
            reason = .rerun
            rerunOf = original
            failedOnly = only
        }
        let config = try requireVersion(db, p, version).config
        let id =
            (try Int.fetchOne(
                db, sql: "SELECT MAX(id) FROM runs WHERE namespace = ? AND pipeline = ?", arguments: [namespace, pipeline]) ?? 0) + 1
        let now = Date()
        try db.execute(
            sql: """
                INSERT INTO runs (namespace, pipeline, id, pipeline_version, state, initiator, created_at, variables, version_reason,
                    rollout, rerun_of)
                VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                namespace, pipeline, id, version, initiator.storedText, now, try JSONCodec.encode(variables).description, reason.rawValue,
                rolloutID, rerunOf?.id,
            ])
        let carried = try rerunOf.map { failedOnly ? try carriedTasks(db, $0, config: config) : [:] } ?? [:]
        var tasks: [TaskExecution] = []
        for t in config.tasks {
            var execution = TaskExecution(
                namespace: namespace, pipeline: pipeline, run: id, task: t.id, state: .waiting, image: t.image, createdAt: now,
                logging: t.logging)
            if let old = carried[t.id] {
                execution.state = old.state
                execution.exitCode = old.exitCode
                execution.startedAt = old.startedAt
                execution.endedAt = old.endedAt
                execution.reason = old.reason
                execution.logging = old.logging
                execution.carriedFrom = old.carriedFrom ?? old.run
            }
            try db.execute(
                sql: """
                    INSERT INTO task_executions (namespace, pipeline, run, task, state, image, created_at, logging, exit_code, started_at,
                        ended_at, reason_kind, reason_message, carried_from)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    namespace, pipeline, id, t.id, execution.state.rawValue, t.image, now, execution.logging, execution.exitCode,
                    execution.startedAt, execution.endedAt, execution.reason?.kind.rawValue, execution.reason?.message,
                    execution.carriedFrom,
                ])
            tasks.append(execution)
        }
        var details = initiator.eventDetails
        details["version"] = String(version)
        details["version_reason"] = reason.rawValue
        if let rerunOf { details["rerun_of"] = String(rerunOf.id) }
        if !carried.isEmpty { details["carried_over"] = carried.keys.sorted().joined(separator: ",") }
        let event = try Self.appendEvent(db, .runQueued, namespace: namespace, pipeline: pipeline, run: id, details: details)
        let run = Run(
            namespace: namespace, pipeline: pipeline, id: id, pipelineVersion: version, state: .pending, initiator: initiator,
            variables: variables, versionReason: reason, rollout: rolloutID, rerunOf: rerunOf?.id, createdAt: now)
        return CreatedRun(run: run, tasks: tasks, config: config, event: event)
    }

    /// For a rerun of failed tasks: the tasks of `original` that keep their result, i.e. every
    /// task that is neither failed or cancelled itself nor depends (transitively) on one that is.
    package static func carriedTasks(_ db: Database, _ original: Run, config: PipelineConfig) throws -> [String: TaskExecution] {
        let old = try Row.fetchAll(
            db, sql: "SELECT \(TaskColumn.selection) FROM task_executions WHERE namespace = ? AND pipeline = ? AND run = ?",
            arguments: [original.namespace, original.pipeline, original.id]
        ).map(Self.task)
        let byTask = Dictionary(old.map { ($0.task, $0) }, uniquingKeysWith: { a, _ in a })
        var again: Set<String> = Set(old.filter { $0.state == .failed || $0.state == .cancelled }.map(\.task))
        // Tasks the run's version has that the old run did not record run again too.
        again.formUnion(config.tasks.map(\.id).filter { byTask[$0] == nil })
        for id in config.topologicalOrder {
            if let t = config.task(id), t.dependsOn.keys.contains(where: again.contains) { again.insert(id) }
        }
        return byTask.filter { !again.contains($0.key) && $0.value.state.isTerminal }
    }

    public func rerun(namespace: String, pipeline: String, run id: Int, failedOnly: Bool, by: Principal) async throws -> CreatedRun {
        try await write { db in
            let p = try Self.requirePipeline(db, namespace, pipeline)
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT \(RunColumn.selection) FROM runs WHERE namespace = ? AND pipeline = ? AND id = ?", arguments: [namespace, pipeline, id])
            else { throw StoreError.notFound(what: "run", id: "\(namespace)/\(pipeline)#\(id)") }
            let original = Self.run(row)
            guard original.state.isTerminal else {
                throw StoreError.conflict(
                    "run \(id) is still \(original.state.rawValue); wait for it to end (or cancel it) before rerunning it")
            }
            if failedOnly && original.state == .succeeded {
                throw StoreError.conflict("run \(id) succeeded, so no task failed; rerun it whole instead (without --failed)")
            }
            do {
                _ = try Self.requireVersion(db, p, original.pipelineVersion)
            } catch StoreError.gone(_, _, let why) {
                throw StoreError.conflict(
                    "run \(id) ran version \(original.pipelineVersion), which is gone: \(why); start a new run instead")
            }
            return try Self.insertRun(
                db, namespace: namespace, pipeline: pipeline, initiator: by, variables: original.variables,
                routing: .rerun(of: original, failedOnly: failedOnly))
        }
    }
}

extension SQLStore {
    public func livePipelineConfigs() async throws -> [(Pipeline, PipelineConfig)] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT p.*, v.config AS live_config FROM pipelines p
                    JOIN pipeline_versions v ON v.namespace = p.namespace AND v.pipeline = p.id AND v.version = p.live_version
                    ORDER BY p.namespace, p.id
                    """
            ).map { (Self.pipeline($0), try PipelineConfig.fromCanonical($0["live_config"])) }
        }
    }
}
