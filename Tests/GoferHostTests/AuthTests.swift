import ExtensionSDK
import Foundation
import GoferHost
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

/// Tokens, their refusals, rate limits, the first admin token and its recovery, identities in the
/// records, and the CLI's token commands.
@Suite(.serialized)
struct AuthTests {
    func body(_ r: TestResponse) -> JSONValue { (try? JSONParser().parse(Array(r.body.readableBytesView))) ?? .null }

    func message(_ r: TestResponse) -> String { body(r)["message"]?.stringValue ?? String(buffer: r.body) }

    @Test func everyWrongTokenGetsA401SayingWhatIsWrong() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            let other = try await ServerHarness()
            let foreign = other.adminToken
            await other.stop()
            let good = TokenSecret.generate().text
            var chars = Array(h.adminToken)
            chars[10] = chars[10] == "a" ? "b" : "a"
            let flipped = String(chars)
            let expired = TokenSecret.generate()
            try await h.server.store.createToken(
                APIToken(
                    id: "tok_expired", name: "old-ci", kind: .user, roles: ["admin"], namespaces: ["*"], createdAt: Date(timeIntervalSinceNow: -7200),
                    expiresAt: Date(timeIntervalSinceNow: -3600)), hash: expired.hash)
            let revokedSecret = try await h.makeToken("leaked", roles: ["user"])
            try await h.withRouter { client in
                let revoke = try await client.execute(uri: "/api/tokens/tok_leaked?reason=pasted%20in%20chat", method: .delete)
                #expect(revoke.status == .ok && body(revoke)["revoked_reason"] == "pasted in chat", "\(String(buffer: revoke.body))")
                let cases: [(String?, String)] = [
                    (nil, "needs a token"),
                    ("Basic YWRtaW46YWRtaW4=", "must be \"Bearer <token>\""),
                    ("Bearer", "must be \"Bearer <token>\""),
                    ("Bearer gofer_short", "is 11 characters long; Gofer tokens have 55"),
                    ("Bearer ghp_" + String(repeating: "a", count: 36), "does not start with gofer_"),
                    ("Bearer " + flipped, "checksum does not match"),
                    ("Bearer " + good, "not known to this server"),
                    ("Bearer " + foreign, "not known to this server"),
                    ("Bearer " + revokedSecret, "token leaked (tok_leaked) was revoked at"),
                    ("Bearer " + expired.text, "token old-ci (tok_expired) expired at"),
                ]
                for (header, expected) in cases {
                    var headers = HTTPFields()
                    headers[.authorization] = header ?? ""
                    let r = try await client.execute(uri: "/api/namespaces", method: .get, headers: header == nil ? [.authorization: ""] : headers)
                    #expect(r.status == .unauthorized, "\(header ?? "no header") → \(r.status)")
                    #expect(message(r).contains(expected), "\(header ?? "no header"): \(message(r))")
                    #expect(r.headers[.wwwAuthenticate] == #"Bearer realm="gofer""#)
                }
                // Nothing was changed by any of them, and a good token still works.
                let ok = try await client.execute(uri: "/api/whoami", method: .get)
                #expect(ok.status == .ok && body(ok)["roles"] == ["admin"])
            }
            // Only hashes are stored: no token text anywhere in the data directory but the bootstrap file.
            for secret in [h.adminToken, revokedSecret, expired.text] {
                #expect(
                    SecretsTests.filesContaining(secret, in: h.dir.path).allSatisfy { $0 == "admin-token" },
                    "\(SecretsTests.filesContaining(secret, in: h.dir.path))")
            }
        }
    }

    @Test func failedAuthenticationsAndOpenRoutesAreLimitedPerAddress() async throws {
        let h = try await ServerHarness {
            $0.rateLimitAuthFailures = RateLimit(count: 20, per: .seconds(3600))  // refills too slowly to matter during the test
            $0.rateLimitPublic = RateLimit(count: 50, per: .seconds(3600))
        }
        return try await stopping({ await h.stop() }) {
            try await h.withRouter(token: "") { client in
                var statuses: [Int: Int] = [:]
                var retryAfter: Set<String> = []
                for _ in 0..<10_000 {
                    let r = try await client.execute(
                        uri: "/api/namespaces", method: .get,
                        headers: [.authorization: "Bearer " + TokenSecret.generate().text])
                    statuses[Int(r.status.code), default: 0] += 1
                    if let ra = r.headers[.retryAfter] { retryAfter.insert(ra) }
                }
                #expect(statuses[401] == 20 && statuses[429] == 9980, "\(statuses)")
                #expect(!retryAfter.isEmpty && retryAfter.allSatisfy { (Int($0) ?? 0) >= 1 }, "\(retryAfter)")
                // The address is locked out for a while, even with a good token: guessing stops paying.
                let locked = try await client.execute(uri: "/api/whoami", method: .get, headers: [.authorization: "Bearer \(h.adminToken)"])
                #expect(locked.status == .tooManyRequests && message(locked).contains("failed authentications"), "\(message(locked))")
                var health: [Int: Int] = [:]
                for _ in 0..<60 { health[Int(try await client.execute(uri: "/api/health", method: .get).status.code), default: 0] += 1 }
                #expect(health[200] == 50 && health[429] == 10, "\(health)")
            }
        }
    }

    @Test func aTrustedProxyNamesTheClientAndOthersCannot() async throws {
        let h = try await ServerHarness {
            $0.rateLimitAuthFailures = RateLimit(count: 3, per: .seconds(3600))
            $0.trustedProxies = [CIDR("127.0.0.1")!]
        }
        return try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            let http = SimpleHTTPClient(endpoint: .tcp(host: "127.0.0.1", port: port))
            func get(_ token: String, from client: String) async throws -> Int {
                try await http.send("GET", path: "/api/whoami", headers: ["Authorization": "Bearer \(token)", "X-Forwarded-For": "\(client), 127.0.0.1"]).status
            }
            let bad = TokenSecret.generate().text
            var seen: [Int] = []
            for _ in 0..<5 { seen.append(try await get(bad, from: "203.0.113.9")) }
            #expect(seen == [401, 401, 401, 429, 429], "\(seen)")
            // Another client behind the same proxy is not affected.
            #expect(try await get(h.adminToken, from: "203.0.113.10") == 200)
        }
    }

    @Test func theFirstAdminTokenIsA0600FileAndTheLocalRecoveryWorksWhileServing() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            let file = AdminBootstrap.tokenFile(dataDir: h.dir.path)
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int)
            #expect(mode == 0o600, "\(String(mode, radix: 8))")
            #expect(h.server.bootstrapTokenFile == file)
            let first = h.adminToken
            let port = try await h.server.startHTTP()
            // Lose every admin token.
            let me: APIToken = try await h.client(port: port).call("GET", "/api/whoami")
            let _: APIToken = try await h.client(port: port).call("DELETE", "/api/tokens/\(me.id)")
            await #expect(throws: APIError.self) { let _: APIToken = try await h.client(port: port, token: first).call("GET", "/api/whoami") }
            // Recovery on the server's machine, while it runs.
            let result = try await ChildProcess.run(
                BuiltProducts.path("gofer"),
                arguments: ["service", "reset-admin", "--data-dir", h.dir.path] + (h.server.settings.databaseURL.map { ["--database-url", $0] } ?? []),
                environment: ProcessInfo.processInfo.environment)
            #expect(result.status == .exited(0), "\(String(decoding: result.stderr, as: UTF8.self))")
            let second = h.adminToken
            #expect(second != first)
            let again: APIToken = try await h.client(port: port, token: second).call("GET", "/api/whoami")
            #expect(again.roles == ["admin"] && again.name.hasPrefix("admin (recovery"))
            // A restart on the same data directory makes no new token.
            await h.stop()
            let restarted = try await GoferServer(settings: h.server.settings)
            #expect(restarted.bootstrapTokenFile == nil && h.adminToken == second)
            await restarted.stop()
        }
    }

    @Test func recordsNameTheTokenThatActed() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            let alice = try await h.makeToken("alice", roles: ["user"])
            try await h.withRouter(token: alice) { client in
                let config = "id: who\ntasks:\n  - { id: t, image: x, command: [\"sleep\", \"5\"] }\n"
                var r = try await client.execute(
                    uri: "/api/namespaces/default/pipelines", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(bytes: (["config": .string(config)] as JSONValue).serialized()))
                #expect(r.status == .created)
                r = try await client.execute(uri: "/api/namespaces/default/pipelines/who/runs", method: .post)
                #expect(body(r)["initiator"] == ["kind": "token", "id": "tok_alice", "name": "alice"], "\(String(buffer: r.body))")
                r = try await client.execute(
                    uri: "/api/namespaces/default/pipelines/who/secrets/k", method: .put, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: #"{"value": "canary-7f3a"}"#))
                #expect(r.status == .ok)
                r = try await client.execute(
                    uri: "/api/namespaces/default/pipelines/who/runs/1/cancel", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: #"{"reason": "wrong branch"}"#))
                #expect(r.status == .accepted)
            }
            let run = try await h.server.engine.waitForRun(namespace: "default", pipeline: "who", run: 1)
            #expect(run.reason?.message == "cancelled by alice (tok_alice): wrong branch", "\(String(describing: run.reason))")
            let events = try await h.server.store.events(namespace: "default", pipeline: "who", after: 0, limit: 100).items
            for kind in [EventKind.pipelineApplied, .runQueued, .secretWritten] {
                let e = events.first { $0.kind == kind }
                #expect(e?.details["actor_id"] == "tok_alice" && e?.details["actor_name"] == "alice", "\(kind): \(String(describing: e))")
            }
            #expect(!events.contains { $0.details.values.contains { $0.contains("canary-7f3a") } }, "no secret value in events")
        }
    }

    @Test func nobodyHandsOutMoreThanTheyHold() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            let admin = h.adminToken
            try await h.withRouter(token: admin) { client in
                var r = try await client.execute(
                    uri: "/api/roles", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: #"{"id": "token-maker", "grants": [{"resources": ["tokens"], "actions": ["write"], "namespaces": ["*"]}]}"#))
                #expect(r.status == .created, "\(String(buffer: r.body))")
                r = try await client.execute(
                    uri: "/api/roles", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: #"{"id": "bad", "grants": [{"resources": ["everything"], "actions": ["read"], "namespaces": ["*"]}]}"#))
                #expect(r.status == .badRequest && message(r).contains("unknown resource \"everything\""), "\(message(r))")
                r = try await client.execute(
                    uri: "/api/tokens", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: #"{"name": "maker", "roles": ["token-maker"]}"#))
                let maker = try #require(body(r)["secret"]?.stringValue, "\(String(buffer: r.body))")
                #expect(maker.hasPrefix("gofer_") && maker.count == 55)
                r = try await client.execute(
                    uri: "/api/tokens", method: .post, headers: [.contentType: "application/json", .authorization: "Bearer \(maker)"],
                    body: ByteBuffer(string: #"{"name": "sneaky", "roles": ["admin"]}"#))
                #expect(r.status == .forbidden && message(r).contains("cannot hand out"), "\(message(r))")
                r = try await client.execute(
                    uri: "/api/tokens", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: #"{"name": "x", "roles": ["nope"]}"#))
                #expect(r.status == .badRequest && body(r)["details"]?.arrayValue?.first?["field"] == "/roles/0", "\(String(buffer: r.body))")
                r = try await client.execute(
                    uri: "/api/tokens", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: #"{"name": "x", "roles": ["user"], "expires_in": "forever"}"#))
                #expect(r.status == .badRequest && message(r).contains("expires_in"), "\(message(r))")
                // A role in use cannot be deleted.
                r = try await client.execute(uri: "/api/roles/token-maker", method: .delete)
                #expect(r.status == .conflict && message(r).contains("maker"), "\(message(r))")
                r = try await client.execute(uri: "/api/roles/admin", method: .delete)
                #expect(r.status == .conflict && message(r).contains("built in"), "\(message(r))")
            }
        }
    }

    @Test func registryPasswordsMustBeSecretReferences() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            try await h.withRouter { client in
                let plain = "id: reg\ntasks:\n  - id: t\n    image: registry.example.com/app\n    registry_auth: { username: bot, password: hunter2 }\n"
                var r = try await client.execute(
                    uri: "/api/namespaces/default/pipelines", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(bytes: (["config": .string(plain), "file": "reg.yaml"] as JSONValue).serialized()))
                #expect(r.status == .unprocessableContent)
                let detail = body(r)["details"]?.arrayValue?.first
                #expect(detail?["field"] == "/tasks/0/registry_auth/password" && detail?["line"] == 5, "\(String(buffer: r.body))")
                #expect(!String(buffer: r.body).contains("hunter2"))
                let ref = plain.replacingOccurrences(of: "hunter2", with: "\"secret{{registry_password}}\"")
                r = try await client.execute(
                    uri: "/api/namespaces/default/pipelines", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(bytes: (["config": .string(ref)] as JSONValue).serialized()))
                #expect(r.status == .created, "\(String(buffer: r.body))")
                #expect(body(r)["warnings"]?.arrayValue?.first?.stringValue?.contains("registry_password") == true, "\(String(buffer: r.body))")
            }
            #expect(SecretsTests.filesContaining("hunter2", in: h.dir.path).isEmpty)
        }
    }

    @Test func theCLILogsInAndManagesTokensAndRoles() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            let config = h.dir.path + "/cli.json"
            let env = ["GOFER_HOST": "127.0.0.1:\(port)", "GOFER_CLI_CONFIG": config, "GOFER_DATA_DIR": "/nonexistent"]
            let e2e = EndToEndTests()
            var (status, out) = try await e2e.gofer(["pipeline", "list"], env: env)
            #expect(status == .exited(1) && out.contains("needs a token"), "\(out)")
            (status, out) = try await e2e.gofer(["login", "--token-file", AdminBootstrap.tokenFile(dataDir: h.dir.path)], env: env)
            #expect(status == .exited(0) && out.contains("logged in") && out.contains("admin (first start)"), "\(out)")
            let mode = try FileManager.default.attributesOfItem(atPath: config)[.posixPermissions] as? Int
            #expect(mode == 0o600, "the CLI config holds a token: \(String(mode ?? 0, radix: 8))")
            (status, out) = try await e2e.gofer(["whoami"], env: env)
            #expect(status == .exited(0) && out.contains("admin"), "\(out)")
            (status, out) = try await e2e.gofer(["token", "create", "ci", "--role", "read-only", "--namespaces", "default", "--json"], env: env)
            let created = try JSONParser().parse(Array(out.utf8))
            let secret = try #require(created["secret"]?.stringValue, "\(out)")
            let id = try #require(created["token"]?["id"]?.stringValue)
            (status, out) = try await e2e.gofer(["pipeline", "list"], env: env.merging(["GOFER_TOKEN": secret]) { _, b in b })
            #expect(status == .exited(0), "read-only may list: \(out)")
            (status, out) = try await e2e.gofer(["namespace", "create", "x"], env: env.merging(["GOFER_TOKEN": secret]) { _, b in b })
            #expect(status == .exited(1) && out.contains("lacks namespaces:write"), "\(out)")
            (status, out) = try await e2e.gofer(["token", "list"], env: env)
            #expect(out.contains("ci") && out.contains("read-only") && !out.contains(secret), "\(out)")
            (status, out) = try await e2e.gofer(["token", "revoke", id, "--reason", "rotated"], env: env)
            #expect(status == .exited(0), "\(out)")
            (status, out) = try await e2e.gofer(["whoami"], env: env.merging(["GOFER_TOKEN": secret]) { _, b in b })
            #expect(status == .exited(1) && out.contains("was revoked") && out.contains("rotated"), "\(out)")
            (status, out) = try await e2e.gofer(["role", "create", "deployer", "--grant", "runs,pipelines:read,write@team-*"], env: env)
            #expect(status == .exited(0), "\(out)")
            (status, out) = try await e2e.gofer(["role", "get", "deployer"], env: env)
            #expect(out.contains("runs,pipelines") && out.contains("read,write") && out.contains("team-*"), "\(out)")
            (status, out) = try await e2e.gofer(["role", "delete", "deployer"], env: env)
            #expect(status == .exited(0), "\(out)")
        }
    }
}

