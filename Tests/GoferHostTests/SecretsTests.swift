import ExtensionSDK
import Foundation
import GoferHost
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

/// Secrets in pipelines, through the real server: resolution at task start, masking in stored and
/// streamed logs, scopes, cleanup, and that a value shows up nowhere but the task's environment.
@Suite(.serialized)
struct SecretsTests {
    /// Every file under `dir` that contains `needle` (the embedded store's file is encrypted, so
    /// none should).
    static func filesContaining(_ needle: String, in dir: String) -> [String] {
        var found: [String] = []
        let enumerator = FileManager.default.enumerator(atPath: dir)
        while let relative = enumerator?.nextObject() as? String {
            let path = dir + "/" + relative
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue,
                let data = FileManager.default.contents(atPath: path)
            else { continue }
            if data.range(of: Data(needle.utf8)) != nil { found.append(relative) }
        }
        return found
    }

    static let pipeline = """
        id: deploy
        tasks:
          - id: show
            image: none
            command: ["sh", "-c", "echo \\"token=$TOKEN\\"; echo \\"url=$URL\\"; printf '%s\\\\n' \\"$CERT\\" | sed 's/^/> /'; printf 'split:%s' \\"$(echo $TOKEN | cut -c1-8)\\"; sleep 0.3; printf '%s|\\\\n' \\"$(echo $TOKEN | cut -c9-)\\"; echo short=$PIN"]
            env:
              TOKEN: secret{{api_token}}
              URL: https://user:global_secret{{registry_password}}@registry.example.com
              CERT: secret{{cert}}
              PIN: secret{{pin}}
        """

    func exercise(_ h: ServerHarness, storeName: String) async throws {
        let secrets = h.server.secrets
        let token = "tok-\(UUID().uuidString.prefix(18))"
        let password = "pw-\(UUID().uuidString.prefix(12))"
        let cert = "-----BEGIN-----\nline-one-\(UUID().uuidString.prefix(6))\nline-two-\(UUID().uuidString.prefix(6))\n-----END-----"
        // Applying before the secrets exist works, with a warning per missing reference.
        let (config, _) = try h.server.api.loader.loadLocated(Self.pipeline, file: "deploy.yaml")
        _ = try await h.server.pipelines.apply(namespace: "default", config: config)
        let warnings = await secrets.problems(namespace: "default", config: config)
        #expect(warnings.count == 4 && warnings.contains { $0.contains("secret{{api_token}} does not exist") }, "\(warnings)")
        // A run without them fails the task clearly, before anything starts.
        let (failed, failedTasks) = try await h.runToEnd("deploy")
        #expect(failed.state == .failed)
        #expect(
            failedTasks[0].reason?.kind == .secretError && failedTasks[0].reason?.message.contains("does not exist") == true,
            "\(failedTasks)")

