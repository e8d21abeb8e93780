import ExtensionSDK
import Foundation
import GoferHost
import TestSupport
import Testing

/// The `gofer` binary against a live server, and the example pipeline on the real Docker engine.
@Suite(.serialized)
struct EndToEndTests {
    /// Runs the gofer CLI; returns its exit status and its output lines (stdout, then stderr).
    func gofer(_ args: [String], env: [String: String] = [:]) async throws -> (TerminationStatus, String) {
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in env { environment[k] = v }
        environment["NO_COLOR"] = "1"
        let result = try await ChildProcess.run(BuiltProducts.path("gofer"), arguments: args, environment: environment)
        let lines = (result.stdout.split(separator: 0x0A) + result.stderr.split(separator: 0x0A)).map {
            String(decoding: $0, as: UTF8.self)
        }
        return (result.status, lines.joined(separator: "\n"))
    }

    @Test func theCLIAppliesRunsWaitsAndReadsLogs() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            let host = ["GOFER_HOST": "127.0.0.1:\(port)", "GOFER_CLI_CONFIG": h.dir.path + "/cli.json", "GOFER_TOKEN": h.adminToken]
            let file = h.dir.path + "/ok.yaml"
            try "id: ok\ntasks:\n  - { id: say, image: none, command: [\"echo\", \"hello cli\"] }\n".write(
                toFile: file, atomically: true, encoding: .utf8)
            var (status, out) = try await gofer(["pipeline", "apply", file], env: host)
            #expect(status == .exited(0) && out.contains("applied pipeline default/ok version 1"), "\(out)")
            (status, out) = try await gofer(["pipeline", "apply", file], env: host)
            #expect(status == .exited(0) && out.contains("unchanged"), "\(out)")
            (status, out) = try await gofer(["run", "start", "ok", "--wait"], env: host)
            #expect(status == .exited(0) && out.contains("run 1 succeeded"), "\(out)")
            (status, out) = try await gofer(["task", "logs", "ok", "1", "say"], env: host)
            #expect(status == .exited(0) && out == "hello cli", "\(out)")
            (status, out) = try await gofer(["run", "list", "ok"], env: host)
            #expect(out.contains("RUN") && out.contains("succeeded"), "\(out)")
            (status, out) = try await gofer(["pipeline", "get", "ok", "--json"], env: host)
            #expect(status == .exited(0) && out.contains("\"latest_version\" : 1"), "\(out)")

            try "id: bad\ntasks:\n  - { id: x, image: none, command: [\"sh\", \"-c\", \"exit 4\"] }\n".write(
                toFile: file, atomically: true, encoding: .utf8)
            _ = try await gofer(["pipeline", "apply", file], env: host)
            (status, out) = try await gofer(["run", "start", "bad", "--wait"], env: host)
            #expect(status == .exited(1), "scripts rely on a failed run exiting non-zero: \(out)")
            #expect(out.contains("run 1 failed"), "\(out)")

            (status, out) = try await gofer(["run", "get", "nope", "1"], env: host)
            #expect(status == .exited(1) && out.contains("pipeline \"default/nope\" not found"), "\(out)")
            (status, out) = try await gofer(["namespace", "create", "team-a"], env: host)
            #expect(status == .exited(0))
            (status, out) = try await gofer(["namespace", "set", "team-a"], env: host)
            #expect(status == .exited(0))
            (status, out) = try await gofer(["pipeline", "list"], env: host)
            #expect(status == .exited(0) && !out.contains("ok "), "pipelines of team-a, which has none: \(out)")

