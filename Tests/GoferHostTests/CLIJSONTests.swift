import ExtensionSDK
import Foundation
import GoferHost
import TestSupport
import Testing

/// `--json` as a script relies on it: every command of the CLI — the test walks the whole command
/// tree from `gofer --experimental-dump-help`, so a new command without an entry here fails — prints
/// only JSON on stdout (one document, or JSON Lines for streams) and, when it fails, a JSON error
/// on stderr with a non-zero exit.
@Suite(.serialized)
struct CLIJSONTests {
    enum Outcome { case succeeds, fails }

    /// Every leaf command, in an order that makes each one meaningful (create before get before
    /// delete), with real arguments against the fixture server. `{…}` is filled in as the walk goes.
    static let invocations: [(command: String, arguments: [String], outcome: Outcome)] = [
        ("service start", ["--data-dir", "{dir}/second", "--listen", "{taken}", "--scheduler", "process"], .fails),
        ("service reset-admin", ["--data-dir", "{data}"], .succeeds),
        ("service stop", ["--data-dir", "{dir}/second"], .fails),
        // No database there: refused (a copy into a PostgreSQL server is in MigrationTests).
        ("service migrate", ["--from", "{dir}/second", "--to", "postgres://gofer@127.0.0.1:1/gofer"], .fails),
        ("init", ["{dir}/init.yaml", "--id", "fresh", "--trigger", "every:1h"], .succeeds),
        ("extension new", ["json-made", "--kind", "task", "--lang", "python", "--dir", "{dir}/json-made"], .succeeds),
        ("demo", ["--scheduler", "process", "--file", "{dir}/app.yaml", "--data-dir", "{dir}/demo"], .succeeds),
        ("pipeline check", ["{dir}/app.yaml"], .succeeds),
        ("pipeline apply", ["{dir}/app.yaml"], .succeeds),
        ("pipeline list", [], .succeeds),
        ("pipeline get", ["app"], .succeeds),
        ("pipeline triggers", ["app"], .succeeds),
        ("pipeline errors", ["app"], .succeeds),
        ("pipeline disable", ["app"], .succeeds),
        ("pipeline enable", ["app"], .succeeds),
        ("pipeline trigger-events", ["app"], .succeeds),
        ("pipeline versions", ["app"], .succeeds),
        ("pipeline version", ["app", "1"], .succeeds),
        ("pipeline diff", ["app", "1", "2"], .succeeds),
        ("pipeline rollouts", ["app"], .succeeds),
        ("pipeline promote", ["app"], .fails),  // no canary in progress
        ("pipeline abort", ["app"], .fails),
        ("pipeline rollback", ["app"], .succeeds),
        ("pipeline delete", ["old"], .succeeds),
        ("run start", ["app", "--wait", "--logs"], .succeeds),
        ("run list", ["app"], .succeeds),
        ("run get", ["app", "1"], .succeeds),
        ("run watch", ["app", "1"], .succeeds),
        ("run logs", ["app", "1"], .succeeds),
        ("run rerun", ["app", "1", "--wait"], .succeeds),
        ("run cancel", ["app", "1"], .fails),  // it ended long ago
        ("task list", ["app", "1"], .succeeds),
        ("task get", ["app", "1", "build"], .succeeds),
        ("task logs", ["app", "1", "build"], .succeeds),
        ("task cancel", ["app", "1", "build", "--reason", "too late"], .fails),
        ("task attach", ["app", "1", "build", "--", "true"], .fails),  // the process scheduler cannot attach
        ("namespace create", ["ops"], .succeeds),
        ("namespace list", [], .succeeds),
        ("namespace get", ["ops"], .succeeds),
        ("namespace set", ["default"], .succeeds),
        ("namespace delete", ["ops"], .succeeds),
        ("event list", [], .succeeds),
        ("trigger list", [], .succeeds),
        ("secret pipeline put", ["app", "token", "--value", "s3cr3t-value"], .succeeds),
        ("secret pipeline get", ["app", "token"], .succeeds),
        ("secret pipeline list", ["app"], .succeeds),
        ("secret pipeline delete", ["app", "token"], .succeeds),
        ("secret global put", ["shared", "--value", "g1obal-value"], .succeeds),
        ("secret global get", ["shared"], .succeeds),
        ("secret global list", [], .succeeds),
        ("secret global delete", ["shared"], .succeeds),
        ("object pipeline put", ["app", "dist.txt", "-f", "{dir}/app.yaml"], .succeeds),
        ("object pipeline get", ["app", "dist.txt", "-o", "{dir}/out1"], .succeeds),
        ("object pipeline list", ["app"], .succeeds),
        ("object pipeline delete", ["app", "dist.txt"], .succeeds),
        ("object run put", ["app", "1", "report.txt", "-f", "{dir}/app.yaml"], .succeeds),
        ("object run get", ["app", "1", "report.txt", "-o", "{dir}/out2"], .succeeds),
        ("object run list", ["app", "1"], .succeeds),
        ("object run delete", ["app", "1", "report.txt"], .succeeds),
        ("extension install", ["echo"], .succeeds),
        ("extension list", [], .succeeds),
        ("extension get", ["echo"], .succeeds),
        ("extension logs", ["echo"], .succeeds),
        ("extension restart", ["echo"], .succeeds),
        ("extension upgrade", ["echo"], .succeeds),
        ("extension uninstall", ["echo"], .succeeds),
        ("whoami", [], .succeeds),
        ("token create", ["ci", "--role", "read-only"], .succeeds),
        ("token list", [], .succeeds),
        ("token get", ["{token}"], .succeeds),
        ("token revoke", ["{token}"], .succeeds),
        ("role create", ["deployer", "--grant", "runs:read,write"], .succeeds),
        ("role list", [], .succeeds),
        ("role get", ["deployer"], .succeeds),
        ("role delete", ["deployer"], .succeeds),
        ("login", ["--token", "{admin}"], .succeeds),
    ]

