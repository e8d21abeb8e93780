import ExtensionSDK
import Foundation
import GoferHost
import TestSupport
import Testing

/// The CLI as a person uses it all day: a live board of a run, every task's log in one stream,
/// cancelling a task with a reason, "did you mean" for a typo, shell completions.
@Suite(.serialized)
struct CLIExperienceTests {
    struct Fixture {
        let h: ServerHarness
        let env: [String: String]
        let dir: TemporaryDirectory

        init() async throws {
            h = try await ServerHarness()
            let port = try await h.server.startHTTP()
            dir = try TemporaryDirectory()
            var env = ProcessInfo.processInfo.environment
            env["GOFER_HOST"] = "127.0.0.1:\(port)"
            env["GOFER_TOKEN"] = h.adminToken
            env["GOFER_CLI_CONFIG"] = dir.path + "/cli.json"
            env["NO_COLOR"] = "1"
            self.env = env
        }

        /// Runs `gofer` with `arguments`; `tty` runs it under a pseudo-terminal (`script`).
        func gofer(_ arguments: [String], tty: Bool = false, noColor: Bool = false) async throws -> (TerminationStatus, String, String) {
            let gofer = BuiltProducts.path("gofer")
            let r =
                tty
                ? try await ChildProcess.run(
                    "/usr/bin/script", arguments: ["-qec", ([gofer] + arguments).map { "'\($0)'" }.joined(separator: " "), "/dev/null"],
                    environment: env.filter { $0.key != "NO_COLOR" || noColor }, timeout: .seconds(120))
                : try await ChildProcess.run(gofer, arguments: arguments, environment: env, timeout: .seconds(120))
            return (r.status, String(decoding: r.stdout, as: UTF8.self), String(decoding: r.stderr, as: UTF8.self))
        }
    }

    @Test func runLogsCombinesEveryTasksLogPrefixedByTask() async throws {
        let f = try await Fixture()
        return try await stopping({ await f.h.stop() }) {
            _ = try await f.h.apply(
                "id: app\ntasks:\n  - { id: build, image: none, command: [\"sh\", \"-c\", \"echo compiling; echo linked\"] }\n  - { id: test, image: none, depends_on: [build], command: [\"echo\", \"42 passed\"] }\n"
            )
            let (run, _) = try await f.h.runToEnd("app")
            let (status, out, err) = try await f.gofer(["run", "logs", "app", "\(run.id)"])
            #expect(status == .exited(0), "\(err)")
            #expect(out == "build | compiling\nbuild | linked\ntest  | 42 passed\n", "\(out)")

            // -f on a run still going: lines written later arrive, and it ends with the run.
            _ = try await f.h.apply(
                "id: slow\ntasks:\n  - { id: a, image: none, command: [\"sh\", \"-c\", \"echo first; sleep 1.5; echo second\"] }\n  - { id: b, image: none, depends_on: [a], command: [\"echo\", \"third\"] }\n"
            )
            let live = try await f.h.server.engine.startRun(namespace: "default", pipeline: "slow", initiator: .system)
            let (fstatus, fout, ferr) = try await f.gofer(["run", "logs", "slow", "\(live.id)", "-f"])
            #expect(fstatus == .exited(0), "\(ferr)")
            // Tasks stream side by side: each task's lines in order, all of them, and nothing else.
            let lines = fout.split(separator: "\n").map(String.init)
            #expect(lines.filter { $0.hasPrefix("a | ") } == ["a | first", "a | second"] && lines.filter { $0.hasPrefix("b | ") } == ["b | third"] && lines.count == 3, "\(fout)")
        }
    }

    /// Inside a task (the gofer-cli image of a release) the CLI needs no flags: it takes the server
    /// from GOFER_API_URL and acts as the run, with its run token from GOFER_API_TOKEN — which may
    /// read its own run but not list tokens.
    @Test func theCLIInATaskTalksToItsServerAsItsRun() async throws {
        let f = try await Fixture()
        return try await stopping({ await f.h.stop() }) {
            let gofer = BuiltProducts.path("gofer")
            let yaml = """
                id: cli
                inject_api_token: true
                tasks:
                  - { id: first, image: none, command: ["echo", "hi"] }
                  - id: ask
                    image: none
                    depends_on: [first]
                    command:
                      - sh
                      - -c
                      - |
                        export GOFER_CLI_CONFIG=$PWD/none.json; unset GOFER_HOST GOFER_TOKEN
                        '\(gofer)' run get "$GOFER_PIPELINE" "$GOFER_RUN" && echo read-own-run
                        '\(gofer)' token list 2>&1 || echo token-list-refused

                """
            _ = try await f.h.apply(yaml)
            let (run, tasks) = try await f.h.runToEnd("cli")
            let log = f.h.log("cli", run: run.id, task: "ask")
            #expect(run.state == .succeeded, "\(tasks.map { "\($0.task) \($0.state) \($0.reason?.message ?? "")" }) \(log)")
            #expect(log.contains("read-own-run") && log.contains("first"), "\(log)")
            #expect(log.contains("token-list-refused") && (log.contains("403") || log.contains("permission")), "\(log)")
        }
    }

