import ArgumentParser
import ExtensionSDK
import Foundation
import GoferHost

/// A pipeline config from a file or, for `-`, standard input (JSON when it starts as a JSON
/// object, YAML otherwise; a file's format comes from its extension).
struct ConfigInput {
    let data: Data
    let text: String
    /// The file, or `<stdin>`, for messages.
    let shownName: String
    let format: PipelineConfigLoader.Format

    init(_ file: String) throws {
        guard let data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: file) else {
            Output.error("cannot read \(file)")
            throw ExitCode.failure
        }
        self.data = data
        text = String(decoding: data, as: UTF8.self)
        shownName = file == "-" ? "<stdin>" : file
        format = file == "-" ? (text.drop { $0.isWhitespace }.first == "{" ? .json : .yaml) : PipelineConfigLoader.format(forFile: file)
    }
}

struct PipelineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline", abstract: "Manage pipelines.",
        subcommands: [
            Apply.self, Check.self, List.self, Get.self, Delete.self, Triggers.self, Errors.self, Enable.self, Disable.self, Events.self,
            Versions.self, Version.self, Diff.self, Rollback.self, Rollouts.self, Promote.self, Abort.self,
        ])

    /// `gofer pipeline check FILE|-`: the loader's checks without a server (what apply refuses,
    /// except a trigger's or common task's settings, which their extension checks at apply).
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a pipeline config without a server: every problem apply would find in it, with file, line and field.",
            discussion:
                "Settings of triggers and common tasks are checked by their extensions when the pipeline is applied. With --json: {\"problems\": [{path, message, line?, column?}]}.")
        @Argument(help: "Pipeline config file (YAML, JSON or TOML), or - for standard input (JSON or YAML).") var file: String
        @Flag(help: "Print JSON instead of text.") var json = false

        func run() throws {
            let input = try ConfigInput(file)
            let (text, shown, format) = (input.text, input.shownName, input.format)
            do {
                let config = try PipelineConfigLoader().load(text, file: shown, format: format)
                if json { return Output.line(["problems": .array([])]) }
                print("\(shown): pipeline \(config.id) is valid (\(config.tasks.count) tasks); trigger and common-task settings are checked at apply")
            } catch {
                if json {
                    Output.line([
                        "problems": .array(
                            error.problems.map { p in
                                var o: JSONValue = ["path": .string(p.path), "message": .string(p.message)]
                                if let line = p.line { o["line"] = .int(Int64(line)) }
                                if let column = p.column { o["column"] = .int(Int64(column)) }
                                return o
                            })
                    ])
                } else {
                    for p in error.problems {
                        let place = shown + (p.line.map { ":\($0)" + (p.column.map { ":\($0)" } ?? "") } ?? "")
                        FileHandle.standardError.write(Data("\(place): \(p.path.isEmpty ? "" : p.path + ": ")\(p.message)\n".utf8))
                    }
                }
                throw ExitCode.failure
            }
        }
    }

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create or update a pipeline from a config file (YAML or JSON); prints what changed.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Pipeline config file (YAML, JSON or TOML), or - for standard input (JSON or YAML: `python3 pipeline.py | gofer pipeline apply -`).")
        var file: String
        @OptionGroup var canary: CanaryOptions

        func run() async throws {
            let input = try ConfigInput(file)
            let shownName = input.shownName
            let data = input.data
            // The server refuses a config over its limit; saying so here costs no upload.
            guard data.count <= PipelineConfigLoader.maxBytes else {
                Output.error(
                    "\(shownName): the config is \(data.count) bytes; the limit is \(PipelineConfigLoader.maxBytes) bytes (1 MiB). Split the pipeline, or move data out of it (objects: docs/objects.md)")
                throw ExitCode.failure
            }
            let (text, format) = (input.text, input.format)
            let request = ApplyPipelineRequest(
                config: text, format: format.rawValue, file: file == "-" ? "stdin" : (file as NSString).lastPathComponent, rollout: try canary.rollout()?.json)
            let client = try options.client
            let result: ApplyResult
            do {
                result = try await client.call("POST", Paths.ns(options.ns) + "/pipelines", request: request)
            } catch let e as APIError where e.code == "invalid_config" && !Output.jsonMode {
                // As compilers print them, so editors and terminals jump to each: file:line:column: field: message.
                Output.error(e.message)
                for d in e.details {
                    let place = shownName + (d.line.map { ":\($0)" + (d.column.map { ":\($0)" } ?? "") } ?? "")
                    FileHandle.standardError.write(Data("\(place): \(d.field.isEmpty ? "" : d.field + ": ")\(d.message)\n".utf8))
                }
                throw ExitCode.failure
            } catch let e as APIError {
                report(e)
                throw ExitCode.failure
            }
            if options.json { return Output.json(result) }
            for warning in result.warnings ?? [] { print(Output.color("warning: ", "33") + warning) }
            if !result.created {
                print("pipeline \(options.ns)/\(result.pipeline.id) is unchanged (version \(result.version)); nothing applied")
                return
            }
            if let r = result.rollout {
                print(
                    "applied pipeline \(options.ns)/\(result.pipeline.id) version \(result.version) as a canary: \(r.strategy.share) use it, version \(r.baseVersion) stays live"
                )
                print(
                    "  promoted after \(r.strategy.window); rolled back if more than \(r.strategy.maxFailurePercent)% of its runs fail (gofer pipeline rollouts \(result.pipeline.id))"
                )
            } else {
                print("applied pipeline \(options.ns)/\(result.pipeline.id) version \(result.version)")
            }
            for change in result.changes {
                let colored =
                    change.hasPrefix("+")
                    ? Output.color(change, "32") : change.hasPrefix("-") ? Output.color(change, "31") : Output.color(change, "33")
                print("  " + colored)
            }
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @OptionGroup var page: PageOptions

        func run() async throws {
            let p: Page<Pipeline> = try await cli {
                try await options.client.call("GET", Paths.ns(options.ns) + "/pipelines" + page.query())
            }
            if options.json { return Output.json(p) }
            Output.table(
                ["ID", "NAME", "STATE", "LIVE", "LATEST", "UPDATED"],
                p.items.map {
                    [$0.id, $0.name, $0.state.rawValue, String($0.liveVersion), String($0.latestVersion), Output.ago($0.updatedAt)]
                })
            printNextCursor(p.nextCursor)
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a pipeline: its tasks, their dependencies and images.")
        @OptionGroup var options: ClientOptions
        @Argument var id: String

        func run() async throws {
            let d: PipelineDetail = try await cli { try await options.client.call("GET", Paths.pipeline(options.ns, id)) }
            if options.json { return Output.json(d) }
            print(
                "\(Output.color(d.pipeline.namespace + "/" + d.pipeline.id, "1")) — \(d.pipeline.name) (live version \(d.pipeline.liveVersion), \(d.pipeline.state.rawValue))"
            )
            if let r = d.rollout {
                print(
                    Output.color("canary: ", "33")
                        + "version \(r.version) gets \(r.strategy.share); \(r.stats.canaryRuns) run(s) so far, \(r.stats.failed) failed of \(r.stats.measured) finished"
                )
            }
            if !d.config.description.isEmpty { print(d.config.description) }
            // The extensions it uses, by kind (the server's scheduler runs every task).
            let triggers = Set(d.config.triggers.map(\.trigger)).sorted()
            let commonTasks = Set(d.config.tasks.compactMap(\.extension) + d.config.hooks.map(\.extension)).sorted()
            let uses = triggers.map { "\($0) (trigger)" } + commonTasks.map { "\($0) (common task)" }
            print(
                "parallelism: \(d.config.parallelism == 0 ? "unlimited" : String(d.config.parallelism))   uses: "
                    + (uses.isEmpty ? "no extensions beyond the scheduler" : uses.joined(separator: ", ")))
            print("")
            Output.table(
                ["TASK", "RUNS", "DEPENDS ON", "TIMEOUT"],
                d.config.tasks.map { t in
                    [
                        t.id, t.extension.map { "common task \($0)" } ?? t.image,
                        t.dependsOn.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value.rawValue))" }.joined(separator: ", "),
                        t.timeoutSeconds.map { DurationText.format(.seconds($0)) } ?? "default",
                    ]
                })
            print("")
            if d.config.triggers.isEmpty {
                print("triggers: none")
            } else {
                Output.table(
                    ["TRIGGER", "LABEL", "SETTINGS"], d.config.triggers.map { [$0.trigger, $0.label, $0.settings.description] })
            }
            if !d.config.hooks.isEmpty {
                print("")
                Output.table(["HOOK", "COMMON TASK", "SETTINGS"], d.config.hooks.map { [$0.label, $0.extension, $0.settings.description] })
            }
            if !d.errors.isEmpty {
                print("")
                print(Output.color("errors:", "31"))
                for e in d.errors { print("  \(e.source): \(e.message)") }
            }
        }
    }

    struct Triggers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a pipeline's trigger subscriptions: state, last cursor, and why one failed.")
        @OptionGroup var options: ClientOptions
        @Argument var id: String
        func run() async throws {
            let list: ItemList<TriggerSubscription> = try await cli { try await options.client.call("GET", Paths.pipeline(options.ns, id) + "/triggers") }
            if options.json { return Output.json(list) }
            if list.items.isEmpty { return print("pipeline \(options.ns)/\(id) has no triggers") }
            Output.table(
                ["LABEL", "TRIGGER", "STATE", "SETTINGS", "CURSOR", "DETAIL"],
                list.items.map {
                    [$0.label, $0.trigger, Output.state($0.state.rawValue), $0.settings.description, $0.cursor ?? "-", $0.detail]
                })
        }
    }

    struct Errors: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a pipeline's current problems (a trigger missing, unreachable or refusing the subscription).")
        @OptionGroup var options: ClientOptions
        @Argument var id: String
        func run() async throws {
            let list: ItemList<PipelineError> = try await cli { try await options.client.call("GET", Paths.pipeline(options.ns, id) + "/errors") }
            if options.json { return Output.json(list) }
            if list.items.isEmpty { return print("pipeline \(options.ns)/\(id) has no errors") }
            Output.table(["SOURCE", "KIND", "SINCE", "MESSAGE"], list.items.map { [$0.source, $0.kind, Output.ago($0.at), $0.message] })
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a pipeline: runs may start and its triggers are subscribed.")
        @OptionGroup var options: ClientOptions
        @Argument var id: String

        func run() async throws {
            let p: Pipeline = try await cli { try await options.client.call("POST", Paths.pipeline(options.ns, id) + "/enable") }
            if options.json { return Output.json(p) }
            print("enabled pipeline \(options.ns)/\(id) (\(p.state.rawValue)); see `gofer pipeline errors \(id)` if a trigger refused")
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Disable a pipeline: no new runs, triggers unsubscribed (runs in progress finish).")
        @OptionGroup var options: ClientOptions
        @Argument var id: String

        func run() async throws {
            let p: Pipeline = try await cli { try await options.client.call("POST", Paths.pipeline(options.ns, id) + "/disable") }
            if options.json { return Output.json(p) }
            print("disabled pipeline \(options.ns)/\(id)")
        }
    }

    struct Events: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "trigger-events", abstract: "Show the events a pipeline's triggers delivered and the run each started.")
        @OptionGroup var options: ClientOptions
        @Argument var id: String
        @Option(help: "How many, newest first.") var limit = 20
        func run() async throws {
            let list: ItemList<TriggerEvent> = try await cli {
                try await options.client.call("GET", Paths.pipeline(options.ns, id) + "/trigger-events?limit=\(limit)")
            }
            if options.json { return Output.json(list) }
            Output.table(
                ["RECEIVED", "TRIGGER", "EVENT", "OUTCOME"],
                list.items.map { [Output.ago($0.receivedAt), "\($0.trigger)/\($0.label)", $0.eventID, $0.outcome] })
        }
    }

    struct Delete: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument var id: String

        func run() async throws {
            _ = try await cli { try await options.client.raw("DELETE", Paths.pipeline(options.ns, id)) }
            Output.done("deleted pipeline \(options.ns)/\(id)", json: ["deleted": ["namespace": .string(options.ns), "pipeline": .string(id)]])
        }
    }
}
