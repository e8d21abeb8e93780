import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import Synchronization

/// The ``Store`` on SQL: the embedded SQLite file (``init(path:keepVersions:)``, the default) or
/// a PostgreSQL server (``open(postgres:keepVersions:)``), one body of SQL for both (``Database``;
/// where the two dialects differ a statement says so). Every SQL statement of the store lives in
/// this folder, and every state change is one transaction that also appends its event, so the
/// event log and the states never disagree.
public final class SQLStore: Store {
    package let backend: any SQLBackend
    package let generations = WriteGenerations()
    public let defaultKeepVersions: Int

    package init(backend: any SQLBackend, keepVersions: Int) {
        self.backend = backend
        defaultKeepVersions = keepVersions
    }

    /// Opens (and migrates) the embedded database at `path`.
    public convenience init(path: String, keepVersions: Int = 100) throws {
        let backend = try SQLiteBackend(path: path)
        try backend.writeNow { db in try Self.createDefaultNamespace(db) }
        self.init(backend: backend, keepVersions: keepVersions)
    }

    /// Connects to (and migrates) the PostgreSQL database at `url`.
    package static func open(postgres url: PostgresURL, keepVersions: Int = 100) async throws -> SQLStore {
        let backend = try await PostgresBackend.connect(url)
        do {
            try await backend.write { db in try createDefaultNamespace(db) }
        } catch {
            await backend.close()
            throw error
        }
        return SQLStore(backend: backend, keepVersions: keepVersions)
    }

    /// Takes the database for this server alone (``SQLBackend/claimInstallation()``).
    package func claimInstallation() async throws { try await backend.claimInstallation() }

    /// Connects to (and migrates) the PostgreSQL database at `url` as the target of a copy: unlike
    /// ``open(postgres:keepVersions:)`` it adds nothing (not even the default namespace: the copy brings it).
    package static func openForCopy(postgres url: PostgresURL) async throws -> SQLStore {
        SQLStore(backend: try await PostgresBackend.connect(url), keepVersions: 100)
    }

    /// Closes the backend's connections (the embedded file closes when the store is released).
    package func close() async { await backend.close() }

    static func createDefaultNamespace(_ db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO namespaces (id, name, description, created_at) VALUES ('default', 'Default', 'The default namespace', ?)
                ON CONFLICT DO NOTHING
                """,
            arguments: [Date()])
    }

    /// Runs one read transaction, on one snapshot.
    package func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        try await backend.read(body)
    }

    /// Runs one write transaction; `scope` says what it may change (``WriteScope``: everything
    /// unless it names less). A failure rolls the whole transaction back and comes out as a
    /// ``StoreError`` that says where and why.
    package func write<T: Sendable>(
        _ scope: WriteScope = .everything, _ updates: @Sendable @escaping (Database) throws -> T
    ) async throws -> T {
        // After the commit (or the rollback, harmlessly): what was read before is stale now.
        defer { generations.bump(scope) }
        return try await backend.write(updates)
    }

    /// Caps the embedded database at `pages` pages, as a full disk would; tests use it to play disk-full.
    public func limitSizeForTesting(pages: Int) async throws {
        guard let sqlite = backend as? SQLiteBackend else { throw StoreError.conflict("only the embedded database has a page limit") }
        try await sqlite.limitPages(pages)
    }

    /// Runs SQL as it is; tests use it to put the database into states older servers left behind.
    public func executeForTesting(_ sql: String) async throws {
        defer { generations.bump(.everything) }
        try await backend.write { db in try db.execute(sql: sql) }
    }

    /// The embedded database's size in pages.
    public func pageCount() async throws -> Int {
        guard let sqlite = backend as? SQLiteBackend else { throw StoreError.conflict("only the embedded database counts pages") }
        return try await sqlite.read { db in try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0 }
    }

    // MARK: - Events

    package static func appendEvent(
        _ db: Database, _ kind: EventKind, namespace: String? = nil, pipeline: String? = nil, run: Int? = nil, task: String? = nil,
        details: [String: String] = [:]
    ) throws -> Event {
        let now = Date()
        let text = String(decoding: JSONValue.object(details.mapValues(JSONValue.string)).serialized(), as: UTF8.self)
        let id = try db.insertReturningID(
            sql: "INSERT INTO events (kind, namespace, pipeline, run, task, details, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            arguments: [kind.rawValue, namespace, pipeline, run, task, text, now])
        return Event(
            id: id, kind: kind, namespace: namespace, pipeline: pipeline, run: run, task: task, details: details, at: now)
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
        try await read { db in
            var sql = "SELECT * FROM events WHERE id > ?"
            var args: [(any SQLValueConvertible)?] = [cursor]
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
        try await read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM namespaces WHERE id = ?", arguments: [id]) else {
                throw StoreError.notFound(what: "namespace", id: id)
            }
            return Self.namespace(row)
        }
    }

    public func namespaces(after cursor: String?, limit: Int) async throws -> Page<Namespace> {
        try await read { db in
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
        try await read { db in try Self.requirePipeline(db, namespace, id) }
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
        try await read { db in
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
        try await read { db in try Self.requireRun(db, namespace, pipeline, id) }
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
        try await read { db in
            _ = try Self.requirePipeline(db, namespace, pipeline)
            let rows = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT \(RunColumn.selection) FROM runs WHERE namespace = ? AND pipeline = ? AND id < ? ORDER BY id DESC LIMIT ?"),
                arguments: [namespace, pipeline, cursor ?? Int.max, limit + 1])
            let items = rows.prefix(limit).map(Self.run)
            return Page(items: items, nextCursor: rows.count > limit ? items.last.map { String($0.id) } : nil)
        }
    }

    public func unfinishedRuns() async throws -> [Run] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT \(RunColumn.selection) FROM runs WHERE state IN ('pending', 'running') ORDER BY created_at").map(Self.run)
        }
    }

    public func tasks(namespace: String, pipeline: String, run: Int) async throws -> [TaskExecution] {
        try await read { db in
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
        try await read { db in
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
        try await backend.integrityCheck()
    }
}