    /// A quick task is not "0.0s": times keep their milliseconds from the scheduler through the
    /// API (RFC 3339 with milliseconds) to what the CLI shows.
    @Test func quickTasksShowTheirDurationsToTheMillisecond() async throws {
        let f = try await Fixture()
        return try await stopping({ await f.h.stop() }) {
            _ = try await f.h.apply("id: quick\ntasks:\n  - { id: t, image: none, command: [\"sleep\", \"0.3\"] }\n")
            let (run, _) = try await f.h.runToEnd("quick")
            let (status, out, err) = try await f.gofer(["run", "get", "quick", "\(run.id)", "--json"])
            #expect(status == .exited(0), "\(err)")
            let detail = try JSONParser().parse(Array(out.utf8))
            let task = try #require(detail["tasks"]?.arrayValue?.first)
            let started = try #require(task["started_at"]?.stringValue.flatMap(RFC3339.parse))
            let ended = try #require(task["ended_at"]?.stringValue.flatMap(RFC3339.parse))
            #expect(task["started_at"]?.stringValue?.count == 24, "YYYY-MM-DDTHH:MM:SS.mmmZ: \(task)")
            let took = ended.timeIntervalSince(started)
            #expect(took >= 0.25 && took < 60, "sleep 0.3 took \(took) s (the upper bound only catches seconds taken for milliseconds)")
            let (_, table, _) = try await f.gofer(["run", "get", "quick", "\(run.id)"])
            let row = try #require(table.split(separator: "\n").first { $0.hasPrefix("t ") }, "\(table)")
            #expect(row.contains("ms") || row.contains(".") && row.contains("s "), "a sub-second duration, not 0.0s: \(row)")
        }
    }

    @Test func aLogTheServerRefusesSaysWhyNotJustTheStatus() async throws {
        let f = try await Fixture()
        return try await stopping({ await f.h.stop() }) {
            _ = try await f.h.apply("id: quiet\ntasks:\n  - { id: t, image: none, logging: false, command: [\"echo\", \"hidden\"] }\n")
            let (run, _) = try await f.h.runToEnd("quiet")
            var (status, out, err) = try await f.gofer(["task", "logs", "quiet", "\(run.id)", "t"])
            #expect(status != .exited(0) && !out.contains("hidden"), "\(out)")
            #expect(err.contains("task t has logging: false, so its output was not stored"), "\(err)")
            // The whole run's log says which task has none (other tasks' logs would follow).
            (status, out, err) = try await f.gofer(["run", "logs", "quiet", "\(run.id)"])
            #expect(status == .exited(0) && out.isEmpty && err.contains("t: logging: false, so its output was not stored"), "\(out)\(err)")
        }
    }

