import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel

extension SQLStore {
    package static func objectInfo(_ row: Row) -> ObjectInfo {
        let kind = ObjectScope.Kind(rawValue: row["scope"]) ?? .pipeline
        let ns: String = row["namespace"]
        let p: String = row["pipeline"]
        let owner: String = row["owner"]
        return ObjectInfo(
            scope: kind, namespace: kind == .extension ? nil : ns, pipeline: kind == .extension ? nil : p,
            run: kind == .run ? row["run"] : nil, extension: kind == .extension ? owner : nil, key: row["key"], size: row["size"],
            sha256: row["sha256"], createdAt: row["created_at"], createdBy: Principal.stored(row["created_by"] ?? "").name, blob: row["blob"])
    }

    package static let objectWhere = "scope = ? AND namespace = ? AND pipeline = ? AND run = ? AND owner = ?"

    package static func scopeArguments(_ scope: ObjectScope) -> StatementArguments {
        let c = scope.columns
        return [scope.kind.rawValue, c.namespace, c.pipeline, c.run, c.owner]
    }

    /// Throws not-found for a scope whose pipeline, run or extension does not exist.
    package static func requireScope(_ db: Database, _ scope: ObjectScope) throws {
        switch scope {
        case .pipeline(let ns, let p): _ = try requirePipeline(db, ns, p)
        case .run(let ns, let p, let r):
            _ = try requirePipeline(db, ns, p)
            guard try Row.fetchOne(db, sql: "SELECT 1 FROM runs WHERE namespace = ? AND pipeline = ? AND id = ?", arguments: [ns, p, r]) != nil
            else { throw StoreError.notFound(what: "run", id: "\(ns)/\(p)/\(r)") }
        case .extension(let name):
            guard try Row.fetchOne(db, sql: "SELECT 1 FROM extensions WHERE name = ?", arguments: [name]) != nil else {
                throw StoreError.notFound(what: "extension", id: name)
            }
        }
    }

    package static func objectEvent(
        _ db: Database, _ kind: EventKind, _ scope: ObjectScope, _ info: ObjectInfo, extra: [String: String] = [:]
    ) throws {
        var details = extra
        details["scope"] = scope.kind.rawValue
        details["key"] = info.key
        details["size"] = String(info.size)
        if case .extension(let name) = scope { details["extension"] = name }
        let c = scope.columns
        _ = try appendEvent(
            db, kind, namespace: c.namespace.isEmpty ? nil : c.namespace, pipeline: c.pipeline.isEmpty ? nil : c.pipeline,
            run: c.run == 0 ? nil : c.run, details: details)
    }

    package func putObject(_ info: ObjectInfo, in scope: ObjectScope, limits: ObjectLimits, by: Principal) async throws -> ObjectWriteOutcome {
        try await write { db in
            try Self.requireScope(db, scope)
            let args = Self.scopeArguments(scope)
            let existing = try Row.fetchOne(db, sql: "SELECT blob FROM objects WHERE \(Self.objectWhere) AND key = ?", arguments: args + [info.key])
            let limit = limits.maxBytes(scope.kind)
            if info.size > limit {
                throw ObjectError.tooLarge(scope, key: info.key, limit: limit, what: "the most a \(scope.kind.rawValue) may hold")
            }
            if scope.kind != .pipeline {
                let used =
                    try Int64.fetchOne(
                        db, sql: "SELECT COALESCE(CAST(SUM(size) AS BIGINT), 0) FROM objects WHERE \(Self.objectWhere) AND key != ?", arguments: args + [info.key])
                    ?? 0
                if used + info.size > limit { throw ObjectError.scopeFull(scope, used: used, limit: limit) }
            }
            let c = scope.columns
            try db.execute(
                sql: """
                    INSERT INTO objects (scope, namespace, pipeline, run, owner, key, size, sha256, blob, created_at, created_by)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (scope, namespace, pipeline, run, owner, key) DO UPDATE SET size = excluded.size,
                        sha256 = excluded.sha256, blob = excluded.blob, created_at = excluded.created_at, created_by = excluded.created_by
                    """,
                arguments: [
                    scope.kind.rawValue, c.namespace, c.pipeline, c.run, c.owner, info.key, info.size, info.sha256, info.blob, info.createdAt,
                    by.storedText,
                ])
            try Self.objectEvent(db, .objectWritten, scope, info, extra: by.eventDetails.merging(["sha256": info.sha256]) { a, _ in a })
            var evicted: [ObjectInfo] = []
            if case .pipeline = scope {
                while true {
                    let row = try Row.fetchOne(
                        db, sql: "SELECT COUNT(*) AS n, COALESCE(CAST(SUM(size) AS BIGINT), 0) AS bytes FROM objects WHERE \(Self.objectWhere)", arguments: args)
                    let count: Int = row?["n"] ?? 0
                    let bytes: Int64 = row?["bytes"] ?? 0
                    guard count > limits.pipelineMaxCount || bytes > limits.pipelineMaxBytes else { break }
                    guard
                        let oldest = try Row.fetchOne(
                            db, sql: "SELECT * FROM objects WHERE \(Self.objectWhere) AND key != ? ORDER BY created_at, rowid LIMIT 1",
                            arguments: args + [info.key])
                    else { break }
                    let gone = Self.objectInfo(oldest)
                    try db.execute(sql: "DELETE FROM objects WHERE \(Self.objectWhere) AND key = ?", arguments: args + [gone.key])
                    let why = count > limits.pipelineMaxCount ? "over \(limits.pipelineMaxCount) objects" : "over \(limits.pipelineMaxBytes) bytes"
                    try Self.objectEvent(db, .objectEvicted, scope, gone, extra: ["reason": "the pipeline's objects were \(why); the oldest goes first"])
                    evicted.append(gone)
                }
            }
            var stored = info
            stored.createdBy = by.name
            return ObjectWriteOutcome(info: stored, replacedBlob: existing?["blob"], evicted: evicted)
        }
    }

