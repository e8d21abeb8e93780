import ArgumentParser
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
}
