import ArgumentParser
import ExtensionSDK
import Foundation
import GoferHost

struct NamespaceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "namespace", abstract: "Manage namespaces.", subcommands: [Create.self, List.self, Get.self, Delete.self, Set.self])

    struct Create: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument(help: "Namespace id.") var id: String
        @Option(help: "Display name.") var name: String?
        @Option(help: "Description.") var description: String = ""

        func run() async throws {
            let ns: Namespace = try await cli {
                try await options.client.call(
                    "POST", "/api/namespaces",
                    body: name.map { ["id": .string(id), "name": .string($0), "description": .string(description)] }
                        ?? ["id": .string(id), "description": .string(description)])
            }
            if options.json { Output.json(ns) } else { print("created namespace \(ns.id)") }
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @OptionGroup var page: PageOptions

        func run() async throws {
            let p: Page<Namespace> = try await cli { try await options.client.call("GET", "/api/namespaces" + page.query()) }
            if options.json { return Output.json(p) }
            Output.table(
                ["ID", "NAME", "DESCRIPTION", "CREATED"], p.items.map { [$0.id, $0.name, $0.description, Output.ago($0.createdAt)] })
            printNextCursor(p.nextCursor)
        }
    }

    struct Get: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument var id: String

        func run() async throws {
            let ns: Namespace = try await cli { try await options.client.call("GET", Paths.ns(id)) }
            if options.json { return Output.json(ns) }
            Output.table(["ID", "NAME", "DESCRIPTION", "CREATED"], [[ns.id, ns.name, ns.description, Output.ago(ns.createdAt)]])
        }
    }

    struct Delete: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument var id: String

        func run() async throws {
            _ = try await cli { try await options.client.raw("DELETE", Paths.ns(id)) }
            Output.done("deleted namespace \(id)", json: ["deleted": ["namespace": .string(id)]])
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a namespace the current one (saved in the CLI config file).")
        @OptionGroup var options: ClientOptions
        @Argument var id: String

        func run() async throws {
            let _: Namespace = try await cli { try await options.client.call("GET", Paths.ns(id)) }
            var config = CLIConfig.load()
            config.namespace = id
            try config.save()
            Output.done("current namespace: \(id) (saved in \(CLIConfig.path))", json: ["namespace": .string(id), "config": .string(CLIConfig.path)])
        }
    }
}
