import ExtensionClient
import ExtensionSDK
import Foundation
import GoferHost
import TestSupport
import Testing

/// The two secret store extensions through the protocol, on what the conformance suite cannot
/// know: the embedded store's key and file handling, and Vault's auth, namespaces and errors
/// against a real OpenBao server.
@Suite(.serialized)
struct SecretStoreTests {
    static func key() -> String { Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString() }

    func open(_ executable: String, _ config: JSONValue, state: String? = nil) async throws -> ExtensionConnection {
        let c = try ExtensionConnection.spawn(ExtensionLaunch(executable: BuiltProducts.path(executable)))
        do {
            _ = try await c.initialize(InitializeOptions(kind: .secrets, adminConfig: config, stateDirectory: state))
        } catch {
            _ = await c.shutdown(deadline: .seconds(2))
            throw error
        }
        return c
    }

    func errorOf(_ body: () async throws -> Void) async -> (any Error)? {
        do {
            try await body()
            return nil
        } catch { return error }
    }

    // MARK: - Embedded

    @Test func theEmbeddedStoreEncryptsAtRestAndSurvivesRestarts() async throws {
        let dir = try TemporaryDirectory()
        let key = Self.key()
        let canary = "canary-\(UUID().uuidString)"
        let first = try await open("gofer-secrets-embedded", ["key": .string(key)], state: dir.path)
        _ = try await first.request("secrets/put", ["key": "pipelines/default/p/token", "value": .string(canary)])
        _ = try await first.request(
            "secrets/put", ["key": "global/bin", "valueB64": .string(Data([0, 255, 1, 254]).base64EncodedString())])
        _ = await first.shutdown()
        let file = try #require(FileManager.default.contents(atPath: dir.path + "/secrets.json"))
        #expect(!String(decoding: file, as: UTF8.self).contains(canary), "the value is not in the file in the clear")
        #expect(String(decoding: file, as: UTF8.self).contains("pipelines/default/p/token"), "names are, values are not")
        let mode = try FileManager.default.attributesOfItem(atPath: dir.path + "/secrets.json")[.posixPermissions] as? Int
        #expect(mode == 0o600, "only the server's user can read it")
        let c = try await open("gofer-secrets-embedded", ["key": .string(key)], state: dir.path)
        return try await stopping({ _ = await c.shutdown() }) { () async throws -> Void in
            #expect(try await c.request("secrets/get", ["key": "pipelines/default/p/token"])["value"]?.stringValue == canary)
            #expect(
                try await c.request("secrets/get", ["key": "global/bin"])["valueB64"]?.stringValue
                    == Data([0, 255, 1, 254]).base64EncodedString())
        }
    }

    @Test func aWrongKeyOrADamagedFileIsAClearErrorAndTheFileIsLeftAlone() async throws {
        let dir = try TemporaryDirectory()
        let c = try await open("gofer-secrets-embedded", ["key": .string(Self.key())], state: dir.path)
        _ = try await c.request("secrets/put", ["key": "a", "value": "precious"])
        _ = await c.shutdown()
        let path = dir.path + "/secrets.json"
        let before = try #require(FileManager.default.contents(atPath: path))

        let wrong = await errorOf { _ = try await open("gofer-secrets-embedded", ["key": .string(Self.key())], state: dir.path) }
        #expect("\(wrong.map { "\($0)" } ?? "")".contains("the key does not open the secret store"), "\(String(describing: wrong))")
        #expect(FileManager.default.contents(atPath: path) == before, "a wrong key never writes over the store")

        let short = await errorOf { _ = try await open("gofer-secrets-embedded", ["key": "c2hvcnQ="], state: dir.path) }
        #expect("\(short.map { "\($0)" } ?? "")".contains("32 random bytes"), "\(String(describing: short))")
        let missing = await errorOf { _ = try await open("gofer-secrets-embedded", .emptyObject, state: dir.path) }
        #expect("\(missing.map { "\($0)" } ?? "")".contains("key"), "\(String(describing: missing))")

        var damaged = before
        damaged.removeLast(before.count / 2)
        try damaged.write(to: URL(fileURLWithPath: path))
        let broken = await errorOf { _ = try await open("gofer-secrets-embedded", ["key": .string(Self.key())], state: dir.path) }
        #expect("\(broken.map { "\($0)" } ?? "")".contains("is damaged"), "\(String(describing: broken))")
        #expect(FileManager.default.contents(atPath: path) == damaged, "a damaged file is never overwritten")
    }

    @Test func aTamperedValueFailsItsIntegrityCheckInsteadOfDecryptingToGarbage() async throws {
        let dir = try TemporaryDirectory()
        let key = Self.key()
        let first = try await open("gofer-secrets-embedded", ["key": .string(key)], state: dir.path)
        _ = try await first.request("secrets/put", ["key": "a", "value": "value-a"])
        _ = try await first.request("secrets/put", ["key": "b", "value": "value-b"])
        _ = await first.shutdown()
        // Swap the sealed values of a and b: each is bound to its own name.
        let path = dir.path + "/secrets.json"
        var root = try JSONParser().parse(Array(try #require(FileManager.default.contents(atPath: path))))
        var entries = root["entries"]?.objectValue ?? [:]
        (entries["a"], entries["b"]) = (entries["b"], entries["a"])
        root["entries"] = .object(entries)
        try Data(root.description.utf8).write(to: URL(fileURLWithPath: path))
        let c = try await open("gofer-secrets-embedded", ["key": .string(key)], state: dir.path)
        return try await stopping({ _ = await c.shutdown() }) {
            let error = await errorOf { _ = try await c.request("secrets/get", ["key": "a"]) }
            #expect((error as? ProtocolError)?.message.contains("integrity check") == true, "\(String(describing: error))")
        }
    }

    @Test func concurrentPutsAllLand() async throws {
        let dir = try TemporaryDirectory()
        let c = try await open("gofer-secrets-embedded", ["key": .string(Self.key())], state: dir.path)
        return try await stopping({ _ = await c.shutdown() }) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<50 {
                    group.addTask { _ = try await c.request("secrets/put", ["key": .string("k/\(i)"), "value": .string("v\(i)")]) }
                }
                try await group.waitForAll()
            }
            let keys = try await c.request("secrets/list", ["prefix": "k/"])["keys"]?.arrayValue ?? []
            #expect(keys.count == 50)
            for i in [0, 17, 49] {
                #expect(try await c.request("secrets/get", ["key": .string("k/\(i)")])["value"]?.stringValue == "v\(i)")
            }
        }
    }

    // MARK: - Vault (OpenBao)

    @Test func vaultStoreWithTokenAppRoleAndNamespaces() async throws {
        guard let bao = try await OpenBao.start() else { return }
        return try await stopping({ await bao.stop() }) {
            // Token auth: round trip, the three meanings of 404.
            let c = try await open("gofer-secrets-vault", ["address": .string(bao.address), "token": "root", "prefix": "ci"])
            try await stopping({ _ = await c.shutdown() }) {
                _ = try await c.request("secrets/put", ["key": "pipelines/default/p/token", "value": "s3cret"])
                _ = try await c.request("secrets/put", ["key": "pipelines/default/p/token", "value": "s3cret-2"])
                #expect(try await c.request("secrets/get", ["key": "pipelines/default/p/token"])["value"] == "s3cret-2")
                let stored = try await bao.api("GET", "/v1/secret/data/ci/pipelines/default/p/token")
                #expect(stored.text.contains("\"version\":2"), "each put is a new KV version: \(stored.text)")
                let missing = await errorOf { _ = try await c.request("secrets/get", ["key": "nope"]) }
                #expect((missing as? ProtocolError)?.code == .notFound && (missing as? ProtocolError)?.message.contains("does not exist") == true)
                _ = try await bao.api("DELETE", "/v1/secret/data/ci/pipelines/default/p/token")
                let deleted = await errorOf { _ = try await c.request("secrets/get", ["key": "pipelines/default/p/token"]) }
                #expect((deleted as? ProtocolError)?.message.contains("was deleted") == true, "\(String(describing: deleted))")
                let wrongMount = try await open("gofer-secrets-vault", ["address": .string(bao.address), "token": "root", "mount": "nowhere"])
                try await stopping({ _ = await wrongMount.shutdown() }) {
                    let mountError = await errorOf { _ = try await wrongMount.request("secrets/get", ["key": "x"]) }
                    #expect((mountError as? ProtocolError)?.code == .failedPrecondition, "\(String(describing: mountError))")
                    #expect((mountError as? ProtocolError)?.message.contains("mount (nowhere)") == true, "\(String(describing: mountError))")

                    // AppRole: a policy limited to the prefix, a login, and a re-login once the token is revoked.
                    let policy =
                        #"path "secret/data/ci/*" { capabilities = ["create", "read", "update"] } path "secret/metadata/ci/*" { capabilities = ["read", "list", "delete"] }"#
                    _ = try await bao.api("PUT", "/v1/sys/policies/acl/gofer", body: ["policy": .string(policy)])
                    _ = try await bao.api("POST", "/v1/sys/auth/approle", body: ["type": "approle"])
                    _ = try await bao.api("POST", "/v1/auth/approle/role/gofer", body: ["token_policies": ["gofer"], "token_ttl": "20m"])
                    let roleID = try JSONParser().parse(try await bao.api("GET", "/v1/auth/approle/role/gofer/role-id").body)["data"]?["role_id"]?
                        .stringValue
                    let secretID = try JSONParser().parse(try await bao.api("POST", "/v1/auth/approle/role/gofer/secret-id", body: .emptyObject).body)[
                        "data"]?[
                            "secret_id"]?.stringValue
                    let role = try await open(
                        "gofer-secrets-vault",
                        ["address": .string(bao.address), "roleId": .string(roleID ?? ""), "secretId": .string(secretID ?? ""), "prefix": "ci"])
                    try await stopping({ _ = await role.shutdown() }) {
                        _ = try await role.request("secrets/put", ["key": "global/deploy", "value": "by-approle"])
                        #expect(try await role.request("secrets/get", ["key": "global/deploy"])["value"] == "by-approle")
                        #expect(try await role.request("secrets/list", ["prefix": "global/"])["keys"] == ["global/deploy"])
                        _ = try await bao.api("POST", "/v1/auth/token/revoke-orphan", body: .emptyObject)  // no-op: approle tokens are orphans
                        _ = try await bao.api("POST", "/v1/sys/leases/revoke-prefix/auth/approle/login", body: .emptyObject)
                        #expect(try await role.request("secrets/get", ["key": "global/deploy"])["value"] == "by-approle", "logged in again")
                        let badRole = await errorOf {
                            _ = try await open(
                                "gofer-secrets-vault", ["address": .string(bao.address), "roleId": .string(roleID ?? ""), "secretId": "wrong"]
                            ).request("secrets/get", ["key": "x"])
                        }
                        #expect((badRole as? ProtocolError)?.message.contains("AppRole login failed") == true, "\(String(describing: badRole))")

                        // An expired token is a clear permission error, not a hang or a generic failure.
                        let short = try JSONParser().parse(
                            try await bao.api("POST", "/v1/auth/token/create", body: ["ttl": "1s", "renewable": false, "policies": ["gofer"]]).body)
                        let expiring = try await open(
                            "gofer-secrets-vault",
                            ["address": .string(bao.address), "token": .string(short["auth"]?["client_token"]?.stringValue ?? ""), "prefix": "ci"])
                        try await stopping({ _ = await expiring.shutdown() }) {
                            try await Task.sleep(for: .seconds(2.5))
                            let expired = await errorOf { _ = try await expiring.request("secrets/get", ["key": "global/deploy"]) }
                            #expect((expired as? ProtocolError)?.code == .permissionDenied, "\(String(describing: expired))")

                            // Namespaces: the same key in two namespaces holds two values.
                            _ = try await bao.api("POST", "/v1/sys/namespaces/team1", body: .emptyObject)
                            _ = try await bao.api("POST", "/v1/sys/mounts/secret", body: ["type": "kv", "options": ["version": "2"]], namespace: "team1")
                            let team = try await open(
                                "gofer-secrets-vault", ["address": .string(bao.address), "token": "root", "prefix": "ci", "namespace": "team1"])
                            try await stopping({ _ = await team.shutdown() }) {
                                _ = try await team.request("secrets/put", ["key": "global/deploy", "value": "team1's"])
                                #expect(try await team.request("secrets/get", ["key": "global/deploy"])["value"] == "team1's")
                                #expect(try await role.request("secrets/get", ["key": "global/deploy"])["value"] == "by-approle")
                            }
                        }
                    }
                }
            }
        }
    }

    @Test func aSealedOrUnreachableVaultIsARetryableError() async throws {
        guard let bao = try await OpenBao.start() else { return }
        let c = try await open("gofer-secrets-vault", ["address": .string(bao.address), "token": "root"])
        return try await stopping({ _ = await c.shutdown() }) {
            _ = try await c.request("secrets/put", ["key": "k", "value": "v"])
            _ = try await bao.api("PUT", "/v1/sys/seal")
            let sealed = await errorOf { _ = try await c.request("secrets/get", ["key": "k"]) }
            #expect(
                (sealed as? ProtocolError)?.code == .unavailable && (sealed as? ProtocolError)?.retryable == true,
                "\(String(describing: sealed))")
            #expect((sealed as? ProtocolError)?.message.contains("sealed") == true, "\(String(describing: sealed))")
            await bao.stop()
            let gone = await errorOf { _ = try await c.request("secrets/get", ["key": "k"]) }
            #expect(
                (gone as? ProtocolError)?.code == .unavailable && (gone as? ProtocolError)?.retryable == true, "\(String(describing: gone))")
            #expect((gone as? ProtocolError)?.message.contains("unreachable") == true, "\(String(describing: gone))")
        }
    }
}
