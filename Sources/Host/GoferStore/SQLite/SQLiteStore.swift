import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GRDB
import Synchronization

/// The embedded ``Store``: all state in one SQLite file (WAL). Every SQL statement of this backend
/// lives in this folder, and every state change is one transaction that also appends its event, so
/// the event log and the states never disagree.
public final class SQLiteStore: Store {
    package let pool: DatabasePool
    package let generations = WriteGenerations()
    public let defaultKeepVersions: Int

    /// Opens (and migrates) the database at `path`.
    public init(path: String, keepVersions: Int = 100) throws {
        defaultKeepVersions = keepVersions
        var config = Configuration()
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        config.busyMode = .timeout(10)
        pool = try DatabasePool(path: path, configuration: config)
        try Self.migrator.migrate(pool)
        // Migrations may have removed secrets from rows (v7): fold the WAL into the database so no
        // copy of the old pages stays behind in it.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        try pool.write { db in
            try db.execute(
                sql:
                    "INSERT OR IGNORE INTO namespaces (id, name, description, created_at) VALUES ('default', 'Default', 'The default namespace', ?)",
                arguments: [Date()])
        }
    }

    /// Runs one write transaction; `scope` says what it may change (``WriteScope``: everything
    /// unless it names less). A full disk or an I/O error rolls the whole transaction back (SQLite
    /// guarantees it) and comes out as a ``StoreError`` that says so.
    package func write<T: Sendable>(
        _ scope: WriteScope = .everything, _ updates: @Sendable @escaping (Database) throws -> T
    ) async throws -> T {
        // After the commit (or the rollback, harmlessly): what was read before is stale now.
        defer { generations.bump(scope) }
        do {
            return try await pool.write(updates)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_FULL {
            throw StoreError.storageFull(path: pool.path)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_IOERR {
            throw StoreError.storageFailed(path: pool.path, detail: error.message ?? "I/O error")
        }
    }

    /// Caps the database at `pages` pages, as a full disk would; tests use it to play disk-full.
    public func limitSizeForTesting(pages: Int) async throws {
        try await pool.write { db in _ = try Int.fetchOne(db, sql: "PRAGMA max_page_count = \(pages)") }
    }

    /// Runs SQL as it is; tests use it to put the database into states older servers left behind.
    public func executeForTesting(_ sql: String) async throws {
        defer { generations.bump(.everything) }
        try await pool.write { db in try db.execute(sql: sql) }
    }

    /// The database's size in pages.
    public func pageCount() async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0 }
    }

    package static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE namespaces (
                        id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL, created_at DATETIME NOT NULL);
                    CREATE TABLE pipelines (
                        namespace TEXT NOT NULL REFERENCES namespaces(id), id TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL,
                        state TEXT NOT NULL, latest_version INTEGER NOT NULL, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL,
                        PRIMARY KEY (namespace, id));
                    CREATE TABLE pipeline_versions (
                        namespace TEXT NOT NULL, pipeline TEXT NOT NULL, version INTEGER NOT NULL, config TEXT NOT NULL, created_at DATETIME NOT NULL,
                        PRIMARY KEY (namespace, pipeline, version),
                        FOREIGN KEY (namespace, pipeline) REFERENCES pipelines(namespace, id) ON DELETE CASCADE);
                    CREATE TABLE runs (
                        namespace TEXT NOT NULL, pipeline TEXT NOT NULL, id INTEGER NOT NULL, pipeline_version INTEGER NOT NULL,
                        state TEXT NOT NULL, reason_kind TEXT, reason_message TEXT, initiator TEXT NOT NULL,
                        created_at DATETIME NOT NULL, started_at DATETIME, ended_at DATETIME,
                        PRIMARY KEY (namespace, pipeline, id),
                        FOREIGN KEY (namespace, pipeline) REFERENCES pipelines(namespace, id) ON DELETE CASCADE);
                    CREATE INDEX runs_by_state ON runs(state);
                    CREATE TABLE task_executions (
                        namespace TEXT NOT NULL, pipeline TEXT NOT NULL, run INTEGER NOT NULL, task TEXT NOT NULL,
                        state TEXT NOT NULL, reason_kind TEXT, reason_message TEXT, exit_code INTEGER, handle TEXT, image TEXT NOT NULL,
                        created_at DATETIME NOT NULL, started_at DATETIME, ended_at DATETIME, deadline DATETIME, logging INTEGER NOT NULL,
                        PRIMARY KEY (namespace, pipeline, run, task),
                        FOREIGN KEY (namespace, pipeline, run) REFERENCES runs(namespace, pipeline, id) ON DELETE CASCADE);
                    CREATE TABLE events (
                        id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, namespace TEXT, pipeline TEXT, run INTEGER, task TEXT,
                        details TEXT NOT NULL, at DATETIME NOT NULL);
                    CREATE INDEX events_by_pipeline ON events(namespace, pipeline, id);
                    """)
        }
        m.registerMigration("v2: persisted stop requests") { db in
            try db.execute(sql: "ALTER TABLE runs ADD COLUMN stop_reason_kind TEXT")
            try db.execute(sql: "ALTER TABLE runs ADD COLUMN stop_reason_message TEXT")
        }
        m.registerMigration("v3: triggers") { db in
            try db.execute(
                sql: """
                    ALTER TABLE runs ADD COLUMN variables TEXT NOT NULL DEFAULT '{}';
                    CREATE TABLE subscriptions (
                        id TEXT PRIMARY KEY, namespace TEXT NOT NULL, pipeline TEXT NOT NULL, label TEXT NOT NULL, trigger TEXT NOT NULL,
                        settings TEXT NOT NULL, state TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '', cursor TEXT,
                        created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL,
                        FOREIGN KEY (namespace, pipeline) REFERENCES pipelines(namespace, id) ON DELETE CASCADE);
                    CREATE INDEX subscriptions_by_pipeline ON subscriptions(namespace, pipeline, label);
                    CREATE INDEX subscriptions_by_trigger ON subscriptions(trigger);
                    CREATE TABLE trigger_events (
                        subscription TEXT NOT NULL, event_id TEXT NOT NULL, trigger TEXT NOT NULL, namespace TEXT NOT NULL,
                        pipeline TEXT NOT NULL, label TEXT NOT NULL, run INTEGER, outcome TEXT NOT NULL, variables TEXT NOT NULL,
                        occurred_at TEXT, received_at DATETIME NOT NULL,
                        PRIMARY KEY (subscription, event_id));
                    CREATE INDEX trigger_events_by_pipeline ON trigger_events(namespace, pipeline, received_at);
                    CREATE TABLE pipeline_errors (
                        namespace TEXT NOT NULL, pipeline TEXT NOT NULL, source TEXT NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL,
                        at DATETIME NOT NULL,
                        PRIMARY KEY (namespace, pipeline, source),
                        FOREIGN KEY (namespace, pipeline) REFERENCES pipelines(namespace, id) ON DELETE CASCADE);
                    """)
        }
        m.registerMigration("v4: global secrets") { db in
            try db.execute(
                sql: """
                    CREATE TABLE global_secrets (
                        name TEXT PRIMARY KEY, namespaces TEXT NOT NULL, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL);
                    """)
        }
        m.registerMigration("v5: installed extensions") { db in
            try db.execute(
                sql: """
                    CREATE TABLE extensions (
                        name TEXT PRIMARY KEY, kind TEXT NOT NULL, version TEXT NOT NULL, registry TEXT NOT NULL, source TEXT NOT NULL,
                        executable TEXT NOT NULL, sha256 TEXT, config TEXT NOT NULL, installed_at DATETIME NOT NULL,
                        updated_at DATETIME NOT NULL);
                    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                    """)
        }
        registerAuthMigrations(&m)
        registerVersionMigrations(&m)
        registerHookMigrations(&m)
        registerObjectMigrations(&m)
        registerTrialMigrations(&m)
        // Which secret store was ever written to (the switch check asks): an installation from
        // before it was tracked counts its store as written, as that check used to assume.
        m.registerMigration("v12: secret store written") { db in
            try db.execute(
                sql: """
                    INSERT INTO meta (key, value) SELECT 'secret_store_written', value FROM meta
                    WHERE key = 'secret_store' AND value NOT IN ('none', 'memory-secrets')
                    """)
        }
        m.registerMigration("v13: hook summary") { db in try db.execute(sql: "ALTER TABLE hook_deliveries ADD COLUMN summary TEXT") }
        return m
    }

    // MARK: - Events

    package static func appendEvent(
        _ db: Database, _ kind: EventKind, namespace: String? = nil, pipeline: String? = nil, run: Int? = nil, task: String? = nil,
        details: [String: String] = [:]
    ) throws -> Event {
        let now = Date()
        let text = String(decoding: JSONValue.object(details.mapValues(JSONValue.string)).serialized(), as: UTF8.self)
        try db.cachedStatement(sql: "INSERT INTO events (kind, namespace, pipeline, run, task, details, at) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .execute(arguments: [kind.rawValue, namespace, pipeline, run, task, text, now])
        return Event(
            id: db.lastInsertedRowID, kind: kind, namespace: namespace, pipeline: pipeline, run: run, task: task, details: details, at: now)
    }

    /// A JSON column decoded, or `fallback` when it is empty or unreadable: stored data never
    /// crashes a read.
    package static func json<T: Decodable>(_ row: Row, _ column: String, _ fallback: T) -> T {
        guard let text: String = row[column] else { return fallback }
        return (try? JSONDecoder().decode(T.self, from: Data(text.utf8))) ?? fallback
    }

    /// A JSON object of strings (run variables, event details), `[:]` when unreadable.
    package static func stringMap(_ row: Row, _ column: String) -> [String: String] {
        stringMap(row[column] as String?)
    }

    /// A JSON column as a ``JSONValue`` (settings, configs), `{}` when unreadable.
    package static func jsonValue(_ row: Row, _ column: String) -> JSONValue {
        (try? JSONParser().parse(row[column] as String? ?? "{}")) ?? .emptyObject
    }

    package static func event(_ row: Row) -> Event {
        let details = stringMap(row, "details")
        return Event(
            id: row["id"], kind: EventKind(rawValue: row["kind"]) ?? .runStateChanged, namespace: row["namespace"],
            pipeline: row["pipeline"],
            run: row["run"], task: row["task"], details: details, at: row["at"])
    }

    public func events(namespace: String?, pipeline: String?, after cursor: Int64, limit: Int) async throws -> Page<
        Event
    > {
        try await pool.read { db in
            var sql = "SELECT * FROM events WHERE id > ?"
            var args: [(any DatabaseValueConvertible)?] = [cursor]
            if let namespace {
                sql += " AND namespace = ?"
                args.append(namespace)
            }
            if let pipeline {
                sql += " AND pipeline = ?"
                args.append(pipeline)
            }
            sql += " ORDER BY id LIMIT ?"
            args.append(limit + 1)
            let rows = try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args))
            let items = rows.prefix(limit).map(Self.event)
            return Page(items: items, nextCursor: rows.count > limit ? items.last.map { String($0.id) } : nil)
        }
    }

    public func recordEvent(
        _ kind: EventKind, namespace: String?, pipeline: String?, run: Int?, task: String?, by: Principal,
        details: [String: String]) async throws {
        _ = try await write { db in
            try Self.appendEvent(
                db, kind, namespace: namespace, pipeline: pipeline, run: run, task: task,
                details: by.eventDetails.merging(details) { a, _ in a })
        }
    }

    // MARK: - Namespaces

    package static func namespace(_ row: Row) -> Namespace {
        Namespace(id: row["id"], name: row["name"], description: row["description"], createdAt: row["created_at"])
    }

    public func createNamespace(id: String, name: String?, description: String, by: Principal) async throws -> Namespace {
        try await write { db in
            if try Row.fetchOne(db, sql: "SELECT 1 FROM namespaces WHERE id = ?", arguments: [id]) != nil {
                throw StoreError.conflict("namespace \"\(id)\" already exists")
            }
            let ns = Namespace(id: id, name: name ?? id, description: description, createdAt: Date())
            try db.execute(
                sql: "INSERT INTO namespaces (id, name, description, created_at) VALUES (?, ?, ?, ?)",
                arguments: [ns.id, ns.name, ns.description, ns.createdAt])
            _ = try Self.appendEvent(db, .namespaceCreated, namespace: id, details: by.eventDetails)
            return ns
        }
    }

    public func namespace(_ id: String) async throws -> Namespace {
        try await pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM namespaces WHERE id = ?", arguments: [id]) else {
                throw StoreError.notFound(what: "namespace", id: id)
            }
            return Self.namespace(row)
        }
    }

    public func namespaces(after cursor: String?, limit: Int) async throws -> Page<Namespace> {
        try await pool.read { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM namespaces WHERE id > ? ORDER BY id LIMIT ?", arguments: [cursor ?? "", limit + 1])
            let items = rows.prefix(limit).map(Self.namespace)
            return Page(items: items, nextCursor: rows.count > limit ? items.last?.id : nil)
        }
    }

    public func deleteNamespace(_ id: String, by: Principal) async throws {
        try await write { db in
            guard try Row.fetchOne(db, sql: "SELECT 1 FROM namespaces WHERE id = ?", arguments: [id]) != nil else {
                throw StoreError.notFound(what: "namespace", id: id)
            }
            if id == "default" { throw StoreError.conflict("the default namespace cannot be deleted") }
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM pipelines WHERE namespace = ?", arguments: [id]) ?? 0
            if count > 0 { throw StoreError.conflict("namespace \"\(id)\" still has \(count) pipeline(s); delete them first") }
            try db.execute(sql: "DELETE FROM namespaces WHERE id = ?", arguments: [id])
            _ = try Self.appendEvent(db, .namespaceDeleted, namespace: id, details: by.eventDetails)
        }
    }

    // MARK: - Pipelines

    package static func pipeline(_ row: Row) -> Pipeline {
        Pipeline(
            namespace: row["namespace"], id: row["id"], name: row["name"], description: row["description"],
            state: Pipeline.State(rawValue: row["state"]) ?? .active, latestVersion: row["latest_version"],
            liveVersion: row["live_version"], createdAt: row["created_at"], updatedAt: row["updated_at"])
    }

    public func pipeline(namespace: String, id: String) async throws -> Pipeline {
        try await pool.read { db in try Self.requirePipeline(db, namespace, id) }
    }

    package static func requirePipeline(_ db: Database, _ namespace: String, _ id: String) throws -> Pipeline {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM pipelines WHERE namespace = ? AND id = ?"), arguments: [namespace, id])
        else {
            if try Row.fetchOne(db, sql: "SELECT 1 FROM namespaces WHERE id = ?", arguments: [namespace]) == nil {
                throw StoreError.notFound(what: "namespace", id: namespace)
            }
            // A mistyped name gets the closest ones of the namespace (a bounded lookup: ids only).
            let ids = try String.fetchAll(db, sql: "SELECT id FROM pipelines WHERE namespace = ? LIMIT 5000", arguments: [namespace])
            if let hint = NameSuggestion.hint(for: id, in: ids) {
                throw StoreError.gone(what: "pipeline", id: "\(namespace)/\(id)", why: hint)
            }
            throw StoreError.notFound(what: "pipeline", id: "\(namespace)/\(id)")
        }
        return pipeline(row)
    }

    public func pipelines(namespace: String, after cursor: String?, limit: Int) async throws -> Page<Pipeline> {
        try await pool.read { db in
            guard try Row.fetchOne(db, sql: "SELECT 1 FROM namespaces WHERE id = ?", arguments: [namespace]) != nil else {
                throw StoreError.notFound(what: "namespace", id: namespace)
            }
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM pipelines WHERE namespace = ? AND id > ? ORDER BY id LIMIT ?",
                arguments: [namespace, cursor ?? "", limit + 1])
            let items = rows.prefix(limit).map(Self.pipeline)
            return Page(items: items, nextCursor: rows.count > limit ? items.last?.id : nil)
        }
    }

    public func deletePipeline(namespace: String, id: String, by: Principal) async throws {
        try await write { db in
            _ = try Self.requirePipeline(db, namespace, id)
            let active =
                try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM runs WHERE namespace = ? AND pipeline = ? AND state IN ('pending', 'running')",
                    arguments: [namespace, id])
                ?? 0
            if active > 0 { throw StoreError.conflict("pipeline \(namespace)/\(id) has \(active) run(s) in progress; cancel them first") }
            try db.execute(sql: "DELETE FROM pipelines WHERE namespace = ? AND id = ?", arguments: [namespace, id])
            _ = try Self.appendEvent(db, .pipelineDeleted, namespace: namespace, pipeline: id, details: by.eventDetails)
        }
    }

    // MARK: - Runs

    public func createRun(
        namespace: String, pipeline: String, initiator: Principal, variables: [String: String], version: Int?) async throws -> CreatedRun {
        try await write(.runList(namespace: namespace, pipeline: pipeline)) { db in
            try Self.insertRun(
                db, namespace: namespace, pipeline: pipeline, initiator: initiator, variables: variables,
                routing: version.map { .pinned($0) } ?? .route)
        }
    }

    public func run(namespace: String, pipeline: String, id: Int) async throws -> Run {
        try await pool.read { db in try Self.requireRun(db, namespace, pipeline, id) }
    }

    /// The run, or why there is none: no namespace, no pipeline or no such run.
    package static func requireRun(_ db: Database, _ namespace: String, _ pipeline: String, _ id: Int) throws -> Run {
        _ = try requirePipeline(db, namespace, pipeline)
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT \(RunColumn.selection) FROM runs WHERE namespace = ? AND pipeline = ? AND id = ?"),
                arguments: [namespace, pipeline, id])
        else { throw StoreError.notFound(what: "run", id: "\(namespace)/\(pipeline)#\(id)") }
        return run(row)
    }

    public func runs(namespace: String, pipeline: String, before cursor: Int?, limit: Int) async throws -> Page<Run> {
        try await pool.read { db in
            _ = try Self.requirePipeline(db, namespace, pipeline)
            let rows = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT \(RunColumn.selection) FROM runs WHERE namespace = ? AND pipeline = ? AND id < ? ORDER BY id DESC LIMIT ?"),
                arguments: [namespace, pipeline, cursor ?? Int.max, limit + 1])
            let items = rows.prefix(limit).map(Self.run)
            return Page(items: items, nextCursor: rows.count > limit ? items.last.map { String($0.id) } : nil)
        }
    }

    public func unfinishedRuns() async throws -> [Run] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT \(RunColumn.selection) FROM runs WHERE state IN ('pending', 'running') ORDER BY created_at").map(Self.run)
        }
    }

    public func tasks(namespace: String, pipeline: String, run: Int) async throws -> [TaskExecution] {
        try await pool.read { db in
            _ = try Self.requirePipeline(db, namespace, pipeline)
            guard
                try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT 1 FROM runs WHERE namespace = ? AND pipeline = ? AND id = ?"),
                    arguments: [namespace, pipeline, run])
                    != nil
            else { throw StoreError.notFound(what: "run", id: "\(namespace)/\(pipeline)#\(run)") }
            return try Self.tasks(db, namespace, pipeline, run)
        }
    }

    package static func tasks(_ db: Database, _ namespace: String, _ pipeline: String, _ run: Int) throws -> [TaskExecution] {
        try Row.fetchAll(
            db.cachedStatement(sql: "SELECT \(TaskColumn.selection) FROM task_executions WHERE namespace = ? AND pipeline = ? AND run = ? ORDER BY rowid"),
            arguments: [namespace, pipeline, run]
        ).map(Self.task)
    }

    public func runDetail(namespace: String, pipeline: String, id: Int) async throws -> RunDetail {
        try await pool.read { db in
            RunDetail(run: try Self.requireRun(db, namespace, pipeline, id), tasks: try Self.tasks(db, namespace, pipeline, id))
        }
    }

    public func task(namespace: String, pipeline: String, run: Int, task: String) async throws -> TaskExecution {
        let all = try await tasks(namespace: namespace, pipeline: pipeline, run: run)
        guard let t = all.first(where: { $0.task == task }) else {
            throw StoreError.notFound(what: "task", id: "\(namespace)/\(pipeline)#\(run)/\(task)")
        }
        return t
    }

    public func config(forRun run: Run) async throws -> PipelineConfig {
        try await pipelineVersion(namespace: run.namespace, pipeline: run.pipeline, version: run.pipelineVersion).config
    }

    // MARK: - Transitions (only the run engine calls these)

    /// Records a run's new state and its event in one transaction.
    @discardableResult
    package func requestRunStop(_ run: Run, reason: StateReason, by: Principal) async throws -> Event {
        try await write(.run(namespace: run.namespace, pipeline: run.pipeline, id: run.id)) { db in
            try db.execute(
                sql: """
                    UPDATE runs SET stop_reason_kind = ?, stop_reason_message = ?
                    WHERE namespace = ? AND pipeline = ? AND id = ? AND stop_reason_kind IS NULL
                    """,
                arguments: [reason.kind.rawValue, reason.message, run.namespace, run.pipeline, run.id])
            return try Self.appendEvent(
                db, .runStopRequested, namespace: run.namespace, pipeline: run.pipeline, run: run.id,
                details: by.eventDetails.merging(["reason": reason.kind.rawValue, "message": reason.message]) { a, _ in a })
        }
    }

    package func setRunState(_ run: Run, _ state: RunState, reason: StateReason?) async throws -> Event {
        // Also revokes the run's tokens and queues its hooks: neither is part of a run's answers.
        try await write(.run(namespace: run.namespace, pipeline: run.pipeline, id: run.id)) { db in
            let now = Date()
            try db.execute(
                sql: """
                    UPDATE runs SET state = ?, reason_kind = ?, reason_message = ?,
                        started_at = CASE WHEN ? = 'running' AND started_at IS NULL THEN ? ELSE started_at END,
                        ended_at = CASE WHEN ? IN ('succeeded', 'failed', 'cancelled') THEN ? ELSE ended_at END
                    WHERE namespace = ? AND pipeline = ? AND id = ?
                    """,
                arguments: [
                    state.rawValue, reason?.kind.rawValue, reason?.message, state.rawValue, now, state.rawValue, now, run.namespace,
                    run.pipeline, run.id,
                ])
            if state.isTerminal { try Self.revokeRunTokens(db, namespace: run.namespace, pipeline: run.pipeline, run: run.id, at: now) }
            try Self.enqueueHooks(db, run, state, at: now)
            var details = ["state": state.rawValue]
            if let reason { details["reason"] = reason.kind.rawValue; details["message"] = reason.message }
            return try Self.appendEvent(
                db, .runStateChanged, namespace: run.namespace, pipeline: run.pipeline, run: run.id, details: details)
        }
    }

    @discardableResult
    package func setTaskState(
        _ t: TaskExecution, _ state: TaskState, reason: StateReason?, exitCode: Int?, handle: String?,
        startedAt: Date?,
        endedAt: Date?, deadline: Date?) async throws -> Event {
        try await write(.tasks(namespace: t.namespace, pipeline: t.pipeline, run: t.run)) { db in
            try db.cachedStatement(
                sql: """
                    UPDATE task_executions SET state = ?,
                        reason_kind = CASE WHEN reason_kind = '\(StateReason.Kind.waitingForPlacement.rawValue)' THEN ? ELSE COALESCE(?, reason_kind) END,
                        reason_message = CASE WHEN reason_kind = '\(StateReason.Kind.waitingForPlacement.rawValue)' THEN ? ELSE COALESCE(?, reason_message) END,
                        exit_code = COALESCE(?, exit_code), handle = COALESCE(?, handle), started_at = COALESCE(?, started_at),
                        ended_at = COALESCE(?, ended_at), deadline = COALESCE(?, deadline)
                    WHERE namespace = ? AND pipeline = ? AND run = ? AND task = ?
                    """
            ).execute(
                arguments: [
                    // A wait for a node is not a reason once the task moves on: it is replaced (or cleared).
                    state.rawValue, reason?.kind.rawValue, reason?.kind.rawValue, reason?.message, reason?.message, exitCode, handle, startedAt,
                    endedAt, deadline, t.namespace,
                    t.pipeline, t.run,
                    t.task,
                ])
            var details = ["state": state.rawValue]
            if let reason { details["reason"] = reason.kind.rawValue; details["message"] = reason.message }
            if let exitCode { details["exit_code"] = String(exitCode) }
            return try Self.appendEvent(
                db, .taskStateChanged, namespace: t.namespace, pipeline: t.pipeline, run: t.run, task: t.task, details: details)
        }
    }

    public func integrityCheck() async throws -> String {
        try await pool.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "" }
    }
}