    /// The leaf commands of the CLI, from its own help dump.
    static func leafCommands() async throws -> [String] {
        let dump = try await ChildProcess.run(BuiltProducts.path("gofer"), arguments: ["--experimental-dump-help"])
        let root = try JSONParser().parse(dump.stdout)
        var leaves: [String] = []
        func walk(_ command: JSONValue, _ path: [String]) {
            let subcommands = (command["subcommands"]?.arrayValue ?? []).filter { $0["commandName"]?.stringValue != "help" }
            if subcommands.isEmpty { leaves.append(path.joined(separator: " ")) }
            for sub in subcommands { walk(sub, path + [sub["commandName"]?.stringValue ?? "?"]) }
        }
        walk(root["command"] ?? .null, [])
        return leaves
    }

    /// One JSON document, or JSON Lines (a stream), and nothing else.
    static func isJSON(_ bytes: [UInt8]) -> Bool {
        if (try? JSONParser().parse(bytes)) != nil { return true }
        let lines = bytes.split(separator: 0x0A)
        return !lines.isEmpty && lines.allSatisfy { (try? JSONParser().parse(Array($0))) != nil }
    }

    @Test func everyCommandPrintsOnlyJSONWithJSON() async throws {
        let leaves = try await Self.leafCommands()
        #expect(Set(leaves) == Set(Self.invocations.map(\.command)), "commands without an entry: \(Set(leaves).subtracting(Self.invocations.map(\.command)).sorted())")
        #expect(leaves.count > 60)

        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            let taken = try ServerStartTests.HeldPort()
            let dir = try TemporaryDirectory()
            let app = "id: app\ntasks:\n  - { id: build, image: none, command: [\"sh\", \"-c\", \"echo building; echo built\"] }\n  - { id: test, image: none, depends_on: [build], command: [\"echo\", \"tested\"] }\n"
            _ = try await h.apply(app.replacingOccurrences(of: "tested", with: "v1"))
            try app.write(toFile: dir.path + "/app.yaml", atomically: true, encoding: .utf8)
            _ = try await h.runToEnd("app")
            _ = try await h.apply("id: old\ntasks:\n  - { id: t, image: none, command: [\"true\"] }\n")

            var env = ProcessInfo.processInfo.environment
            // `gofer service reset-admin` opens the server's database (on PostgreSQL: through this).
            if let url = h.server.settings.databaseURL { env["GOFER_DATABASE_URL"] = url }
            env["GOFER_HOST"] = "127.0.0.1:\(port)"
            env["GOFER_TOKEN"] = h.adminToken
            env["GOFER_CLI_CONFIG"] = dir.path + "/cli.json"
            env["GOFER_EXTENSIONS_DIR"] = BuiltProducts.directory
            env["NO_COLOR"] = "1"
            var fill = ["{dir}": dir.path, "{data}": h.dir.path, "{taken}": "127.0.0.1:\(taken.port)", "{admin}": h.adminToken]
            for (command, arguments, outcome) in Self.invocations {
                let args = command.split(separator: " ").map(String.init) + arguments.map { a in fill.reduce(a) { $0.replacingOccurrences(of: $1.key, with: $1.value) } }
                // `--json` goes before a `--` (what follows it is the task's command).
                var withJSON = args
                withJSON.insert("--json", at: args.firstIndex(of: "--") ?? args.endIndex)
                let r = try await ChildProcess.run(BuiltProducts.path("gofer"), arguments: withJSON, environment: env, timeout: .seconds(120))
                let out = String(decoding: r.stdout, as: UTF8.self)
                let err = String(decoding: r.stderr, as: UTF8.self)
                switch outcome {
                case .succeeds:
                    #expect(r.status == .exited(0), "gofer \(args.joined(separator: " ")) --json: \(r.status)\n\(err)")
                    #expect(Self.isJSON(r.stdout), "gofer \(command) --json printed non-JSON on stdout:\n\(out)")
                case .fails:
                    #expect(r.status != .exited(0), "gofer \(args.joined(separator: " ")) --json should fail")
                    #expect(r.stdout.isEmpty || Self.isJSON(r.stdout), "gofer \(command) --json: \(out)")
                    let error = try? JSONParser().parse(r.stderr)
                    #expect(error?["error"]?["message"]?.stringValue?.isEmpty == false, "gofer \(command) --json: stderr is not a JSON error:\n\(err)")
                }
                if command == "token create", let id = (try? JSONParser().parse(r.stdout))?["token"]?["id"]?.stringValue { fill["{token}"] = id }
            }
        }
    }

    @Test func mistakesBeforeAnyRequestAreJSONErrorsToo() async throws {
        for args in [["run", "get", "app", "not-a-number"], ["pipeline", "list", "--no-such-flag"], ["pipline", "list"]] {
            let r = try await ChildProcess.run(BuiltProducts.path("gofer"), arguments: args + ["--json"], environment: ["GOFER_HOST": "127.0.0.1:1"])
            #expect(r.status == .exited(64) && r.stdout.isEmpty, "\(args): \(r.status)")
            let error = try? JSONParser().parse(r.stderr)
            #expect(error?["error"]?["message"]?.stringValue?.isEmpty == false && error?["error"]?["exit_code"]?.intValue == 64, "\(args): \(String(decoding: r.stderr, as: UTF8.self))")
        }
        // A server that is not there: exit 1, JSON on stderr, nothing on stdout.
        let r = try await ChildProcess.run(BuiltProducts.path("gofer"), arguments: ["pipeline", "list", "--json"], environment: ["GOFER_HOST": "127.0.0.1:1", "GOFER_TOKEN": "x"])
        #expect(r.status == .exited(1) && r.stdout.isEmpty && (try? JSONParser().parse(r.stderr))?["error"] != nil, "\(String(decoding: r.stderr, as: UTF8.self))")
    }
}
