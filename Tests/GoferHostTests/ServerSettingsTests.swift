import Foundation
import GoferHost
import TestSupport
import Testing

/// Server settings from a file, the environment and flags, in that order: every one documented,
/// bad values named with their source.
struct ServerSettingsTests {
    @Test func laterSourcesWinAndBadValuesNameTheirSource() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gofer-settings-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let yaml = dir.appendingPathComponent("gofer.yaml").path
        try "listen: 127.0.0.1:9000\nmax_concurrent_tasks: 4\nrun_timeout: 2h\n".write(toFile: yaml, atomically: true, encoding: .utf8)
        var s = ServerSettings()
        try s.load(file: yaml)
        try s.load(environment: ["GOFER_MAX_CONCURRENT_TASKS": "8"])
        try s.set("listen", "127.0.0.1:9100", source: "--listen")
        #expect(s.listen == "127.0.0.1:9100" && s.maxConcurrentTasks == 8 && s.runTimeout == .seconds(7200))

        let toml = dir.appendingPathComponent("gofer.toml").path
        try "scheduler = \"process\"\nstop_grace = \"3s\"\n".write(toFile: toml, atomically: true, encoding: .utf8)
        var t = ServerSettings()
        try t.load(file: toml)
        #expect(t.scheduler == "process" && t.stopGrace == .seconds(3))

        try "listen: 127.0.0.1:9000\nrun_timeout: soon\n".write(toFile: yaml, atomically: true, encoding: .utf8)
        var bad = ServerSettings()
        #expect(throws: ServerSettings.Problem.self) { try bad.load(file: yaml) }
        do { try bad.load(file: yaml) } catch {
            #expect("\(error)".contains("gofer.yaml:2: run_timeout \"soon\" is not a duration"), "\(error)")
        }
        do { try bad.load(environment: ["GOFER_LISTEN": "nowhere"]) } catch {
            #expect("\(error)".hasPrefix("GOFER_LISTEN: listen"), "\(error)")
        }
        do { try bad.set("colour", "blue", source: "x.yaml:1") } catch { #expect("\(error)".contains("unknown setting \"colour\"")) }
        try s.set("docker_request_timeout", "90s", source: "test")
        #expect(s.dockerRequestTimeout == .seconds(90))
        #expect { try s.set("docker_request_timeout", "500ms", source: "gofer.yaml:3") } throws: { error in
            "\(error)" == "gofer.yaml:3: docker_request_timeout \"500ms\" must be at least 1s"
        }
    }

    @Test func listSettingsTakeYAMLAndTOMLLists() throws {
        let dir = try TemporaryDirectory()
        let yaml = dir.path + "/gofer.yaml"
        try "first_start_extensions: [github]\nswarm_constraints:\n  - node.role==worker\n  - node.labels.ci==yes\n"
            .write(toFile: yaml, atomically: true, encoding: .utf8)
        var s = ServerSettings()
        try s.load(file: yaml)
        #expect(s.firstStartExtensions == ["github"] && s.swarmConstraints == ["node.role==worker", "node.labels.ci==yes"])
        let toml = dir.path + "/gofer.toml"
        try "first_start_extensions = [\"github\", \"notify\"]\n".write(toFile: toml, atomically: true, encoding: .utf8)
        var t = ServerSettings()
        try t.load(file: toml)
        #expect(t.firstStartExtensions == ["github", "notify"])
        // A list where one value belongs, or an item that is itself a list, is named.
        for (text, message) in [
            ("listen: [a, b]\n", "gofer.yaml:1: listen takes one value (host:port), not a list"),
            ("first_start_extensions:\n  - [a]\n", "gofer.yaml:1: first_start_extensions item 1 must be a single value"),
        ] {
            try text.write(toFile: yaml, atomically: true, encoding: .utf8)
            var bad = ServerSettings()
            #expect { try bad.load(file: yaml) } throws: { "\($0)".hasPrefix(dir.path + "/" + message) || "\($0)".contains(message) }
        }
    }

    /// docs/server-config.md's table is generated from ``ServerSettings/table``: one row per
    /// setting, in its order. `GOFER_UPDATE_DOCS=1 swift test --filter ServerSettingsTests` rewrites it.
    @Test func theServerConfigTableIsGeneratedFromTheSettings() throws {
        let url = BuiltProducts.repositoryRoot.appendingPathComponent("docs/server-config.md")
        let doc = try String(contentsOf: url, encoding: .utf8)
        let header = "| key (file) | environment | flag | type | default | required | meaning |\n|---|---|---|---|---|---|---|\n"
        let start = try #require(doc.range(of: header), "docs/server-config.md lost its settings table header")
        let end = doc[start.upperBound...].range(of: "\n\n")?.lowerBound ?? doc.endIndex
        let generated = ServerSettings.table.map(\.markdownRow).joined(separator: "\n")
        if ProcessInfo.processInfo.environment["GOFER_UPDATE_DOCS"] == "1" {
            try (doc[..<start.upperBound] + generated + doc[end...]).write(to: url, atomically: true, encoding: .utf8)
            return
        }
        let current = String(doc[start.upperBound..<end])
        let differing = zip(current.split(separator: "\n"), generated.split(separator: "\n")).first { $0 != $1 }
        #expect(
            current == generated,
            "docs/server-config.md's settings table differs from ServerSettings.table (first difference: \(differing.map { "\($0.0)\n  expected: \($0.1)" } ?? "row count")); run GOFER_UPDATE_DOCS=1 swift test --filter ServerSettingsTests"
        )
        // Every variable follows the rule, and every key is unique.
        #expect(Set(ServerSettings.table.map(\.key)).count == ServerSettings.table.count)
    }

    /// A documented default (a literal in backticks) is the default: setting it changes nothing.
    @Test func everyDocumentedDefaultIsTheActualDefault() throws {
        for setting in ServerSettings.table where setting.defaultText.hasPrefix("`") && setting.defaultText.hasSuffix("`") {
            let literal = String(setting.defaultText.dropFirst().dropLast())
            var settings = ServerSettings()
            try settings.set(setting.key, literal, source: "docs")
            #expect(settings == ServerSettings(), "\(setting.key): the documented default \(literal) is not the default")
        }
    }

    @Test func securitySettingsAreCheckedWithTheirSource() throws {
        var s = ServerSettings()
        try s.set("rate_limit_public", "10/1s", source: "test")
        #expect(s.rateLimitPublic == RateLimit(count: 10, per: .seconds(1)))
        try s.set("trusted_proxies", "10.0.0.0/8, ::1", source: "test")
        #expect(s.trustedProxies.count == 2 && s.trustedProxies[0].contains("10.200.3.4") && !s.trustedProxies[0].contains("11.0.0.1"))
        #expect(s.trustedProxies[1].contains("::1"))
        for (key, value, expected) in [
            ("rate_limit_public", "lots", "COUNT/DURATION"), ("rate_limit_auth_failures", "0/1m", "COUNT/DURATION"),
            ("trusted_proxies", "10.0.0.0/33", "not an IP address or CIDR"), ("trusted_proxies", "proxy.local", "not an IP address"),
            ("task_api_url", "172.17.0.1:8080", "must be a URL"), ("task_listen", "everywhere", "auto, off or host:port"),
        ] {
            #expect { try s.set(key, value, source: "gofer.yaml:7") } throws: { error in
                "\(error)".hasPrefix("gofer.yaml:7: ") && "\(error)".contains(expected)
            }
        }
    }
}