/// A database from an older server, with a plain registry password in a stored version: an
/// embedded database's migration (no PostgreSQL installation predates it).
@Suite(.serialized, .enabled(if: !ServerHarness.onPostgres, "a migration of embedded databases older than PostgreSQL support"))
struct PlainRegistryPasswordMigrationTests {
    @Test func aStoredPlainPasswordIsRemovedAndItsPipelineToldWhatToDo() async throws {
        let h = try await ServerHarness()
        _ = try await h.apply(
            "id: old\ntasks:\n  - id: t\n    image: registry.example.com/app\n    registry_auth: { username: bot, password: \"secret{{pw}}\" }\n    command: [\"true\"]\n"
        )
        // What an older server stored: the password itself; and the migration not yet run.
        try await #require(h.server.store as? SQLStore).executeForTesting(
            "UPDATE pipeline_versions SET config = replace(config, 'secret{{pw}}', 'hunter2-plain-password')")
        try await #require(h.server.store as? SQLStore).executeForTesting("DELETE FROM grdb_migrations WHERE identifier LIKE 'v7:%'")
        await h.stop()
        let server = try await GoferServer(settings: h.server.settings)
        return try await stopping({ await server.stop() }) {
            let version = try await server.store.pipelineVersion(namespace: "default", pipeline: "old")
            #expect(version.config.tasks[0].registryAuth?.password == "")
            let errors = try await server.store.pipelineErrors(namespace: "default", pipeline: "old")
            #expect(errors.first?.kind == "registry_password_removed" && errors.first?.message.contains("secret{{NAME}}") == true, "\(errors)")
            #expect(SecretsTests.filesContaining("hunter2-plain-password", in: h.dir.path).isEmpty, "no copy left in the data directory")
            let run = try await server.engine.startRun(namespace: "default", pipeline: "old", initiator: .system)
            let done = try await server.engine.waitForRun(namespace: "default", pipeline: "old", run: run.id)
            let task = try await server.store.tasks(namespace: "default", pipeline: "old", run: run.id)[0]
            #expect(done.state == .failed && task.reason?.kind == .secretError && task.reason?.message.contains("not a secret reference") == true)
        }
    }
}
