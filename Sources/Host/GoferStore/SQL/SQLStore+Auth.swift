import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel

extension SQLStore {
    package static let registryPasswordErrorSource = "registry_auth"

    /// Older servers stored `registry_auth.password` as written. Every plain one is removed from
    /// every stored version (overwritten on disk: `secure_delete`), and its pipeline gets an error
    /// saying what to do; tasks of such versions then fail with the same message instead of
    /// pulling with a wrong password.
    package static func removePlainRegistryPasswords(_ db: Database) throws {
        try db.execute(sql: "PRAGMA secure_delete = ON")
        let rows = try Row.fetchAll(db, sql: "SELECT namespace, pipeline, version, config FROM pipeline_versions")
        for row in rows {
            let text: String = row["config"]
            guard var config = try? PipelineConfig.fromCanonical(text) else { continue }
            var cleaned: [String] = []
            for i in config.tasks.indices {
                if let auth = config.tasks[i].registryAuth, RegistryAuthConfig.passwordReference(auth.password) == nil, !auth.password.isEmpty {
                    config.tasks[i].registryAuth?.password = ""
                    cleaned.append(config.tasks[i].id)
                }
            }
            guard !cleaned.isEmpty else { continue }
            let ns: String = row["namespace"]
            let p: String = row["pipeline"]
            let v: Int = row["version"]
            try db.execute(
                sql: "UPDATE pipeline_versions SET config = ? WHERE namespace = ? AND pipeline = ? AND version = ?",
                arguments: [try config.canonicalJSON(), ns, p, v])
            try db.execute(
                sql: """
                    INSERT INTO pipeline_errors (namespace, pipeline, source, kind, message, at) VALUES (?, ?, ?, 'registry_password_removed', ?, ?)
                    ON CONFLICT(namespace, pipeline, source) DO UPDATE SET message = excluded.message, at = excluded.at
                    """,
                arguments: [
                    ns, p, registryPasswordErrorSource,
                    "version \(v): the registry password of task(s) \(cleaned.joined(separator: ", ")) was stored in plain text by an older Gofer and has been removed. Store it with `gofer secret pipeline put \(p) NAME`, write password: secret{{NAME}}, and apply again",
                    Date(),
                ])
        }
    }

    package static func token(_ row: Row) -> APIToken {
        var scope: APIToken.PipelineScope?
        if let ns: String = row["scope_namespace"], let p: String = row["scope_pipeline"] { scope = .init(namespace: ns, pipeline: p) }
        var t = APIToken(
            id: row["id"], name: row["name"], kind: APIToken.Kind(rawValue: row["kind"]) ?? .user, roles: json(row, "roles", [String]()),
            namespaces: json(row, "namespaces", [String]()), pipeline: scope, run: row["run"],
            createdBy: (row["created_by"] as String?).map(Principal.stored), createdAt: row["created_at"], expiresAt: row["expires_at"])
        t.lastUsedAt = row["last_used_at"]
        t.revokedAt = row["revoked_at"]
        t.revokedReason = row["revoked_reason"]
        return t
    }

