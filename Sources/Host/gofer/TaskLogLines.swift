import ExtensionSDK
import Foundation
import GoferHost
import Synchronization

/// A task's log as whole lines, read once or followed until the task ends. The server masks
/// secrets before anything leaves it; lines keep their ANSI colours.
struct TaskLogLines {
    let client: APIClient
    let path: String
    let follow: Bool

    init(client: APIClient, namespace: String, pipeline: String, run: Int, task: String, follow: Bool) {
        self.client = client
        self.path = Paths.task(namespace, pipeline, run, task) + "/logs" + (follow ? "?follow=true" : "")
        self.follow = follow
    }

    /// Calls `line` for each line (without its newline); a last line without one is delivered too.
    func forEach(_ line: (String) -> Void) async throws {
        var partial: [UInt8] = []
        for try await event in client.stream(path) {
            switch event {
            case .body(let bytes):
                partial += bytes
                while let nl = partial.firstIndex(of: 0x0A) {
                    line(String(decoding: partial[..<nl], as: UTF8.self))
                    partial.removeSubrange(...nl)
                }
            default: break
            }
        }
        if !partial.isEmpty { line(String(decoding: partial, as: UTF8.self)) }
    }

    /// A colour per task, the same for a task wherever it is printed.
    static func color(for task: String, among tasks: [String]) -> String {
        let palette = ["36", "35", "33", "32", "34", "96", "95", "93"]
        return palette[(tasks.firstIndex(of: task) ?? 0) % palette.count]
    }

    /// `task     | ` in the task's colour, padded to the longest task name.
    static func prefix(_ task: String, among tasks: [String]) -> String {
        let width = min(24, tasks.map(\.count).max() ?? task.count)
        let name = task.count < width ? task + String(repeating: " ", count: width - task.count) : task
        return Output.color(name + " |", color(for: task, among: tasks)) + " "
    }

    /// A JSON Lines record of one log line.
    static func record(_ task: String, _ line: String) -> JSONValue { ["task": .string(task), "line": .string(line)] }
}

/// Prints the log lines of several tasks, one whole line at a time: prefixed and coloured per
/// task, or with `--json` as `{"task", "line"}` objects (JSON Lines).
final class LinePrinter: Sendable {
    let tasks: [String]
    private let lock = Mutex(())

    init(tasks: [String]) { self.tasks = tasks }

    func print(_ task: String, _ line: String) {
        lock.withLock { _ in
            if Output.jsonMode {
                Output.line(TaskLogLines.record(task, line))
            } else {
                Swift.print(TaskLogLines.prefix(task, among: tasks) + line)
            }
        }
    }
}