    public func object(_ scope: ObjectScope, key: String) async throws -> ObjectInfo {
        try await read { db in
            try Self.requireScope(db, scope)
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT * FROM objects WHERE \(Self.objectWhere) AND key = ?", arguments: Self.scopeArguments(scope) + [key])
            else { throw ObjectError.notFound(scope, key: key) }
            return Self.objectInfo(row)
        }
    }

    public func objects(_ scope: ObjectScope) async throws -> [ObjectInfo] {
        try await read { db in
            try Self.requireScope(db, scope)
            return try Row.fetchAll(db, sql: "SELECT * FROM objects WHERE \(Self.objectWhere) ORDER BY key", arguments: Self.scopeArguments(scope))
                .map(Self.objectInfo)
        }
    }

    package func deleteObject(_ scope: ObjectScope, key: String, by: Principal) async throws -> String {
        try await write { db in
            try Self.requireScope(db, scope)
            let args = Self.scopeArguments(scope) + [key]
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM objects WHERE \(Self.objectWhere) AND key = ?", arguments: args) else {
                throw ObjectError.notFound(scope, key: key)
            }
            let info = Self.objectInfo(row)
            try db.execute(sql: "DELETE FROM objects WHERE \(Self.objectWhere) AND key = ?", arguments: args)
            try Self.objectEvent(db, .objectDeleted, scope, info, extra: by.eventDetails)
            return info.blob
        }
    }

    package func deleteObjects(namespace: String, pipeline: String?) async throws -> [String] {
        try await write { db in
            let filter = pipeline == nil ? "namespace = ?" : "namespace = ? AND pipeline = ?"
            let args: StatementArguments = pipeline.map { [namespace, $0] } ?? [namespace]
            let blobs = try String.fetchAll(
                db, sql: "SELECT blob FROM objects WHERE scope IN ('pipeline', 'run') AND \(filter)", arguments: args)
            try db.execute(sql: "DELETE FROM objects WHERE scope IN ('pipeline', 'run') AND \(filter)", arguments: args)
            return blobs
        }
    }

    package func expireRunObjects(namespace: String?, pipeline: String?, keep: Int) async throws -> [String] {
        try await write(.outsideRuns) { db in
            var sql = """
                SELECT o.* FROM objects o
                JOIN (SELECT namespace, pipeline, MAX(id) AS newest FROM runs GROUP BY namespace, pipeline) r
                  ON r.namespace = o.namespace AND r.pipeline = o.pipeline
                WHERE o.scope = 'run' AND o.run <= r.newest - ?
                """
            var args: StatementArguments = [keep]
            if let namespace, let pipeline {
                sql += " AND o.namespace = ? AND o.pipeline = ?"
                args += [namespace, pipeline]
            }
            var blobs: [String] = []
            for row in try Row.fetchAll(db, sql: sql, arguments: args) {
                let info = Self.objectInfo(row)
                let scope = ObjectScope.run(namespace: info.namespace ?? "", pipeline: info.pipeline ?? "", run: info.run ?? 0)
                try db.execute(
                    sql: "DELETE FROM objects WHERE \(Self.objectWhere) AND key = ?", arguments: Self.scopeArguments(scope) + [info.key])
                try Self.objectEvent(db, .objectExpired, scope, info, extra: ["reason": "the run is \(keep) or more runs old"])
                blobs.append(info.blob)
            }
            return blobs
        }
    }

    package func objectBlobs() async throws -> Set<String> {
        try await read { db in Set(try String.fetchAll(db, sql: "SELECT blob FROM objects")) }
    }
}

extension SQLStore {
    package func checkObjectScope(_ scope: ObjectScope) async throws {
        try await read { db in try Self.requireScope(db, scope) }
    }
}
