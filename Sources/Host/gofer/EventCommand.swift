import ArgumentParser
import ExtensionSDK
import Foundation
import GoferHost

/// `gofer event list`: the server's event log (runs, tasks, pipelines, trigger deliveries).
struct EventCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "event", abstract: "Read the event log.", subcommands: [List.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List events, oldest first: pipeline changes, runs and tasks changing state, triggers firing.")
        @OptionGroup var options: ClientOptions
        @Option(help: "Only this pipeline's events (in the namespace of -n).") var pipeline: String?
        @Option(help: "Events after this id (from a previous page).") var cursor: Int64 = 0
        @Option(help: "How many.") var limit = 100

        func run() async throws {
            var query = "?cursor=\(cursor)&limit=\(limit)"
            if let pipeline {
                query += "&namespace=\(APIClient.segment(options.ns))&pipeline=\(APIClient.segment(pipeline))"
            }
            let page: Page<Event> = try await cli { try await options.client.call("GET", "/api/events" + query) }
            if options.json { return Output.json(page) }
            Output.table(
                ["ID", "AT", "KIND", "WHERE", "DETAILS"],
                page.items.map { e in
                    let place = [e.namespace, e.pipeline, e.run.map { "#\($0)" }, e.task].compactMap { $0 }.joined(separator: "/")
                    let details = e.details.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                    return [String(e.id), Output.ago(e.at), e.kind.rawValue, place, details]
                })
            printNextCursor(page.nextCursor)
        }
    }
}

/// `gofer trigger list`: the trigger extensions the server runs.
struct TriggerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trigger", abstract: "Show the trigger extensions the server runs.", subcommands: [List.self])

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        func run() async throws {
            let list: ItemList<TriggerInfo> = try await cli { try await options.client.call("GET", "/api/triggers") }
            if options.json { return Output.json(list) }
            Output.table(
                ["NAME", "VERSION", "STATUS", "SUBSCRIPTIONS", "RESTARTS", "WEBHOOKS"],
                list.items.map {
                    [
                        $0.name, $0.version ?? "-", $0.status, String($0.subscriptions), String($0.restarts),
                        $0.external ? "POST /api/external/\($0.name)" : "-",
                    ]
                })
        }
    }
}