    @Test func runWatchShowsTheLastFiveLinesOfARunningTaskAndTheEnd() async throws {
        let f = try await Fixture()
        return try await stopping({ await f.h.stop() }) {
            let go = f.dir.path + "/go"
            _ = try await f.h.apply(
                "id: board\ntasks:\n  - { id: chatty, image: none, command: [\"sh\", \"-c\", \"for i in 1 2 3 4 5 6 7 8; do echo line-$i; done; while [ ! -e \(go) ]; do sleep 0.1; done\"] }\n"
            )
            let run = try await f.h.server.engine.startRun(namespace: "default", pipeline: "board", initiator: .system)
            // The task ends once its eighth line was shown on the board.
            let release = Task {
                for _ in 0..<600 {
                    if f.h.log("board", run: run.id, task: "chatty").contains("line-8") { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                try await Task.sleep(for: .seconds(2))
                #expect(FileManager.default.createFile(atPath: go, contents: Data()))
            }
            let (status, out, _) = try await f.gofer(["run", "watch", "board", "\(run.id)"], tty: true)
            _ = try await release.value
            #expect(status == .exited(0), "\(out)")
            // Redrawn in place on a terminal: the cursor moves up over the previous drawing and clears it.
            let drawings = out.components(separatedBy: "\u{1B}[J").map(Self.plain)
            #expect(drawings.count > 3, "\(out)")
            let full = drawings.last { $0.contains("line-8") } ?? ""
            #expect((4...8).allSatisfy { full.contains("│ line-\($0)") } && !full.contains("line-3"), "the last five lines under the running task:\n\(full)")
            #expect(drawings.last?.contains("succeeded") == true && drawings.last?.contains("line-8") == false, "the end, without the log: \(drawings.last ?? "")")
        }
    }

    @Test func noColorTurnsOffColourButNotTheLiveBoard() async throws {
        let f = try await Fixture()
        return try await stopping({ await f.h.stop() }) {
            _ = try await f.h.apply("id: calm\ntasks:\n  - { id: t, image: none, command: [\"sh\", \"-c\", \"echo hi; sleep 2.5\"] }\n")
            let run = try await f.h.server.engine.startRun(namespace: "default", pipeline: "calm", initiator: .system)
            let (status, out, _) = try await f.gofer(["run", "watch", "calm", "\(run.id)"], tty: true, noColor: true)
            #expect(status == .exited(0), "\(out)")
            #expect(out.contains("\u{1B}[J"), "still redrawn in place on a terminal: \(out)")
            // Colour codes (SGR: ESC[…m), not the cursor movement of the redraw (ESC[nA, ESC[J).
            #expect(out.range(of: "\u{1B}\\[[0-9;]*m", options: .regularExpression) == nil, "no colour with NO_COLOR: \(out)")
        }
    }

    /// The text without ANSI escape sequences.
    static func plain(_ s: String) -> String {
        s.replacingOccurrences(of: "\u{1B}\\[[0-9;]*[A-Za-z]", with: "", options: .regularExpression)
    }

    @Test func aTaskCancelledFromTheCLIKeepsItsReasonAndWho() async throws {
        let f = try await Fixture()
        return try await stopping({ await f.h.stop() }) {
            _ = try await f.h.apply("id: p\ntasks:\n  - { id: slow, image: none, command: [\"sleep\", \"30\"] }\n")
            let run = try await f.h.server.engine.startRun(namespace: "default", pipeline: "p", initiator: .system)
            for _ in 0..<300 where try await f.h.server.store.task(namespace: "default", pipeline: "p", run: run.id, task: "slow").state != .running {
                try await Task.sleep(for: .milliseconds(50))
            }
            let (status, out, err) = try await f.gofer(["task", "cancel", "p", "\(run.id)", "slow", "--reason", "wrong branch"])
            #expect(status == .exited(0) && out.contains("cancelling task slow") && out.contains("wrong branch"), "\(out)\(err)")
            _ = try await f.h.server.engine.waitForRun(namespace: "default", pipeline: "p", run: run.id)
            let task = try await f.h.server.store.task(namespace: "default", pipeline: "p", run: run.id, task: "slow")
            #expect(task.state == .cancelled, "\(task)")
            #expect(task.reason?.message.hasPrefix("cancelled by admin") == true && task.reason?.message.hasSuffix(": wrong branch") == true, "\(String(describing: task.reason))")
        }
    }

    @Test func aTypoGetsTheClosestNames() async throws {
        let f = try await Fixture()
        return try await stopping({ await f.h.stop() }) {
            _ = try await f.h.apply("id: website\ntasks:\n  - { id: t, image: none, command: [\"true\"] }\n")
            var (status, _, err) = try await f.gofer(["pipline", "list"])
            #expect(status == .exited(64) && err.contains("unknown command 'gofer pipline'; did you mean 'gofer pipeline'?"), "\(err)")
            (status, _, err) = try await f.gofer(["run", "strat", "website"])
            #expect(status == .exited(64) && err.contains("did you mean 'gofer run start'?"), "\(err)")
            (status, _, err) = try await f.gofer(["run", "start", "webiste"])
            #expect(status == .exited(1) && err.contains("pipeline \"default/webiste\" not found: did you mean \"website\"?"), "\(err)")
            (status, _, err) = try await f.gofer(["run", "start", "zzz"])
            #expect(status == .exited(1) && err.contains("pipeline \"default/zzz\" not found") && !err.contains("did you mean"), "\(err)")
        }
    }

    @Test func theFirstApplyOfAFileWithNineProblemsListsAllNineAsFileLineColumn() async throws {
        let f = try await Fixture()
        return try await stopping({ await f.h.stop() }) {
            let file = f.dir.path + "/bad.yaml"
            try PipelineConfigLoaderTests.nineProblems.write(toFile: file, atomically: true, encoding: .utf8)
            let (status, out, err) = try await f.gofer(["pipeline", "apply", file])
            #expect(status == .exited(1) && out.isEmpty, "\(out)\(err)")
            let lines = err.split(separator: "\n").map(String.init)
            #expect(lines.first == "error: the pipeline config is invalid (9 problems)", "\(err)")
            let located = lines.dropFirst().filter { $0.range(of: #"^.*/bad\.yaml:\d+:\d+: /"#, options: .regularExpression) != nil }
            #expect(located.count == 9, "\(err)")
            #expect(lines.contains { $0.hasSuffix("bad.yaml:6:5: /tasks/0/timeout: \"soon\" is not a duration; write e.g. 30m or 2h") }, "\(err)")
            // Nothing was stored.
            let (_, list, _) = try await f.gofer(["pipeline", "list", "--json"])
            #expect(!list.contains("Bad Name"), "\(list)")
        }
    }

    @Test func initAsksOnATerminalAndWritesAPipelineThatApplies() async throws {
        let f = try await Fixture()
        return try await stopping({ await f.h.stop() }) {
            let file = f.dir.path + "/ci.yaml"
            // Answers: id, image (default), command, trigger.
            let gofer = BuiltProducts.path("gofer")
            let r = try await ChildProcess.run(
                "/bin/sh", arguments: ["-c", "printf 'website\\n\\nmake test\\nevery:30m\\n' | script -qec '\(gofer) init \(file)' /dev/null"],
                environment: f.env, timeout: .seconds(60))
            let out = String(decoding: r.stdout, as: UTF8.self)
            #expect(r.status == .exited(0) && out.contains("Pipeline id [") && out.contains("wrote \(file) (pipeline website)"), "\(out)")
            let text = try String(contentsOfFile: file, encoding: .utf8)
            #expect(text.contains("id: \"website\"") && text.contains("image: \"busybox:latest\"") && text.contains("run: \"make test\"") && text.contains("every: \"30m\""), "\(text)")
            var (status, applied, err) = try await f.gofer(["pipeline", "apply", file])
            #expect(status == .exited(0) && applied.contains("applied pipeline default/website version 1"), "\(applied)\(err)")
            // Flags instead of questions; an existing file is kept; a bad id is refused before writing.
            (status, _, err) = try await f.gofer(["init", file, "--id", "other"])
            #expect(status == .exited(1) && err.contains("exists; keep it, or pass --force"), "\(err)")
            (status, _, err) = try await f.gofer(["init", f.dir.path + "/bad.yaml", "--id", "Not Valid"])
            #expect(status == .exited(64) && err.contains("/id: does not match the pattern") && !FileManager.default.fileExists(atPath: f.dir.path + "/bad.yaml"), "\(err)")
            // A cron schedule is checked by the cron trigger, as apply checks it: a minute of 61 is refused before writing…
            (status, _, err) = try await f.gofer(["init", f.dir.path + "/cron.yaml", "--id", "nightly", "--trigger", "cron:61 * * * *"])
            #expect(status == .exited(64) && err.contains("61") && !FileManager.default.fileExists(atPath: f.dir.path + "/cron.yaml"), "\(err)")
            // …and a good one is written and applies.
            (status, _, err) = try await f.gofer(["init", f.dir.path + "/cron.yaml", "--id", "nightly", "--trigger", "cron:0 3 * * *"])
            #expect(status == .exited(0), "\(err)")
            (status, applied, err) = try await f.gofer(["pipeline", "apply", f.dir.path + "/cron.yaml"])
            #expect(status == .exited(0) && applied.contains("applied pipeline default/nightly version 1"), "\(applied)\(err)")
        }
    }

    @Test(arguments: ["bash", "zsh", "fish"])
    func completionScriptsKnowTheCommands(shell: String) async throws {
        let r = try await ChildProcess.run(BuiltProducts.path("gofer"), arguments: ["--generate-completion-script", shell])
        let script = String(decoding: r.stdout, as: UTF8.self)
        #expect(r.status == .exited(0) && script.contains("pipeline") && script.contains("attach"), "\(script.prefix(200))")
        if shell == "bash" {
            // Loads into bash and registers the completion.
            let file = try TemporaryDirectory()
            try script.write(toFile: file.path + "/gofer.bash", atomically: true, encoding: .utf8)
            let loaded = try await ChildProcess.run("/bin/bash", arguments: ["-c", "source \(file.path)/gofer.bash && complete -p gofer"])
            #expect(loaded.status == .exited(0) && String(decoding: loaded.stdout, as: UTF8.self).contains("gofer"))
        }
    }
}
