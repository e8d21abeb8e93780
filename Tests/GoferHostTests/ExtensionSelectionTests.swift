import Crypto
import ExtensionSDK
import Foundation
import GoferHost
import TestSupport
import Testing

/// Every kind is usable once installed: a server runs on a third-party scheduler and secret store
/// selected by their installed names, and refuses switches that would strand runs or secrets.
@Suite(.serialized)
struct ExtensionSelectionTests {
    /// A registry offering `my-scheduler` and `my-secrets`: third-party extensions (the process
    /// scheduler and the Python secret store in Extensions/python-secrets, on the Python SDK, each
    /// published under its own name: the fixture proxy renames them, as a registry refuses an entry
    /// whose executable calls itself something else).
    static func registry() throws -> TemporaryDirectory {
        let dir = try TemporaryDirectory()
        var entries: [JSONValue] = []
        // The secret store is the non-Swift example (Python, standard library only).
        let python = BuiltProducts.repositoryRoot.appendingPathComponent("Extensions/python-secrets/gofer_secrets.py").path
        let proxy = BuiltProducts.path("gofer-fixture-broken")
        for (name, kind, command) in [
            ("my-scheduler", "scheduler", "\(proxy) --faults name:my-scheduler -- \(BuiltProducts.path("gofer-scheduler-process"))"),
            ("my-secrets", "secrets", "\(proxy) --faults name:my-secrets -- /usr/bin/env python3 \(python)"),
        ] {
            let path = dir.path + "/" + name
            try "#!/bin/sh\nexec \(command) \"$@\"\n".write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o755)
            let sha = SHA256.hash(data: FileManager.default.contents(atPath: path) ?? Data()).map { String(format: "%02x", $0) }.joined()
            entries.append([
                "name": .string(name), "kind": .string(kind),
                "versions": [["version": "0.1.0", "protocolVersions": ["1.1"], "source": ["path": .string(name)], "sha256": .string(sha)]],
            ])
        }
        let index: JSONValue = ["registry": "third-party", "extensions": .array(entries)]
        try index.description.write(toFile: dir.path + "/index.json", atomically: true, encoding: .utf8)
        return dir
    }

    /// `first_start_extensions` takes only what ships with gofer, and says so naming them.
    @Test func aFirstStartExtensionFromElsewhereIsRefusedNamingTheShippedOnes() async throws {
        do {
            let h = try await ServerHarness { $0.firstStartExtensions = ["github", "slack-notify"] }
            await h.stop()
            Issue.record("a first start with slack-notify (not shipped) was not refused")
        } catch {
            let text = "\(error)"
            #expect(text.contains("\"slack-notify\" is not shipped with gofer") && text.contains("github") && text.contains("gofer extension install slack-notify"), "\(text)")
        }
    }

    @Test func aSecretStoreThatNeverHeldASecretCanBeSwitchedAway() async throws {
        let h = try await ServerHarness()
        var settings = h.server.settings
        await h.stop()
        settings.secretStore = "none"
        let server = try await GoferServer(settings: settings)
        await server.stop()
        // And back, then a secret stored: from now on a switch is refused.
        settings.secretStore = "embedded"
        let again = try await GoferServer(settings: settings)
        try await stopping({ await again.stop() }) {
            _ = try await again.secrets.putGlobalSecret(name: "kept", value: Array("v".utf8), namespaces: ["*"])
        }
        settings.secretStore = "none"
        await #expect(throws: (any Error).self) { let s = try await GoferServer(settings: settings); await s.stop() }
    }

    @Test func aServerRunsOnAThirdPartySchedulerAndSecretStoreSelectedByName() async throws {
        let registry = try Self.registry()
        let h = try await ServerHarness { $0.registries = [registry.path + "/index.json"] }
        try await h.server.extensions.install("my-scheduler", .latest)
        try await h.server.extensions.install("my-secrets", .latest)
        _ = try await h.server.secrets.putGlobalSecret(name: "kept", value: Array("v".utf8), namespaces: ["*"])
        var settings = h.server.settings
        await h.stop()

        // A secret was stored in the embedded store: switching away is refused…
        settings.scheduler = "my-scheduler"
        settings.secretStore = "my-secrets"
        do {
            _ = try await GoferServer(settings: settings)
            Issue.record("switching the secret store was not refused")
        } catch {
            #expect("\(error)".contains("secret_store_switch"), "\(error)")
        }
        // …unless the admin says so.
        settings.secretStoreSwitch = true
        let server = try await GoferServer(settings: settings)
        return try await stopping({ await server.stop() }) {
            let config = try server.api.loader.load(
                "id: third\ntasks:\n  - { id: t, image: none, command: [\"sh\", \"-c\", \"test \\\"$TOKEN\\\" = s3cr3t && echo ok\"], env: { TOKEN: \"secret{{token}}\" } }\n",
                file: "p.yaml")
            _ = try await server.store.apply(namespace: "default", config: config)
            try await server.secrets.putPipelineSecret(namespace: "default", pipeline: "third", name: "token", value: Array("s3cr3t".utf8))
            let run = try await server.engine.startRun(namespace: "default", pipeline: "third", initiator: .system)
            let done = try await server.engine.waitForRun(namespace: "default", pipeline: "third", run: run.id)
            #expect(done.state == .succeeded, "\(done)")
            let list = try await server.extensions.list()
            for name in ["my-scheduler", "my-secrets"] {
                #expect(list.first { $0.name == name }?.status.hasPrefix("running") == true, "\(list.map { "\($0.name): \($0.status)" })")
            }
        }
    }

    /// Extensions written with the Python SDK, packed into one file each and published in a
    /// registry, are installed by name and selected: the docker-CLI scheduler (as `gofer extension
    /// new` writes it) runs a 3-task DAG on
    /// the real engine and the file secret store serves a task's `secret{{…}}`.
    @Test func aServerRunsOnPythonSDKExtensionsSelectedByName() async throws {
        guard try await DockerAvailability.check() else { return }
        let dir = try TemporaryDirectory()
        var entries: [JSONValue] = []
        let sources = try TemporaryDirectory()
        let scheduler = try await PythonSDK.scaffold("py-docker", kind: .scheduler, in: sources.path)
        for (name, kind, script) in [("py-docker", "scheduler", scheduler), ("python-secrets", "secrets", "Extensions/python-secrets/gofer_secrets.py")] {
            let sha = try await PythonSDK.pack(script, to: dir.path + "/" + name)
            entries.append([
                "name": .string(name), "kind": .string(kind),
                "versions": [["version": "0.1.0", "protocolVersions": ["1.1"], "source": ["path": .string(name)], "sha256": .string(sha)]],
            ])
        }
        let index: JSONValue = ["registry": "python", "extensions": .array(entries)]
        try index.description.write(toFile: dir.path + "/index.json", atomically: true, encoding: .utf8)
        let h = try await ServerHarness { $0.registries = [dir.path + "/index.json"] }
        try await h.server.extensions.install("py-docker", .latest)
        try await h.server.extensions.install("python-secrets", .latest)
        var settings = h.server.settings
        await h.stop()
        settings.scheduler = "py-docker"
        settings.secretStore = "python-secrets"
        let server = try await GoferServer(settings: settings)
        return try await stopping({ await server.stop() }) {
            let config = try server.api.loader.load(
                """
                id: python-sdk
                tasks:
                  - { id: first, image: busybox:latest, command: ["echo", "one"] }
                  - { id: secret, image: busybox:latest, depends_on: [first], env: { TOKEN: "secret{{token}}" }, command: ["sh", "-c", "test \\"$TOKEN\\" = s3cr3t && echo has-the-secret"] }
                  - { id: last, image: busybox:latest, depends_on: [secret], command: ["sh", "-c", "echo three >&2; exit 0"] }

                """, file: "p.yaml")
            _ = try await server.store.apply(namespace: "default", config: config)
            try await server.secrets.putPipelineSecret(namespace: "default", pipeline: "python-sdk", name: "token", value: Array("s3cr3t".utf8))
            let run = try await server.engine.startRun(namespace: "default", pipeline: "python-sdk", initiator: .system)
            let done = try await server.engine.waitForRun(namespace: "default", pipeline: "python-sdk", run: run.id)
            let tasks = try await server.store.tasks(namespace: "default", pipeline: "python-sdk", run: run.id)
            #expect(done.state == .succeeded, "\(done) \(tasks.map { "\($0.task) \($0.state) \($0.reason?.message ?? "")" })")
            func log(_ task: String) -> String {
                let path = LogFiles(root: settings.dataDir + "/logs").path(namespace: "default", pipeline: "python-sdk", run: run.id, task: task)
                return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            }
            #expect(log("first") == "one\n" && log("secret") == "has-the-secret\n" && log("last") == "three\n", "\(log("first"))|\(log("secret"))|\(log("last"))")
            #expect(tasks.allSatisfy { ($0.startedAt ?? .distantFuture) <= ($0.endedAt ?? .distantPast) }, "engine times: \(tasks)")
        }
    }

    @Test func aSchedulerSwitchWithRunsInProgressIsRefusedAndAWrongKindIsNamed() async throws {
        let registry = try Self.registry()
        let h = try await ServerHarness { $0.registries = [registry.path + "/index.json"] }
        try await h.server.extensions.install("my-scheduler", .latest)
        try await h.server.extensions.install("my-secrets", .latest)
        _ = try await h.apply("id: busy\ntasks:\n  - { id: t, image: none, command: [\"true\"] }\n")
        _ = try await h.server.store.createRun(namespace: "default", pipeline: "busy", initiator: .system)  // left pending
        var settings = h.server.settings
        await h.stop()
        settings.scheduler = "my-scheduler"
        do {
            _ = try await GoferServer(settings: settings)
            Issue.record("the switch was not refused")
        } catch {
            #expect("\(error)".contains("have tasks on process") && "\(error)".contains("default/busy#1"), "\(error)")
        }
        settings.scheduler = "my-secrets"
        do {
            _ = try await GoferServer(settings: settings)
            Issue.record("a secret store was accepted as the scheduler")
        } catch {
            #expect("\(error)".contains("is a secrets extension, not a scheduler"), "\(error)")
        }
        settings.scheduler = "kubernetes"
        do {
            _ = try await GoferServer(settings: settings)
            Issue.record("an unknown scheduler was accepted")
        } catch {
            #expect(
                "\(error)".contains("scheduler \"kubernetes\" is not installed, not bundled and not listed by a configured registry")
                    && "\(error)".contains("my-scheduler") && "\(error)".contains("index.json"), "\(error)")
        }
    }

    /// Selecting a registry's scheduler takes one start: the server installs it (checked as
    /// `gofer extension install` checks it) and runs on it; a later start finds it installed.
    @Test func aSchedulerFromARegistryIsInstalledWhenSelectedAndRunsAtTheFirstStart() async throws {
        let registry = try Self.registry()
        let h = try await ServerHarness {
            $0.registries = [registry.path + "/index.json"]
            $0.scheduler = "my-scheduler"
        }
        try await stopping({ await h.stop() }) {
            let installed = try await h.server.extensions.list().first { $0.name == "my-scheduler" }
            #expect(installed?.kind == .scheduler && installed?.registry.hasSuffix("index.json") == true, "\(String(describing: installed))")
            _ = try await h.apply("id: one-start\ntasks:\n  - { id: t, image: none, command: [\"sh\", \"-c\", \"echo ran\"] }\n")
            let run = try await h.server.engine.startRun(namespace: "default", pipeline: "one-start", initiator: .system)
            let done = try await h.server.engine.waitForRun(namespace: "default", pipeline: "one-start", run: run.id)
            #expect(done.state == .succeeded, "\(done)")
        }
    }

    /// A registry entry whose executable calls itself by another name is refused at install,
    /// naming both, and nothing is installed.
    @Test func aRegistryEntryUnderAnotherNameThanTheExecutablesIsRefused() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/renamed"
        try "#!/bin/sh\nexec \(BuiltProducts.path("gofer-scheduler-process")) \"$@\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        let sha = SHA256.hash(data: FileManager.default.contents(atPath: path) ?? Data()).map { String(format: "%02x", $0) }.joined()
        let index: JSONValue = [
            "registry": "third-party",
            "extensions": [
                [
                    "name": "renamed", "kind": "scheduler",
                    "versions": [["version": "0.1.0", "protocolVersions": ["1.1"], "source": ["path": "renamed"], "sha256": .string(sha)]],
                ]
            ],
        ]
        try index.description.write(toFile: dir.path + "/index.json", atomically: true, encoding: .utf8)
        let h = try await ServerHarness { $0.registries = [dir.path + "/index.json"] }
        try await stopping({ await h.stop() }) {
            do {
                try await h.server.extensions.install("renamed", .latest)
                Issue.record("an entry named renamed for an executable named process was installed")
            } catch {
                #expect("\(error)".contains("lists this extension as renamed, but the executable calls itself process"), "\(error)")
            }
            let names = try await h.server.extensions.list().map(\.name)
            #expect(!names.contains("renamed"), "\(names)")
        }
    }
}
