import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GRDB

/// The embedded database's schema, as the migrations that built it up (GRDB's migrator: each runs
/// once, in order). PostgreSQL's schema is written out whole in `PostgresSchema.swift`; the two
/// are kept the same by `SchemaDriftTests`.
extension SQLiteBackend {
    package static func registerAuthMigrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("v6: tokens and roles") { db in
            try db.execute(
                sql: """
                    CREATE TABLE tokens (
                        id TEXT PRIMARY KEY, hash BLOB NOT NULL UNIQUE, name TEXT NOT NULL, kind TEXT NOT NULL, roles TEXT NOT NULL,
                        namespaces TEXT NOT NULL, scope_namespace TEXT, scope_pipeline TEXT, run INTEGER, created_by TEXT,
                        created_at DATETIME NOT NULL, expires_at DATETIME, last_used_at DATETIME, revoked_at DATETIME, revoked_reason TEXT);
                    CREATE INDEX tokens_by_run ON tokens(scope_namespace, scope_pipeline, run);
                    CREATE TABLE roles (
                        id TEXT PRIMARY KEY, description TEXT NOT NULL, grants TEXT NOT NULL, created_at DATETIME NOT NULL);
                    """)
        }
        m.registerMigration("v7: no plain registry passwords") { db in
            try SQLStore.removePlainRegistryPasswords(Database(SQLiteConnection(db)))
        }
    }

    package static func registerHookMigrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("v9: hook deliveries") { db in
            try db.execute(
                sql: """
                    CREATE TABLE hook_deliveries (
                        id INTEGER PRIMARY KEY AUTOINCREMENT, namespace TEXT NOT NULL, pipeline TEXT NOT NULL, run INTEGER NOT NULL,
                        label TEXT NOT NULL, extension TEXT NOT NULL, phase TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
                        next_attempt_at DATETIME NOT NULL, last_error TEXT, created_at DATETIME NOT NULL, delivered_at DATETIME,
                        UNIQUE (namespace, pipeline, run, label, phase),
                        FOREIGN KEY (namespace, pipeline, run) REFERENCES runs(namespace, pipeline, id) ON DELETE CASCADE);
                    CREATE INDEX hook_deliveries_due ON hook_deliveries(state, next_attempt_at);
                    """)
        }
    }

    package static func registerObjectMigrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("v10: objects") { db in
            try db.execute(
                sql: """
                    CREATE TABLE objects (
                        scope TEXT NOT NULL, namespace TEXT NOT NULL, pipeline TEXT NOT NULL, run INTEGER NOT NULL, owner TEXT NOT NULL,
                        key TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL, blob TEXT NOT NULL, created_at DATETIME NOT NULL,
                        created_by TEXT NOT NULL,
                        PRIMARY KEY (scope, namespace, pipeline, run, owner, key));
                    CREATE INDEX objects_by_age ON objects(scope, namespace, pipeline, run, owner, created_at);
                    """)
        }
    }

    package static func registerTrialMigrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("v11: trials") { db in
            try db.execute(
                sql: """
                    CREATE TABLE trials (
                        namespace TEXT PRIMARY KEY, address TEXT NOT NULL, token_id TEXT NOT NULL, created_at DATETIME NOT NULL,
                        spent_at DATETIME);
                    CREATE INDEX trials_by_address ON trials(address);
                    """)
        }
    }

    package static func registerVersionMigrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("v8: live versions, rollouts and reruns") { db in
            try db.execute(
                sql: """
                    ALTER TABLE pipelines ADD COLUMN live_version INTEGER NOT NULL DEFAULT 0;
                    UPDATE pipelines SET live_version = latest_version;
                    ALTER TABLE pipeline_versions ADD COLUMN source TEXT;
                    ALTER TABLE pipeline_versions ADD COLUMN format TEXT;
                    ALTER TABLE pipeline_versions ADD COLUMN created_by TEXT;
                    ALTER TABLE pipeline_versions ADD COLUMN origin TEXT NOT NULL DEFAULT 'apply';
                    ALTER TABLE pipeline_versions ADD COLUMN copied_from INTEGER;
                    ALTER TABLE pipeline_versions ADD COLUMN went_live_at DATETIME;
                    UPDATE pipeline_versions SET went_live_at = created_at;
                    ALTER TABLE runs ADD COLUMN version_reason TEXT NOT NULL DEFAULT 'live';
                    ALTER TABLE runs ADD COLUMN rollout INTEGER;
                    ALTER TABLE runs ADD COLUMN rerun_of INTEGER;
                    CREATE INDEX runs_by_rollout ON runs(namespace, pipeline, rollout);
                    ALTER TABLE task_executions ADD COLUMN carried_from INTEGER;
                    CREATE TABLE rollouts (
                        namespace TEXT NOT NULL, pipeline TEXT NOT NULL, id INTEGER NOT NULL, version INTEGER NOT NULL,
                        base_version INTEGER NOT NULL, strategy TEXT NOT NULL, state TEXT NOT NULL, reason TEXT,
                        started_by TEXT NOT NULL, started_at DATETIME NOT NULL, ended_at DATETIME,
                        PRIMARY KEY (namespace, pipeline, id),
                        FOREIGN KEY (namespace, pipeline) REFERENCES pipelines(namespace, id) ON DELETE CASCADE);
                    CREATE UNIQUE INDEX one_active_rollout ON rollouts(namespace, pipeline) WHERE state = 'active';
                    """)
        }
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
}