            try "id: broken\ntasks:\n  - { id: x, image: none, depends_on: [x] }\n".write(toFile: file, atomically: true, encoding: .utf8)
            (status, out) = try await gofer(["pipeline", "apply", file, "-n", "default"], env: host)
            #expect(status == .exited(1) && out.contains("depends on itself") && out.contains(file + ":3:"), "\(out)")
        }
    }

    @Test func theCLICancelsWatchesAndDeletes() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            let host = ["GOFER_HOST": "127.0.0.1:\(port)", "GOFER_CLI_CONFIG": h.dir.path + "/cli.json", "GOFER_TOKEN": h.adminToken]
            let file = h.dir.path + "/slow.yaml"
            try
                "id: slow\ntasks:\n  - { id: wait, image: none, command: [\"sleep\", \"30\"] }\n  - { id: after, image: none, depends_on: [wait], command: [\"true\"] }\n"
                .write(toFile: file, atomically: true, encoding: .utf8)
            _ = try await gofer(["pipeline", "apply", file], env: host)
            var (status, out) = try await gofer(["run", "start", "slow"], env: host)
            #expect(status == .exited(0) && out.contains("started run 1"), "\(out)")
            try await Task.sleep(for: .milliseconds(500))
            (status, out) = try await gofer(["task", "list", "slow", "1"], env: host)
            #expect(out.contains("wait") && out.contains("running") && out.contains("waiting"), "\(out)")
            async let watched = gofer(["run", "watch", "slow", "1"], env: host)
            try await Task.sleep(for: .milliseconds(300))
            (status, out) = try await gofer(["run", "cancel", "slow", "1", "--reason", "not needed"], env: host)
            #expect(status == .exited(0), "\(out)")
            let (watchStatus, watchOut) = try await watched
            #expect(watchStatus == .exited(1), "watch exits non-zero for a run that did not succeed: \(watchOut)")
            #expect(watchOut.contains("cancelled"), "\(watchOut)")
            (status, out) = try await gofer(["task", "get", "slow", "1", "wait"], env: host)
            #expect(out.contains("cancelled") && out.contains("not needed"), "\(out)")
            (status, out) = try await gofer(["pipeline", "delete", "slow"], env: host)
            #expect(status == .exited(0), "\(out)")
            (status, out) = try await gofer(["pipeline", "get", "slow"], env: host)
            #expect(status == .exited(1) && out.contains("not found"), "\(out)")
            _ = try await gofer(["namespace", "create", "temp"], env: host)
            (status, out) = try await gofer(["namespace", "delete", "temp"], env: host)
            #expect(status == .exited(0), "\(out)")
            (status, out) = try await gofer(["namespace", "delete", "default"], env: host)
            #expect(status == .exited(1) && out.contains("cannot be deleted"), "\(out)")
        }
    }

    @Test func theCLIShowsTriggersEventsAndPipelineErrors() async throws {
        let h = try await ServerHarness {
            $0.triggerIntervalMin = .seconds(1)
            $0.triggerIntervalJitter = "0s"
            $0.firstStartExtensions = ["github"]
        }
        return try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            let host = ["GOFER_HOST": "127.0.0.1:\(port)", "GOFER_CLI_CONFIG": h.dir.path + "/cli.json", "GOFER_TOKEN": h.adminToken]
            let file = h.dir.path + "/tick.yaml"
            try
                "id: tick\ntriggers:\n  - { trigger: interval, label: fast, settings: { every: 1s } }\ntasks:\n  - { id: t, image: none, command: [\"true\"] }\n"
                .write(toFile: file, atomically: true, encoding: .utf8)
            var (status, out) = try await gofer(["pipeline", "apply", file], env: host)
            #expect(status == .exited(0), "\(out)")
            (status, out) = try await gofer(["pipeline", "triggers", "tick"], env: host)
            #expect(out.contains("fast") && out.contains("interval") && out.contains("active"), "\(out)")
            (status, out) = try await gofer(["trigger", "list"], env: host)
            #expect(out.contains("github") && out.contains("POST /api/external/github") && out.contains("cron"), "\(out)")
            try await Task.sleep(for: .seconds(2.5))
            (status, out) = try await gofer(["pipeline", "trigger-events", "tick"], env: host)
            #expect(out.contains("interval/fast") && out.contains("started run 1"), "\(out)")
            (status, out) = try await gofer(["event", "list", "--pipeline", "tick"], env: host)
            #expect(out.contains("trigger_fired") && out.contains("run_queued"), "\(out)")
            (status, out) = try await gofer(["pipeline", "disable", "tick"], env: host)
            #expect(status == .exited(0) && out.contains("disabled"), "\(out)")
            (status, out) = try await gofer(["pipeline", "errors", "tick"], env: host)
            #expect(status == .exited(0) && out.contains("no errors"), "\(out)")

            // A bad trigger setting: the CLI shows the path and line.
            try "id: bad\ntriggers:\n  - trigger: cron\n    settings: { schedule: \"* * *\" }\ntasks:\n  - { id: t, image: none }\n".write(
                toFile: file, atomically: true, encoding: .utf8)
            (status, out) = try await gofer(["pipeline", "apply", file], env: host)
            #expect(status == .exited(1) && out.contains("/triggers/0/settings/schedule") && out.contains(file + ":4:"), "\(out)")
            (status, out) = try await gofer(["pipeline", "get", "tick"], env: host)
            #expect(out.contains("TRIGGER") && out.contains("fast") && out.contains("uses: interval (trigger)"), "\(out)")
        }
    }

    @Test func theCLIManagesSecretsAndTaskLogsShowThemMasked() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            let host = ["GOFER_HOST": "127.0.0.1:\(port)", "GOFER_CLI_CONFIG": h.dir.path + "/cli.json", "GOFER_TOKEN": h.adminToken]
            let file = h.dir.path + "/p.yaml"
            try
                "id: p\ntasks:\n  - { id: t, image: none, command: [\"sh\", \"-c\", \"echo the key is $KEY; echo next line\"], env: { KEY: \"secret{{key}}\" } }\n"
                .write(toFile: file, atomically: true, encoding: .utf8)
            var (status, out) = try await gofer(["pipeline", "apply", file], env: host)
            #expect(status == .exited(0) && out.contains("warning: ") && out.contains("secret{{key}} does not exist"), "\(out)")
            let valueFile = h.dir.path + "/value"
            // Saved by an editor: a trailing newline, which is not part of the value (as on stdin).
            let value = "hunter2-\(UUID().uuidString.prefix(8))"
            try (value + "\n").write(toFile: valueFile, atomically: true, encoding: .utf8)
            (status, out) = try await gofer(["secret", "pipeline", "put", "p", "key", "--file", valueFile], env: host)
            #expect(status == .exited(0) && out.contains("stored secret key"), "\(out)")
            (status, out) = try await gofer(["secret", "pipeline", "list", "p"], env: host)
            #expect(out.contains("key") && !out.contains(value), "\(out)")
            (status, out) = try await gofer(["secret", "pipeline", "get", "p", "key"], env: host)
            #expect(status == .exited(0) && !out.contains(value) && out.contains("--reveal"), "\(out)")
            (status, out) = try await gofer(["secret", "pipeline", "get", "p", "key", "--reveal"], env: host)
            #expect(out == value, "\(out)")
            // Stored exactly as stdin would have: the file's trailing newline is not in the value.
            let stored: JSONValue = try await h.client(port: port).call("GET", "/api/namespaces/default/pipelines/p/secrets/key?reveal=true")
            #expect(stored["value"]?.stringValue == value, "\(stored)")
            (status, out) = try await gofer(["run", "start", "p", "--wait"], env: host)
            #expect(status == .exited(0), "\(out)")
            (status, out) = try await gofer(["task", "logs", "p", "1", "t"], env: host)
            #expect(out == "the key is ********\nnext line", "masked, and its lines kept apart: \(out)")
            (status, out) = try await gofer(
                ["secret", "global", "put", "shared", "--value", "v4lue-shared", "--namespaces", "team-*"], env: host)
            #expect(status == .exited(0), "\(out)")
            (status, out) = try await gofer(["secret", "global", "list"], env: host)
            #expect(out.contains("shared") && out.contains("team-*") && !out.contains("v4lue"), "\(out)")
            (status, out) = try await gofer(["secret", "pipeline", "put", "p", "bad/..", "--value", "x"], env: host)
            #expect(status == .exited(1), "\(out)")
            (status, out) = try await gofer(["secret", "pipeline", "put", "p", "empty"], env: host)
            #expect(status != .exited(0) && out.contains("empty"), "no stdin: \(out)")
            (status, out) = try await gofer(["secret", "global", "delete", "shared"], env: host)
            #expect(status == .exited(0))
            (status, out) = try await gofer(["secret", "global", "get", "shared"], env: host)
            #expect(status == .exited(1) && out.contains("no global secret"), "\(out)")
        }
    }

    @Test func runVariablesFromTheCLIReachEveryTask() async throws {
        let h = try await ServerHarness()
        try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            let host = ["GOFER_HOST": "127.0.0.1:\(port)", "GOFER_CLI_CONFIG": h.dir.path + "/cli.json", "GOFER_TOKEN": h.adminToken]
            _ = try await h.apply(
                "id: vars\ntasks:\n  - { id: t, image: none, command: [\"sh\", \"-c\", \"echo \\\"$DEPLOY_ENV $TAG $FROM_FILE\\\"\"] }\n")
            let file = h.dir.path + "/vars.env"
            try "# run variables\nFROM_FILE=from-file\r\n\nTAG=file-tag\n".write(toFile: file, atomically: true, encoding: .utf8)
            var (status, out) = try await gofer(
                ["run", "start", "vars", "--var", "DEPLOY_ENV=staging", "--var", "TAG=v1=2", "--var-file", file, "--wait"], env: host)
            #expect(status == .exited(0), "\(out)")
            (status, out) = try await gofer(["task", "logs", "vars", "1", "t"], env: host)
            #expect(out == "staging v1=2 from-file", "--var wins over the file, and a value may hold '=': \(out)")
            (status, out) = try await gofer(["run", "start", "vars", "--var", "nothing"], env: host)
            #expect(status == .exited(64) && out.contains("--var: \"nothing\" is not KEY=VALUE"), "a usage error: \(status) \(out)")
            (status, out) = try await gofer(["run", "start", "vars", "--var", "GOFER_RUN=1"], env: host)
            #expect(status == .exited(1) && out.contains("GOFER_RUN"), "the server's refusal, named: \(out)")
        }
    }

    @Test func anUnreachableServerIsExplained() async throws {
        let (status, out) = try await gofer(["pipeline", "list", "--host", "127.0.0.1:9"])
        #expect(status == .exited(1))
        #expect(out.contains("cannot reach the Gofer server at 127.0.0.1:9"), "\(out)")
    }

    @Test func theExamplePipelineRunsOnDocker() async throws {
        guard try await DockerAvailability.check() else { return }
        let h = try await ServerHarness(scheduler: "docker")
        return try await stopping({ await h.stop() }) {
            let text = try String(contentsOf: BuiltProducts.repositoryRoot.appendingPathComponent("examples/hello.yaml"), encoding: .utf8)
            _ = try await h.apply(text)
            let (run, tasks) = try await h.runToEnd("hello")
            #expect(run.state == .succeeded, "\(run) \(tasks)")
            #expect(tasks.map(\.state) == [.succeeded, .succeeded, .succeeded, .succeeded])
            #expect(h.log("hello", run: run.id, task: "greet") == "Hello from hello run 1\n")
            #expect(h.log("hello", run: run.id, task: "inspect").contains("GREETING=hi there on Linux"))
            // Engine times, not the time we looked.
            for t in tasks {
                #expect(
                    t.startedAt != nil && t.endedAt != nil && (t.endedAt ?? .distantPast) >= (t.startedAt ?? .distantFuture),
                    "\(t.task) \(String(describing: t.startedAt?.timeIntervalSince1970)) \(String(describing: t.endedAt?.timeIntervalSince1970))"
                )
            }
            // Containers are removed after they finish.
            let left = try await DockerLeftovers.containers(label: "gofer.pipeline=hello")
            #expect(left == "[]\n", "\(left)")
        }
    }

    @Test func anUnresolvableRegistryIsAPullFailureNotAMissingImage() async throws {
        guard try await DockerAvailability.check() else { return }
        let h = try await ServerHarness(scheduler: "docker")
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply("id: noimg\ntasks:\n  - { id: a, image: does-not-exist.invalid/x:1, command: [\"true\"] }\n")
            let (run, tasks) = try await h.runToEnd("noimg")
            #expect(run.state == .failed)
            // `.invalid` never resolves: the engine's DNS lookup fails, which says nothing about the image.
            #expect(tasks[0].reason?.kind == .imagePullFailed, "\(tasks[0])")
            #expect(tasks[0].reason?.message.contains("does-not-exist.invalid/x:1") == true && tasks[0].reason?.message.contains("no such host") == true)
        }
    }

    @Test func theDemoBuiltInPipelineEqualsTheExampleFile() throws {
        // `gofer demo` carries a copy of examples/hello.yaml so it works from any directory.
        let file = try String(contentsOf: BuiltProducts.repositoryRoot.appendingPathComponent("examples/hello.yaml"), encoding: .utf8)
        let source = try String(
            contentsOf: BuiltProducts.repositoryRoot.appendingPathComponent("Sources/Host/gofer/DemoCommand.swift"), encoding: .utf8)
        guard let start = source.range(of: "static let builtInHello = #\"\"\"\n"),
            let end = source.range(of: "\"\"\"#", range: start.upperBound..<source.endIndex)
        else {
            Issue.record("builtInHello not found")
            return
        }
        let embedded = source[start.upperBound..<end.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("        ") ? String($0.dropFirst(8)) : String($0) }.joined(separator: "\n")
        #expect(embedded.trimmingCharacters(in: .whitespacesAndNewlines) == file.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
