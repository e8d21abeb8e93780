import ArgumentParser
import ExtensionSDK
import Foundation
import GoferHost

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Start, inspect and cancel runs.",
        subcommands: [Start.self, List.self, Get.self, Cancel.self, Watch.self, Logs.self, Rerun.self])

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a run. With --wait, follow it and exit 0 only if it succeeded.")
        @OptionGroup var options: ClientOptions
        @Argument var pipeline: String
        @Flag(help: "Follow the run until it ends; exit 0 only if it succeeded.") var wait = false
        @Flag(help: "With --wait, also stream task logs.") var logs = false
        @Option(help: "Run this pipeline version instead of the live one (old and new side by side).") var pipelineVersion: Int?
        @Option(name: .customLong("var"), help: ArgumentHelp("A run variable, given to every task as an environment variable; repeat for more.", valueName: "KEY=VALUE"))
        var variables: [String] = []
        @Option(help: ArgumentHelp("Read run variables from this file: KEY=VALUE lines, # comments; --var wins over it.", valueName: "file"))
        var varFile: String?

        func validate() throws {
            if let pipelineVersion, pipelineVersion < 1 {
                throw ValidationError("--pipeline-version must be a positive version number (gofer pipeline versions PIPELINE)")
            }
        }

        /// The run's variables: the file's, then each --var (later wins).
        func runVariables() throws -> [String: String] {
            var out: [String: String] = [:]
            if let varFile {
                guard let data = FileManager.default.contents(atPath: varFile) else { throw ValidationError("cannot read \(varFile)") }
                // (`\r\n` is one Character: split on every kind of line end.)
                for (i, line) in String(decoding: data, as: UTF8.self).split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
                    .enumerated()
                {
                    let trimmed = line.trimmingCharacters(in: .whitespaces)
                    if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
                    let (key, value) = try Self.pair(String(line), source: "\(varFile):\(i + 1)")
                    out[key] = value
                }
            }
            for v in variables {
                let (key, value) = try Self.pair(v, source: "--var")
                out[key] = value
            }
            return out
        }

        /// `KEY=VALUE`, split at the first `=` (the value may hold more).
        static func pair(_ text: String, source: String) throws -> (String, String) {
            guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
                throw ValidationError("\(source): \"\(text.prefix(40))\" is not KEY=VALUE")
            }
            return (String(text[..<eq]).trimmingCharacters(in: .whitespaces), String(text[text.index(after: eq)...]))
        }

        func run() async throws {
            let variables = try runVariables()
            let request = StartRunRequest(variables: variables.isEmpty ? nil : variables, version: pipelineVersion)
            let r: Run = try await cli {
                try await options.client.call("POST", Paths.pipeline(options.ns, pipeline) + "/runs", request: request)
            }
            try await startedOrFollow(r, options: options, pipeline: pipeline, wait: wait, logs: logs)
        }
    }

    struct Rerun: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rerun a finished run with its version and variables; with --failed, only its failed and cancelled tasks and what depends on them.")
        @OptionGroup var options: ClientOptions
        @Argument var pipeline: String
        @Argument var run: Int
        @Flag(help: "Rerun only the failed and cancelled tasks and their dependents; the rest are carried over.") var failed = false
        @Flag(help: "Follow the run until it ends; exit 0 only if it succeeded.") var wait = false
        @Flag(help: "With --wait, also stream task logs.") var logs = false

        func run() async throws {
            let r: Run = try await cli {
                try await options.client.call("POST", Paths.run(options.ns, pipeline, run) + "/rerun", request: RerunRequest(failedOnly: failed))
            }
            try await startedOrFollow(r, options: options, pipeline: pipeline, wait: wait, logs: logs)
        }
    }

    /// Prints the started run, or follows it to its end (exit 0 only if it succeeded). With
    /// `--json`: the run, or after `--wait` the finished run's detail — one document, nothing else.
    static func startedOrFollow(_ r: Run, options: ClientOptions, pipeline: String, wait: Bool, logs: Bool) async throws {
        let why = r.rerunOf.map { "rerun of run \($0), " } ?? (r.versionReason == .live ? "" : "\(r.versionReason.rawValue) ")
        let started = "started run \(r.id) of \(options.ns)/\(pipeline) (\(why)version \(r.pipelineVersion))"
        if !wait {
            if options.json { return Output.json(r) }
            return print(started)
        }
        if !options.json { print(started) }
        let client = try options.client
        let final = try await cli {
            try await RunFollower(client: client, namespace: options.ns, pipeline: pipeline, run: r.id, view: options.json ? .quiet : .lines(logs: logs))
                .follow()
        }
        if options.json {
            let detail: RunDetail = try await cli { try await client.call("GET", Paths.run(options.ns, pipeline, r.id)) }
            Output.json(detail)
        } else {
            print("run \(final.id) \(Output.state(final.state.rawValue))\(final.reason.map { ": \($0.message)" } ?? "")")
        }
        if final.state != .succeeded { throw ExitCode.failure }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @OptionGroup var page: PageOptions
        @Argument var pipeline: String

        func run() async throws {
            let p: Page<Run> = try await cli {
                try await options.client.call("GET", Paths.pipeline(options.ns, pipeline) + "/runs" + page.query())
            }
            if options.json { return Output.json(p) }
            Output.table(
                ["RUN", "STATE", "VERSION", "STARTED", "DURATION", "BY", "REASON"],
                p.items.map {
                    [
                        String($0.id), Output.state($0.state.rawValue),
                        "\($0.pipelineVersion)" + ($0.versionReason == .live ? "" : " (\($0.versionReason.rawValue))"),
                        Output.ago($0.startedAt ?? $0.createdAt),
                        Output.duration($0.startedAt, $0.endedAt), $0.initiator.description, $0.reason?.message ?? "",
                    ]
                })
            printNextCursor(p.nextCursor)
        }
    }

    struct Get: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument var pipeline: String
        @Argument var run: Int

        func run() async throws {
            let d: RunDetail = try await cli { try await options.client.call("GET", Paths.run(options.ns, pipeline, run)) }
            if options.json { return Output.json(d) }
            print(
                "run \(d.run.id) of \(options.ns)/\(pipeline) (version \(d.run.pipelineVersion), \(d.run.rerunOf.map { "rerun of run \($0)" } ?? d.run.versionReason.rawValue)) \(Output.state(d.run.state.rawValue))\(d.run.reason.map { ": \($0.message)" } ?? "")"
            )
            print("started \(Output.ago(d.run.startedAt)) by \(d.run.initiator), took \(Output.duration(d.run.startedAt, d.run.endedAt))\n")
            Output.taskTable(d.tasks)
            let hooks: ItemList<HookDelivery> = try await cli { try await options.client.call("GET", Paths.run(options.ns, pipeline, run) + "/hooks") }
            if !hooks.items.isEmpty {
                print("")
                Output.table(
                    ["HOOK", "PHASE", "STATE", "ATTEMPTS", "LAST ERROR"],
                    hooks.items.map { [$0.label, $0.phase.rawValue, Output.state($0.state.rawValue), String($0.attempts), $0.lastError ?? ""] })
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument var pipeline: String
        @Argument var run: Int
        @Option(help: "Why (recorded with the run).") var reason: String?

        func run() async throws {
            let r: Run = try await cli {
                try await options.client.call("POST", Paths.run(options.ns, pipeline, run) + "/cancel", request: CancelRequest(reason: reason))
            }
            if options.json { return Output.json(r) }
            print("cancelling run \(run) of \(options.ns)/\(pipeline)")
        }
    }

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Live view of the run until it ends: every task's state and duration, and the last \(RunFollower.tailLines) log lines of each running task.",
            discussion: "Exits 0 only if the run succeeded. With --json: the run's detail as one JSON line per change (the last line is the end).")
        @OptionGroup var options: ClientOptions
        @Argument var pipeline: String
        @Argument var run: Int

        func run() async throws {
            let final = try await cli {
                try await RunFollower(client: try options.client, namespace: options.ns, pipeline: pipeline, run: run, view: options.json ? .jsonLines : .board)
                    .follow()
            }
            if final.state != .succeeded { throw ExitCode.failure }
        }
    }

    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the logs of every task of a run, each line prefixed (and coloured) with its task; with -f, follow them until the run ends.",
            discussion: "Without -f the logs come task by task in the pipeline's order. With --json: one {\"task\", \"line\"} object per line (JSON Lines).")
        @OptionGroup var options: ClientOptions
        @Argument var pipeline: String
        @Argument var run: Int
        @Flag(name: [.short, .long], help: "Follow the logs of running and later tasks until the run ends.") var follow = false

        func run() async throws {
            let client = try options.client
            let detail: RunDetail = try await cli { try await client.call("GET", Paths.run(options.ns, pipeline, run)) }
            let names = detail.tasks.map(\.task)
            let printer = LinePrinter(tasks: names)
            if follow && !detail.run.state.isTerminal {
                _ = try await cli {
                    try await RunFollower(client: client, namespace: options.ns, pipeline: pipeline, run: run, view: .lines(logs: true, events: false), printer: printer)
                        .follow()
                }
                return
            }
            for t in detail.tasks where t.startedAt != nil {
                guard t.logging else {
                    Output.note("\(t.task): logging: false, so its output was not stored")
                    continue
                }
                try await cli {
                    try await TaskLogLines(client: client, namespace: options.ns, pipeline: pipeline, run: run, task: t.task, follow: false)
                        .forEach { printer.print(t.task, $0) }
                }
            }
        }
    }
}
