import Crypto
import ExtensionSDK
import Foundation
import GoferHost
import TestSupport
import Testing

/// Installing, upgrading and uninstalling extensions by name, end to end through the CLI against
/// a running server, from a local registry whose "versions" of a test trigger are the hello
/// trigger behind the fault-injecting proxy: 1.0.0, 1.1.0, 1.3.0 and 2.0.0 are good, 1.2.0 has a wrong
/// checksum, 3.0.0 speaks protocol 2.0; plus a binary that is not an extension and one that
/// crashes in its handshake.
@Suite(.serialized)
struct ExtensionRegistryTests {
    struct Registry {
        let dir: TemporaryDirectory
        var index: String { dir.path + "/index.json" }
    }

    static func sha256(_ path: String) -> String {
        SHA256.hash(data: FileManager.default.contents(atPath: path) ?? Data()).map { String(format: "%02x", $0) }.joined()
    }

    /// Writes one wrapper script per version and the index listing them.
    static func makeRegistry() throws -> Registry {
        let dir = try TemporaryDirectory()
        let fixture = BuiltProducts.path("gofer-fixture-broken")
        let hello = BuiltProducts.path("gofer-trigger-hello")
        func script(_ name: String, _ body: String) throws -> String {
            let path = dir.path + "/" + name
            try ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o755)
            return path
        }
        var versions: [JSONValue] = []
        for (v, faults, protocols, corrupt) in [
            ("1.0.0", "none", "1.0", false), ("1.1.0", "version:1.1.0", "1.0", false), ("1.2.0", "version:1.2.0", "1.0", true),
            ("1.3.0", "version:1.3.0", "1.0", false), ("2.0.0", "version:2.0.0", "1.0", false), ("3.0.0", "version:3.0.0,protocol-major:2", "2.0", false),
        ] {
            // The hello trigger published as `ticker` (a registry entry carries the executable's own name).
            let path = try script("ticker-\(v)", "exec \(fixture) --faults \(faults),name:ticker -- \(hello) \"$@\"")
            let sha = corrupt ? String(repeating: "0", count: 64) : sha256(path)
            versions.append([
                "version": .string(v), "protocolVersions": [.string(protocols)], "source": ["path": .string("ticker-\(v)")],
                "sha256": .string(sha),
            ])
        }
        let notExtension = try script("notext", "echo 'hello, I am a shell script'")
        let crasher = try script("crasher", "exec \(fixture) --faults crash-on:initialize,name:crasher -- \(hello) \"$@\"")
        _ = try script("remote-ticker-1.0.0", "exec \(fixture) --faults name:remote-ticker -- \(hello) \"$@\"")
        let index: JSONValue = [
            "registry": "test-registry",
            "extensions": [
                [
                    "name": "ticker", "kind": "trigger", "description": "a test trigger", "maintainers": ["tests"],
                    "versions": .array(versions),
                ],
                [
                    "name": "notext", "kind": "trigger",
                    "versions": [
                        [
                            "version": "1.0.0", "protocolVersions": ["1.0"], "source": ["path": "notext"],
                            "sha256": .string(sha256(notExtension)),
                        ]
                    ],
                ],
                [
                    "name": "crasher", "kind": "trigger",
                    "versions": [
                        [
                            "version": "1.0.0", "protocolVersions": ["1.0"], "source": ["path": "crasher"],
                            "sha256": .string(sha256(crasher)),
                        ]
                    ],
                ],
            ],
        ]
        try index.description.write(toFile: dir.path + "/index.json", atomically: true, encoding: .utf8)
        return Registry(dir: dir)
    }

    @Test func installUpgradeAndUninstallFromTheCLI() async throws {
        let registry = try Self.makeRegistry()
        let h = try await ServerHarness { $0.registries = [registry.dir.path + "/index.json"] }
        return try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            let host = ["GOFER_HOST": "127.0.0.1:\(port)", "GOFER_CLI_CONFIG": h.dir.path + "/cli.json", "GOFER_TOKEN": h.adminToken]
            let gofer = { (args: [String]) in try await EndToEndTests().gofer(args, env: host) }

            // The quick start needs no install step: the bundled defaults are there.
            var (status, out) = try await gofer(["extension", "list"])
            for name in ["docker", "embedded-secrets", "interval", "cron"] { #expect(out.contains(name), "\(name) missing: \(out)") }

            (status, out) = try await gofer(["extension", "install", "ticker@1.0.0"])
            #expect(status == .exited(0) && out.contains("installed ticker 1.0.0 (trigger) from"), "\(out)")
            (status, out) = try await gofer(["extension", "install", "ticker"])
            #expect(status == .exited(1) && out.contains("already installed") && out.contains("gofer extension upgrade ticker"), "\(out)")

            // A pipeline uses it.
            let file = h.dir.path + "/p.yaml"
            try
                "id: ticking\ntriggers:\n  - { trigger: ticker, settings: { seconds: 1 } }\ntasks:\n  - { id: t, image: none, command: [\"true\"] }\n"
                .write(toFile: file, atomically: true, encoding: .utf8)
            (status, out) = try await gofer(["pipeline", "apply", file])
            #expect(status == .exited(0), "\(out)")
            func runCount() async throws -> Int {
                try await h.server.store.runs(namespace: "default", pipeline: "ticking", limit: 1000).items.count
            }
            func waitForMoreRuns(than n: Int) async throws -> Bool {
                for _ in 0..<50 {
                    if try await runCount() > n { return true }
                    try await Task.sleep(for: .milliseconds(100))
                }
                return false
            }
            #expect(try await waitForMoreRuns(than: 0), "the installed trigger fires")

            // Refused upgrades leave 1.0.0 running.
            (status, out) = try await gofer(["extension", "upgrade", "ticker@1.2.0"])
            #expect(status == .exited(1) && out.contains("checksum mismatch") && out.contains("Nothing was installed"), "\(out)")
            (status, out) = try await gofer(["extension", "upgrade", "ticker@3.0.0", "--allow-major"])
            #expect(status == .exited(1) && out.contains("speaks protocol 2.0") && out.contains("this Gofer speaks 1.1"), "\(out)")
            (status, out) = try await gofer(["extension", "upgrade", "ticker@9.9.9"])
            #expect(status == .exited(1) && out.contains("has no version 9.9.9") && out.contains("1.1.0"), "\(out)")
            (status, out) = try await gofer(["extension", "get", "ticker"])
            #expect(out.contains("ticker 1.0.0") && out.contains("running") && out.contains("health:        healthy"), "\(out)")

            // Online upgrade: the new version takes over the subscription.
            (status, out) = try await gofer(["extension", "upgrade", "ticker@1.1.0"])
            #expect(status == .exited(0) && out.contains("upgraded ticker 1.0.0 → 1.1.0"), "\(out)")
            var before = try await runCount()
            #expect(try await waitForMoreRuns(than: before), "runs go on after the upgrade")
            // Without a version: the newest with the installed major (1.3.0), and 2.0.0 is mentioned.
            (status, out) = try await gofer(["extension", "upgrade", "ticker"])
            #expect(status == .exited(0) && out.contains("upgraded ticker 1.1.0 → 1.3.0") && out.contains("ticker 2.0.0 is a new major version")
                && out.contains("gofer extension upgrade ticker --allow-major"), "\(out)")
            (status, out) = try await gofer(["extension", "upgrade", "ticker"])
            #expect(status == .exited(0) && out.contains("already at 1.3.0, the newest with its major version") && out.contains("2.0.0"), "\(out)")
            (status, out) = try await gofer(["extension", "upgrade", "ticker", "--allow-major"])
            #expect(status == .exited(0) && out.contains("1.3.0 → 2.0.0"), "\(out)")
            before = try await runCount()
            #expect(try await waitForMoreRuns(than: before), "runs go on after the major upgrade")
            (status, out) = try await gofer(["extension", "list"])
            #expect(out.contains("ticker") && out.contains("2.0.0"), "\(out)")
            // Already current: said so, not an error. A version that does not exist is named as such.
            (status, out) = try await gofer(["extension", "upgrade", "ticker@2.0.0", "--allow-major"])
            #expect(status == .exited(0) && out.contains("already at 2.0.0"), "\(out)")
            (status, out) = try await gofer(["extension", "upgrade", "ticker"])
            #expect(status == .exited(0) && out.contains("already at 2.0.0; nothing to upgrade"), "3.0.0 speaks another protocol: \(out)")
            (status, out) = try await gofer(["extension", "install", "ticker@9.9.9"])
            #expect(status == .exited(1) && out.contains("has no version 9.9.9") && !out.contains("already installed"), "\(out)")
            // Its log: what it wrote, and when the server started it (across the upgrades).
            (status, out) = try await gofer(["extension", "logs", "ticker"])
            #expect(status == .exited(0) && out.contains("[gofer") && out.contains("started ticker 2.0.0"), "\(out)")
            // A disabled pipeline's subscription says so and is not counted as live.
            (status, out) = try await gofer(["pipeline", "disable", "ticking"])
            (status, out) = try await gofer(["pipeline", "triggers", "ticking"])
            #expect(out.contains("disabled") && !out.contains("active"), "\(out)")
            #expect(try await h.server.extensions.get("ticker").subscriptions == 0)
            (status, out) = try await gofer(["pipeline", "enable", "ticking"])
            (status, out) = try await gofer(["pipeline", "triggers", "ticking"])
            #expect(out.contains("active"), "\(out)")
            #expect(try await h.server.extensions.get("ticker").subscriptions == 1)

            // Bad binaries: refused precisely, nothing half-installed.
            (status, out) = try await gofer(["extension", "install", "notext"])
            #expect(status == .exited(1) && out.contains("is not a Gofer extension"), "\(out)")
            (status, out) = try await gofer(["extension", "install", "crasher"])
            #expect(status == .exited(1) && out.contains("failed its handshake"), "\(out)")
            (status, out) = try await gofer(["extension", "install", "nonesuch"])
            #expect(status == .exited(1) && out.contains("no registry lists an extension named \"nonesuch\""), "\(out)")
            (status, out) = try await gofer(["extension", "install", "interval", "--config", "bogus=1"])
            #expect(status == .exited(1), "already installed: \(out)")
            (status, out) = try await gofer(["extension", "list"])
            #expect(!out.contains("notext") && !out.contains("crasher"), "\(out)")
            let staging = (try? FileManager.default.contentsOfDirectory(atPath: h.dir.path + "/extensions/.staging")) ?? []
            #expect(staging.isEmpty, "staging left behind: \(staging)")

            // Uninstall: without confirmation it only explains; with --yes the pipeline is disabled with an error.
            (status, out) = try await gofer(["extension", "uninstall", "ticker"])
            #expect(status == .exited(1) && out.contains("--yes") && out.contains("default/ticking"), "names the pipelines: \(out)")
            (status, out) = try await gofer(["extension", "uninstall", "ticker", "--yes"])
            #expect(status == .exited(0) && out.contains("disabled pipeline default/ticking"), "\(out)")
            (status, out) = try await gofer(["pipeline", "errors", "ticking"])
            #expect(out.contains("extension ticker was uninstalled"), "\(out)")
            // Installed again: the pipeline no longer misses it (it stays disabled until enabled).
            (status, out) = try await gofer(["extension", "install", "ticker@1.0.0"])
            #expect(status == .exited(0), "\(out)")
            (status, out) = try await gofer(["pipeline", "errors", "ticking"])
            #expect(!out.contains("uninstalled"), "\(out)")
            (status, out) = try await gofer(["extension", "uninstall", "ticker", "--yes"])
            (status, out) = try await gofer(["extension", "uninstall", "docker", "--yes"])
            #expect(status == .exited(0) && out.contains("uninstalled docker"), "not this server's scheduler, so it can go: \(out)")
            (status, out) = try await gofer(["extension", "uninstall", "process", "--yes"])
            #expect(status == .exited(1) && out.contains("this server's scheduler"), "the scheduler in use stays: \(out)")
        }
    }

    @Test func installChecksTheAdminConfigAgainstTheSchemaAndHidesSensitiveValues() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            let m = h.server.extensions
            do {
                try await m.install("github", .latest, configStrings: ["maxBodyBytes": "lots"])
                Issue.record("a non-number for an integer setting was accepted")
            } catch { #expect("\(error)".contains("maxBodyBytes: \"lots\" is not a whole number"), "\(error)") }
            do {
                try await m.install("github", .latest, configStrings: ["colour": "red"])
                Issue.record("an unknown setting was accepted")
            } catch { #expect("\(error)".contains("/config/colour"), "\(error)") }
            try await m.install("github", .latest, configStrings: ["webhookSecret": "s3cr3t-value", "maxBodyBytes": "2048"])
            let info = try await m.get("github")
            #expect(info.config["webhookSecret"] == "********" && info.config["maxBodyBytes"] == 2048, "\(info.config)")
            #expect(!(try await m.list()).description.contains("s3cr3t-value"))
        }
    }

    /// An index served over HTTP with `url` sources (a real HTTP server: python3 -m http.server).
    @Test func installsFromAURLSourceAndReportsDownloadFailures() async throws {
        let registry = try Self.makeRegistry()
        let port = FreePort.next()
        let server = try ChildProcess.spawn(
            "python3", arguments: ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", registry.dir.path])
        server.closeStdin()
        return try await stopping({ _ = await server.terminate(grace: .seconds(2)) }) {
            let base = "http://127.0.0.1:\(port)"
            let sha = Self.sha256(registry.dir.path + "/remote-ticker-1.0.0")
            let index: JSONValue = [
                "extensions": [
                    [
                        "name": "remote-ticker", "kind": "trigger",
                        "versions": [
                            [
                                "version": "1.0.0", "protocolVersions": ["1.0"], "source": ["url": .string(base + "/remote-ticker-1.0.0")],
                                "sha256": .string(sha),
                            ]
                        ],
                    ],
                    [
                        "name": "missing", "kind": "trigger",
                        "versions": [
                            [
                                "version": "1.0.0", "protocolVersions": ["1.0"], "source": ["url": .string(base + "/nope")],
                                "sha256": .string(sha),
                            ]
                        ],
                    ],
                ]
            ]
            try index.description.write(toFile: registry.dir.path + "/remote.json", atomically: true, encoding: .utf8)
            for _ in 0..<100 {
                if (try? await SimpleHTTPClient(endpoint: .tcp(host: "127.0.0.1", port: port)).send("GET", path: "/remote.json"))?.status == 200
                {
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            let h = try await ServerHarness { $0.registries = [base + "/remote.json"] }
            try await stopping({ await h.stop() }) {
                let installed = try await h.server.extensions.install("remote-ticker", .latest)
                #expect(
                    installed.version == "1.0.0" && installed.sha256 == sha && installed.executable.description.hasPrefix(h.dir.path + "/extensions/installed/")
                )
                #expect(try await h.server.extensions.get("remote-ticker").status.hasPrefix("running"))
                do {
                    try await h.server.extensions.install("missing", .latest)
                    Issue.record("installed from a URL that answers 404")
                } catch { #expect("\(error)".contains("answered HTTP 404"), "\(error)") }
            }
        }
    }

    @Test func aMalformedRegistryIsRefusedNamingTheFileAndPlace() async throws {
        let dir = try TemporaryDirectory()
        let bad = dir.path + "/bad.json"
        try
            #"{"extensions": [{"name": "x", "kind": "trigger", "versions": [{"version": "one", "protocolVersions": ["1.0"], "source": {"path": "x"}}]}]}"#
            .write(toFile: bad, atomically: true, encoding: .utf8)
        let h = try await ServerHarness { $0.registries = [bad] }
        return try await stopping({ await h.stop() }) {
            do {
                try await h.server.extensions.install("x", .latest)
                Issue.record("installed from a malformed registry")
            } catch {
                #expect("\(error)".contains("registry \(bad) at /extensions/0/versions/0/version"), "\(error)")
            }
            for (text, path) in [
                ("not json", ""), (#"{"extensions": {}}"#, "/extensions"),
                (#"{"extensions": [{"name": "x", "kind": "gadget", "versions": []}]}"#, "/extensions/0/kind"),
                (
                    #"{"extensions": [{"name": "x", "kind": "trigger", "versions": [{"version": "1.0.0", "protocolVersions": ["1.0"], "source": {"path": "x"}}]}]}"#,
                    "/extensions/0/versions/0/sha256"
                ),
            ] {
                do {
                    _ = try RegistryIndex.parse(Array(text.utf8), origin: "r.json")
                    Issue.record("accepted: \(text)")
                } catch let error as RegistryIndex.Problem { #expect(error.path == path, "\(error)") } catch { Issue.record("\(error)") }
            }
        }
    }

    @Test func theBundledRegistryIsRegistryIndexJSON() throws {
        let file = try String(contentsOf: BuiltProducts.repositoryRoot.appendingPathComponent("registry/index.json"), encoding: .utf8)
        let fromFile = try RegistryIndex.parse(Array(file.utf8), origin: "bundled")
        #expect(
            RegistryIndex.bundled == fromFile,
            "run the snippet in docs/registry.md to refresh Sources/Host/GoferModel/BundledRegistry.swift")
        #expect(Set(fromFile.extensions.filter(\.bundledDefault).map(\.name)) == ["docker", "embedded-secrets", "interval", "cron"])
    }
}
