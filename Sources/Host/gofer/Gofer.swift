import ArgumentParser
import ExtensionSDKShims
import Foundation
import GoferHost

/// `gofer`: the server and its command-line client in one binary.
@main
struct Gofer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gofer",
        abstract: "Gofer: run container pipelines as DAGs when something happens.",
        version: goferVersion,
        subcommands: [
            ServiceCommand.self, DemoCommand.self, PipelineCommand.self, RunCommand.self, TaskCommand.self, NamespaceCommand.self,
            EventCommand.self, TriggerCommand.self, SecretCommand.self, ObjectCommand.self, ExtensionCommand.self, LoginCommand.self, WhoamiCommand.self,
            TokenCommand.self, RoleCommand.self,
        ])

    static func main() async {
        // Line by line even into a pipe or a journal: `listening on …` and progress appear when
        // they happen, not when a buffer fills or the process exits.
        gofer_stdout_line_buffered()
        do {
            var command = try parseAsRoot()
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
