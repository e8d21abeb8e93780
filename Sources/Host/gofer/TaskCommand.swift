import ArgumentParser
import ExtensionSDK
import Foundation
import GoferHost

struct TaskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "task", abstract: "Inspect and cancel task executions, read their logs, attach to them.",
        subcommands: [List.self, Get.self, Logs.self, Cancel.self, AttachCommand.self])

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel one task of a running run; its dependents follow their conditions.")
        @OptionGroup var options: ClientOptions
        @Argument var pipeline: String
        @Argument var run: Int
        @Argument var task: String
        @Option(help: "Why (recorded with the task).") var reason: String?

        func run() async throws {
            let t: TaskExecution = try await cli {
                try await options.client.call("POST", Paths.task(options.ns, pipeline, run, task) + "/cancel", request: CancelRequest(reason: reason))
            }
            if options.json { return Output.json(t) }
            print("cancelling task \(task) of run \(run) of \(options.ns)/\(pipeline)" + (reason.map { ": \($0)" } ?? ""))
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument var pipeline: String
        @Argument var run: Int

        func run() async throws {
            let p: Page<TaskExecution> = try await cli {
                try await options.client.call("GET", Paths.run(options.ns, pipeline, run) + "/tasks")
            }
            if options.json { return Output.json(p) }
            Output.table(
                ["TASK", "STATE", "EXIT", "IMAGE", "DURATION", "REASON"],
                p.items.map {
                    [
                        $0.task, Output.state($0.state.rawValue), $0.exitCode.map(String.init) ?? "-", $0.image,
                        Output.duration($0.startedAt, $0.endedAt), $0.reason?.message ?? "",
                    ]
                })
        }
    }

    struct Get: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument var pipeline: String
        @Argument var run: Int
        @Argument var task: String

        func run() async throws {
            let t: TaskExecution = try await cli { try await options.client.call("GET", Paths.task(options.ns, pipeline, run, task)) }
            if options.json { return Output.json(t) }
            Output.table(
                ["TASK", "STATE", "EXIT", "IMAGE", "STARTED", "DURATION", "HANDLE", "REASON"],
                [
                    [
                        t.task, Output.state(t.state.rawValue), t.exitCode.map(String.init) ?? "-", t.image, Output.ago(t.startedAt),
                        Output.duration(t.startedAt, t.endedAt), String((t.handle ?? "-").prefix(12)), t.reason?.message ?? "",
                    ]
                ])
        }
    }

    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a task's log; with -f, follow it until the task ends.")
        @OptionGroup var options: ClientOptions
        @Argument var pipeline: String
        @Argument var run: Int
        @Argument var task: String
        @Flag(name: [.short, .long], help: "Follow the log until the task ends.") var follow = false

        func run() async throws {
            let client = try options.client
            // Existence check first, for a clear 404.
            let _: TaskExecution = try await cli { try await client.call("GET", Paths.task(options.ns, pipeline, run, task)) }
            let lines = TaskLogLines(client: client, namespace: options.ns, pipeline: pipeline, run: run, task: task, follow: follow)
            if options.json {
                // JSON Lines: one {"task", "line"} object per log line.
                return try await cli { try await lines.forEach { Output.line(TaskLogLines.record(task, $0)) } }
            }
            try await cli {
                for try await event in client.stream(lines.path) {
                    switch event {
                    case .body(let bytes): FileHandle.standardOutput.write(Data(bytes))
                    default: break
                    }
                }
            }
        }
    }
}