    package static func insertToken(_ db: Database, _ t: APIToken, hash: Data) throws {
        try db.execute(
            sql: """
                INSERT INTO tokens (id, hash, name, kind, roles, namespaces, scope_namespace, scope_pipeline, run, created_by, created_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                t.id, hash, t.name, t.kind.rawValue, try JSONCodec.encode(t.roles).description,
                try JSONCodec.encode(t.namespaces).description, t.pipeline?.namespace, t.pipeline?.pipeline, t.run,
                t.createdBy?.storedText, t.createdAt, t.expiresAt,
            ])
    }

    public func createToken(_ token: APIToken, hash: Data) async throws {
        try await write { db in
            if try Row.fetchOne(db, sql: "SELECT 1 FROM tokens WHERE id = ?", arguments: [token.id]) != nil {
                throw StoreError.conflict("token \(token.id) already exists")
            }
            try Self.insertToken(db, token, hash: hash)
            _ = try Self.appendEvent(
                db, .tokenCreated,
                details: (token.createdBy ?? .system).eventDetails.merging(["token_id": token.id, "token_name": token.name]) { a, _ in a })
        }
    }

    public func token(hash: Data, now: Date) async throws -> TokenLookup {
        try await read { db in
            guard
                let row = try Row.fetchOne(
                    db.cachedStatement(
                        sql: """
                            SELECT t.*, r.state AS run_state FROM tokens t
                            LEFT JOIN runs r ON t.kind = 'run' AND r.namespace = t.scope_namespace AND r.pipeline = t.scope_pipeline AND r.id = t.run
                            WHERE t.hash = ?
                            """), arguments: [hash])
            else { return .unknown }
            var t = Self.token(row)
            if t.revokedAt != nil { return .revoked(t) }
            if t.kind == .run {
                let state = (row["run_state"] as String?).flatMap(RunState.init)
                if state == nil || state?.isTerminal == true {
                    t.revokedReason = "its run ended"
                    t.revokedAt = now
                    return .revoked(t)
                }
            }
            if let e = t.expiresAt, e <= now { return .expired(t) }
            return .valid(t)
        }
    }

    public func token(id: String) async throws -> APIToken {
        try await read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM tokens WHERE id = ?", arguments: [id]) else {
                throw StoreError.notFound(what: "token", id: id)
            }
            return Self.token(row)
        }
    }

    public func tokens(includeRevoked: Bool) async throws -> [APIToken] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT * FROM tokens WHERE kind = 'user'" + (includeRevoked ? "" : " AND revoked_at IS NULL")
                    + " ORDER BY created_at DESC, id"
            ).map(Self.token)
        }
    }

    @discardableResult
    public func revokeToken(id: String, by: Principal, reason: String) async throws -> APIToken {
        try await write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM tokens WHERE id = ?", arguments: [id]) else {
                throw StoreError.notFound(what: "token", id: id)
            }
            if Self.token(row).revokedAt == nil {
                try db.execute(
                    sql: "UPDATE tokens SET revoked_at = ?, revoked_reason = ? WHERE id = ?", arguments: [Date(), reason, id])
                _ = try Self.appendEvent(
                    db, .tokenRevoked,
                    details: by.eventDetails.merging(["token_id": id, "token_name": row["name"], "reason": reason]) { a, _ in a })
            }
            guard let updated = try Row.fetchOne(db, sql: "SELECT * FROM tokens WHERE id = ?", arguments: [id]) else {
                throw StoreError.notFound(what: "token", id: id)
            }
            return Self.token(updated)
        }
    }

    package func touchTokens(_ uses: [String: Date]) async throws {
        try await write(.outsideRuns) { db in
            for (id, at) in uses {
                try db.execute(
                    sql: "UPDATE tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
                    arguments: [at, id, at])
            }
        }
    }

    package func ensureRunToken(_ token: APIToken, hash: Data) async throws -> Bool {
        try await write(.outsideRuns) { db in
            guard let ns = token.pipeline?.namespace, let p = token.pipeline?.pipeline, let run = token.run,
                let state = try String.fetchOne(
                    db, sql: "SELECT state FROM runs WHERE namespace = ? AND pipeline = ? AND id = ?", arguments: [ns, p, run]
                ).flatMap(RunState.init), !state.isTerminal
            else { return false }
            if try Row.fetchOne(db, sql: "SELECT 1 FROM tokens WHERE id = ?", arguments: [token.id]) == nil {
                try Self.insertToken(db, token, hash: hash)
            }
            return true
        }
    }

    /// Part of a run's final transition: its token stops working in the same transaction.
    package static func revokeRunTokens(_ db: Database, namespace: String, pipeline: String, run: Int, at: Date) throws {
        try db.execute(
            sql: """
                UPDATE tokens SET revoked_at = ?, revoked_reason = 'its run ended'
                WHERE kind = 'run' AND scope_namespace = ? AND scope_pipeline = ? AND run = ? AND revoked_at IS NULL
                """, arguments: [at, namespace, pipeline, run])
    }

    // MARK: - Roles

    package static func role(_ row: Row) -> Role {
        Role(id: row["id"], description: row["description"], grants: json(row, "grants", [Grant]()))
    }

    public func roles() async throws -> [Role] {
        let own = try await read { db in try Row.fetchAll(db, sql: "SELECT * FROM roles ORDER BY id").map(Self.role) }
        return Role.builtins + own
    }

    public func role(_ id: String) async throws -> Role {
        if let r = Role.builtin(id) { return r }
        return try await read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM roles WHERE id = ?", arguments: [id]) else {
                throw StoreError.notFound(what: "role", id: id)
            }
            return Self.role(row)
        }
    }

    package func roles(_ ids: [String]) async throws -> [Role] {
        let own = ids.filter { Role.builtin($0) == nil }
        var found = ids.compactMap(Role.builtin)
        if !own.isEmpty {
            found += try await read { db in
                try Row.fetchAll(
                    db, sql: "SELECT * FROM roles WHERE id IN (\(own.map { _ in "?" }.joined(separator: ",")))",
                    arguments: StatementArguments(own)
                ).map(Self.role)
            }
        }
        return found
    }

    public func createRole(_ role: Role, by: Principal) async throws {
        try await write { db in
            let exists = try Row.fetchOne(db, sql: "SELECT 1 FROM roles WHERE id = ?", arguments: [role.id]) != nil
            if Role.builtin(role.id) != nil || exists {
                throw StoreError.conflict("role \"\(role.id)\" already exists")
            }
            try db.execute(
                sql: "INSERT INTO roles (id, description, grants, created_at) VALUES (?, ?, ?, ?)",
                arguments: [role.id, role.description, String(decoding: try JSONEncoder.sorted.encode(role.grants), as: UTF8.self), Date()])
            _ = try Self.appendEvent(db, .roleCreated, details: by.eventDetails.merging(["role": role.id]) { a, _ in a })
        }
    }

    public func deleteRole(_ id: String, by: Principal) async throws {
        try await write { db in
            if Role.builtin(id) != nil { throw StoreError.conflict("role \"\(id)\" is built in and cannot be deleted") }
            guard try Row.fetchOne(db, sql: "SELECT 1 FROM roles WHERE id = ?", arguments: [id]) != nil else {
                throw StoreError.notFound(what: "role", id: id)
            }
            let users = try Row.fetchAll(db, sql: "SELECT * FROM tokens WHERE revoked_at IS NULL").map(Self.token).filter {
                $0.roles.contains(id)
            }
            if !users.isEmpty {
                throw StoreError.conflict(
                    "role \"\(id)\" is held by \(users.count) token(s): \(users.map { "\($0.name) (\($0.id))" }.joined(separator: ", ")); revoke them first"
                )
            }
            try db.execute(sql: "DELETE FROM roles WHERE id = ?", arguments: [id])
            _ = try Self.appendEvent(db, .roleDeleted, details: by.eventDetails.merging(["role": id]) { a, _ in a })
        }
    }
}
