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
        version: goferVersionDescription,
        subcommands: [
            ServiceCommand.self, DemoCommand.self, InitCommand.self, PipelineCommand.self, RunCommand.self, TaskCommand.self, NamespaceCommand.self,
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
        } catch let error as ExitCode {
            exit(withError: error)  // the command already said why
        } catch {
            let code = exitCode(for: error)
            let hint = CommandSuggestion.hint(for: Array(CommandLine.arguments.dropFirst()), root: Gofer.self)
            if code != .success && (Output.jsonMode || hint != nil) {
                var message = message(for: error)
                if let hint { message = hint }
                Output.error(message, exitCode: code.rawValue)
                if !Output.jsonMode, let hint = hint.flatMap({ _ in CommandSuggestion.usageHint }) { FileHandle.standardError.write(Data(hint.utf8)) }
                exit(withError: ExitCode(code.rawValue))
            }
            exit(withError: error)
        }
    }
}
