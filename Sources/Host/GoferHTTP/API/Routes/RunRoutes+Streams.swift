import ExtensionSDK
import Foundation
import Hummingbird
import NIOCore

extension RunRoutes.Services {
    /// Server-sent events for one run: a `snapshot` of the run and its tasks, then one `event` per
    /// state change, ending after the run ends.
    func runEvents(namespace: String, pipeline: String, run: Int) async throws -> Response {
        let live = bus.subscribe()  // before the snapshot, so nothing falls in between
        let initial = try await store.run(namespace: namespace, pipeline: pipeline, id: run)
        let tasks = try await store.tasks(namespace: namespace, pipeline: pipeline, run: run)
        let snapshot = try APIAnswer.encoder.encode(RunDetail(run: initial, tasks: tasks))
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: "event: snapshot\ndata: " + String(decoding: snapshot, as: UTF8.self) + "\n\n"))
            if !initial.state.isTerminal {
                for await event in live where event.namespace == namespace && event.pipeline == pipeline && event.run == run {
                    let data = try APIAnswer.encoder.encode(event)
                    try await writer.write(
                        ByteBuffer(string: "event: \(event.kind.rawValue)\ndata: " + String(decoding: data, as: UTF8.self) + "\n\n"))
                    if event.kind == .runStateChanged, let s = event.details["state"].flatMap(RunState.init), s.isTerminal { break }
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    /// A task's log. With `follow`, keeps streaming until the task has ended and its log is read.
    func taskLogs(namespace: String, pipeline: String, run: Int, task: String, follow: Bool) async throws -> Response {
        let execution = try await store.task(namespace: namespace, pipeline: pipeline, run: run, task: task)
        if !execution.logging {
            throw APIError(status: 409, code: "logging_disabled", message: "task \(task) has logging: false, so its output was not stored")
        }
        // A task carried over by a rerun did not run again: its log is the run's it came from.
        let path = logs.path(namespace: namespace, pipeline: pipeline, run: execution.carriedFrom ?? run, task: task)
        let store = self.store
        let body = ResponseBody { writer in
            var offset: UInt64 = 0
            var handle: FileHandle?
            while true {
                if handle == nil { handle = FileHandle(forReadingAtPath: path) }
                var wrote = false
                if let h = handle {
                    try h.seek(toOffset: offset)
                    if let data = try h.read(upToCount: 256 * 1024), !data.isEmpty {
                        offset += UInt64(data.count)
                        try await writer.write(ByteBuffer(bytes: data))
                        wrote = true
                    }
                }
                if wrote { continue }
                guard follow else { break }
                let state = try await store.task(namespace: namespace, pipeline: pipeline, run: run, task: task).state
                if state.isTerminal {
                    // One last read: the runner closes the file after the final state is stored.
                    try await Task.sleep(for: .milliseconds(100))
                    if let h = handle ?? FileHandle(forReadingAtPath: path) {
                        try h.seek(toOffset: offset)
                        if let data = try h.readToEnd(), !data.isEmpty { try await writer.write(ByteBuffer(bytes: data)) }
                    }
                    break
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            try? handle?.close()
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: body)
    }
}
