import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel

/// Public mode's trials: the namespace, token and client address of each, and the container time
/// a namespace's tasks have used.
extension SQLStore {
    public func createTrial(namespace: String, address: String, token: APIToken, hash: Data) async throws {
        try await write { db in
            if try Row.fetchOne(db, sql: "SELECT 1 FROM namespaces WHERE id = ?", arguments: [namespace]) != nil {
                throw StoreError.conflict("namespace \"\(namespace)\" already exists")
            }
            let now = Date()
            try db.execute(
                sql: "INSERT INTO namespaces (id, name, description, created_at) VALUES (?, ?, ?, ?)",
                arguments: [namespace, namespace, "A public-mode trial", now])
            _ = try Self.appendEvent(db, .namespaceCreated, namespace: namespace, details: Principal.system.eventDetails)
            try Self.insertToken(db, token, hash: hash)
            _ = try Self.appendEvent(
                db, .tokenCreated, namespace: namespace,
                details: Principal.system.eventDetails.merging(["token_id": token.id, "token_name": token.name]) { a, _ in a })
            try db.execute(
                sql: "INSERT INTO trials (namespace, address, token_id, created_at) VALUES (?, ?, ?, ?)",
                arguments: [namespace, address, token.id, now])
        }
    }

    public func trialAddress(namespace: String) async throws -> String? {
        try await read { db in
            try String.fetchOne(db, sql: "SELECT address FROM trials WHERE namespace = ?", arguments: [namespace])
        }
    }

    public func markTrialSpent(namespace: String) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE trials SET spent_at = COALESCE(spent_at, ?) WHERE namespace = ?", arguments: [Date(), namespace])
        }
    }

    public func trialSpent(namespace: String) async throws -> Bool {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT 1 FROM trials WHERE namespace = ? AND spent_at IS NOT NULL", arguments: [namespace]) != nil
        }
    }

    public func trialNamespaces(address: String) async throws -> [String] {
        try await read { db in
            try String.fetchAll(db, sql: "SELECT namespace FROM trials WHERE address = ? ORDER BY created_at", arguments: [address])
        }
    }

    public func containerTime(namespaces: [String], now: Date) async throws -> Duration {
        guard !namespaces.isEmpty else { return .zero }
        return try await read { db in
            let marks = Array(repeating: "?", count: namespaces.count).joined(separator: ", ")
            let rows = try Row.fetchAll(
                db, sql: "SELECT started_at, ended_at FROM task_executions WHERE started_at IS NOT NULL AND namespace IN (\(marks))",
                arguments: StatementArguments(namespaces))
            var milliseconds: Int64 = 0
            for row in rows {
                guard let start: Date = row["started_at"] else { continue }
                let end: Date = row["ended_at"] ?? now
                let ms = max(0, end.timeIntervalSince(start) * 1000)
                milliseconds = Checked.add(milliseconds, Checked.int64(ms.rounded(), times: 1) ?? Int64.max / 2) ?? Int64.max / 2
            }
            return .milliseconds(milliseconds)
        }
    }

    public func trialRunCounts(namespaces: [String]) async throws -> (active: Int, total: Int) {
        guard !namespaces.isEmpty else { return (0, 0) }
        return try await read { db in
            let marks = Array(repeating: "?", count: namespaces.count).joined(separator: ", ")
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM runs WHERE namespace IN (\(marks))", arguments: StatementArguments(namespaces)) ?? 0
            let active =
                try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM runs WHERE ended_at IS NULL AND namespace IN (\(marks))",
                    arguments: StatementArguments(namespaces)) ?? 0
            return (active, total)
        }
    }

    public func pipelineIDs(namespace: String) async throws -> [String] {
        try await read { db in
            try String.fetchAll(db, sql: "SELECT id FROM pipelines WHERE namespace = ? ORDER BY id", arguments: [namespace])
        }
    }
}
