import ArgumentParser
import ExtensionSDK
import Foundation
import GoferHost

struct PipelineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline", abstract: "Manage pipelines.", subcommands: [Apply.self, List.self, Get.self, Delete.self])

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create or update a pipeline from a config file (YAML or JSON); prints what changed.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Pipeline config file.") var file: String

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file) else {
                Output.error("cannot read \(file)")
                throw ExitCode.failure
            }
            let text = String(decoding: data, as: UTF8.self)
            let result: ApplyResult = try await cli {
                try await options.client.call(
                    "POST", Paths.ns(options.ns) + "/pipelines",
                    body: [
                        "config": .string(text), "file": .string((file as NSString).lastPathComponent),
                        "format": .string(PipelineConfigLoader.format(forFile: file).rawValue),
                    ])
            }
            if options.json { return Output.json(result) }
            if !result.created {
                print("pipeline \(options.ns)/\(result.pipeline.id) is unchanged (version \(result.version)); nothing applied")
                return
            }
            print("applied pipeline \(options.ns)/\(result.pipeline.id) version \(result.version)")
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
                ["ID", "NAME", "STATE", "VERSION", "UPDATED"],
                p.items.map { [$0.id, $0.name, $0.state.rawValue, String($0.latestVersion), Output.ago($0.updatedAt)] })
            printNextCursor(p.nextCursor)
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a pipeline: its tasks, their dependencies and images.")
        @OptionGroup var options: ClientOptions
        @Argument var id: String

        struct Detail: Codable { var pipeline: Pipeline; var config: PipelineConfig }

        func run() async throws {
            let d: Detail = try await cli { try await options.client.call("GET", Paths.pipeline(options.ns, id)) }
            if options.json { return Output.json(d) }
            print(
                "\(Output.color(d.pipeline.namespace + "/" + d.pipeline.id, "1")) — \(d.pipeline.name) (version \(d.pipeline.latestVersion), \(d.pipeline.state.rawValue))"
            )
            if !d.config.description.isEmpty { print(d.config.description) }
            print("parallelism: \(d.config.parallelism == 0 ? "unlimited" : String(d.config.parallelism))   extensions: scheduler")
            print("")
            Output.table(
                ["TASK", "IMAGE", "DEPENDS ON", "TIMEOUT"],
                d.config.tasks.map { t in
                    [
                        t.id, t.image,
                        t.dependsOn.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value.rawValue))" }.joined(separator: ", "),
                        t.timeoutSeconds.map { DurationText.format(.seconds($0)) } ?? "default",
                    ]
                })
            print("\ntriggers: none")
        }
    }

    struct Delete: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument var id: String

        func run() async throws {
            _ = try await cli { try await options.client.raw("DELETE", Paths.pipeline(options.ns, id)) }
            print("deleted pipeline \(options.ns)/\(id)")
        }
    }
}