        try await secrets.putPipelineSecret(namespace: "default", pipeline: "deploy", name: "api_token", value: Array(token.utf8))
        try await secrets.putPipelineSecret(namespace: "default", pipeline: "deploy", name: "cert", value: Array(cert.utf8))
        try await secrets.putPipelineSecret(namespace: "default", pipeline: "deploy", name: "pin", value: Array("123".utf8))
        _ = try await secrets.putGlobalSecret(name: "registry_password", value: Array(password.utf8), namespaces: ["team-*"])
        // Not allowed in this namespace yet.
        let (denied, deniedTasks) = try await h.runToEnd("deploy")
        #expect(
            denied.state == .failed && deniedTasks[0].reason?.message.contains("not allowed in namespace default") == true, "\(deniedTasks)"
        )
        _ = try await secrets.putGlobalSecret(name: "registry_password", value: Array(password.utf8), namespaces: ["team-*", "def*"])
        #expect(await secrets.problems(namespace: "default", config: config).isEmpty)

        let (run, tasks) = try await h.runToEnd("deploy")
        #expect(run.state == .succeeded, "\(tasks)")
        let log = h.log("deploy", run: run.id, task: "show")
        #expect(log.contains("token=********\n"), "\(log)")
        #expect(log.contains("url=https://user:********@registry.example.com\n"), "\(log)")
        #expect(log.contains("> ********\n> ********\n> ********\n> ********\n"), "multi-line secrets are masked line by line: \(log)")
        #expect(log.contains("split:********|"), "a value split across writes is still masked: \(log)")
        #expect(log.contains("short=123\n"), "values under 4 characters are not masked (documented)")
        for value in [token, password, "line-one", "line-two"] {
            #expect(!log.contains(value), "\(value) leaked into the log")
        }
        // Through the API too (stored and followed logs are the same file).
        try await h.withRouter { client in
            let logs = try await client.execute(
                uri: "/api/namespaces/default/pipelines/deploy/runs/\(run.id)/tasks/show/logs", method: .get)
            #expect(String(buffer: logs.body) == log)
            let detail = try await client.execute(uri: "/api/namespaces/default/pipelines/deploy/runs/\(run.id)", method: .get)
            #expect(!String(buffer: detail.body).contains(token))
            let hidden = try await client.execute(uri: "/api/namespaces/default/pipelines/deploy/secrets/api_token", method: .get)
            #expect(hidden.status == .ok && !String(buffer: hidden.body).contains(token))
            let shown = try await client.execute(
                uri: "/api/namespaces/default/pipelines/deploy/secrets/api_token?reveal=true", method: .get)
            #expect(String(buffer: shown.body).contains(token))
            let list = try await client.execute(uri: "/api/namespaces/default/pipelines/deploy/secrets", method: .get)
            #expect(String(buffer: list.body).contains("api_token") && !String(buffer: list.body).contains(token))
            let bad = try await client.execute(
                uri: "/api/namespaces/default/pipelines/deploy/secrets/a%2F..", method: .put, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"value": "x"}"#))
            #expect(bad.status == .badRequest || bad.status == .notFound, "\(bad.status)")
            let huge = try await client.execute(
                uri: "/api/namespaces/default/pipelines/deploy/secrets/big", method: .put, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: "{\"value\": \"" + String(repeating: "x", count: (1 << 20) + 1) + "\"}"))
            #expect(huge.status == .contentTooLarge, "\(huge.status) \(String(buffer: huge.body).prefix(200))")
        }
        // The values are nowhere in the data directory: not the database, not the logs, not the store file.
        for value in [token, password] {
            #expect(
                Self.filesContaining(value, in: h.dir.path).isEmpty,
                "\(storeName): \(value) found in \(Self.filesContaining(value, in: h.dir.path))")
        }
        #expect(try await h.server.store.integrityCheck() == "ok")

        // Deleting the pipeline deletes its secrets; global ones stay.
        try await h.server.pipelines.delete(namespace: "default", pipeline: "deploy")
        await secrets.pipelineDeleted(namespace: "default", pipeline: "deploy")
        _ = try await h.server.pipelines.apply(namespace: "default", config: config)
        #expect(try await secrets.pipelineSecretNames(namespace: "default", pipeline: "deploy").isEmpty, "cleaned up with the pipeline")
        #expect(try await secrets.globalSecrets().map(\.name) == ["registry_password"])
    }

    @Test func secretsWithTheEmbeddedStoreAreResolvedMaskedAndCleanedUp() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            try await exercise(h, storeName: "embedded")
        }
    }

    @Test func secretsWithOpenBaoAreResolvedMaskedAndCleanedUp() async throws {
        guard let bao = try await OpenBao.start() else { return }
        return try await stopping({ await bao.stop() }) {
            let h = try await ServerHarness {
                $0.secretStore = "vault"
                $0.vaultAddress = bao.address
                $0.vaultToken = OpenBao.rootToken
            }
            try await stopping({ await h.stop() }) {
                try await exercise(h, storeName: "vault")
                // The values live in Vault under the host's naming.
                let stored = try await bao.api("GET", "/v1/secret/metadata/gofer/global?list=true")
                #expect(stored.text.contains("registry_password"), "\(stored.text)")
            }
        }
    }

    @Test func cleanupCanBeTurnedOffAndAWrongKeyStopsTheServerClearly() async throws {
        let h = try await ServerHarness { $0.secretCleanup = false }
        _ = try await h.apply("id: keep\ntasks:\n  - { id: t, image: none, command: [\"true\"] }\n")
        try await h.server.secrets.putPipelineSecret(namespace: "default", pipeline: "keep", name: "a", value: Array("value-a".utf8))
        try await h.server.pipelines.delete(namespace: "default", pipeline: "keep")
        await h.server.secrets.pipelineDeleted(namespace: "default", pipeline: "keep")
        _ = try await h.apply("id: keep\ntasks:\n  - { id: t, image: none, command: [\"true\"] }\n")
        #expect(try await h.server.secrets.pipelineSecretNames(namespace: "default", pipeline: "keep") == ["a"])
        await h.stop()
        // The generated key is in the data directory, readable by the owner only.
        let mode = try FileManager.default.attributesOfItem(atPath: h.dir.path + "/secrets.key")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        do {
            _ = try await ServerHarness {
                $0.dataDir = h.dir.path
                $0.secretStoreKey = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
            }
            Issue.record("a server with the wrong key started")
        } catch {
            #expect("\(error)".contains("the key does not open the secret store"), "\(error)")
        }
    }
}
