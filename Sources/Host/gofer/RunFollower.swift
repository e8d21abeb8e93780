import ExtensionSDK
import Foundation
import GoferHost

/// Follows a run over server-sent events: keeps every task's state, optionally streams each
/// task's log as it runs, and returns the run once it has ended.
struct RunFollower {
    let client: APIClient
    let namespace: String
    let pipeline: String
    let run: Int
    /// Print task logs live, each line prefixed with its task.
    var streamLogs = false
    /// Redraw a state table on changes (`run watch`); otherwise print one line per change.
    var table = false

    static let decoder = APIClient.decoder

    func follow() async throws -> Run {
        var detail: RunDetail?
        var followers: [String: Task<Void, Never>] = [:]
        var pendingLines = ""
        var eventName = ""
        var drawn = 0
        for try await event in client.stream(Paths.run(namespace, pipeline, run) + "/events") {
            guard case .body(let bytes) = event else {
                if case .head(let status, _) = event, status != 200 {
                    throw APIError(status: status, code: "http_\(status)", message: "cannot follow run \(run): HTTP \(status)")
                }
                continue
            }
            pendingLines += String(decoding: bytes, as: UTF8.self)
            while let newline = pendingLines.firstIndex(of: "\n") {
                let line = String(pendingLines[..<newline])
                pendingLines.removeSubrange(...newline)
                if line.hasPrefix("event: ") { eventName = String(line.dropFirst(7)) }
                guard line.hasPrefix("data: ") else { continue }
                let data = Data(line.dropFirst(6).utf8)
                if eventName == "snapshot" {
                    detail = try Self.decoder.decode(RunDetail.self, from: data)
                } else if let e = try? Self.decoder.decode(Event.self, from: data) {
                    apply(e, to: &detail)
                    if !table { describe(e) }
                }
                guard let d = detail else { continue }
                if streamLogs {
                    // Follow each task's log once it has a container (running, or already ended with one).
                    for t in d.tasks
                    where followers[t.task] == nil && t.logging
                        && (t.state == .running || ((t.state == .succeeded || t.state == .failed) && t.startedAt != nil))
                    {
                        followers[t.task] = Task { await followLog(t.task) }
                    }
                }
                if table { drawn = redraw(d, previousLines: drawn) }
                if d.run.state.isTerminal {
                    for f in followers.values { await f.value }
                    return d.run
                }
            }
        }
        for f in followers.values { await f.value }
        return try await client.call("GET", Paths.run(namespace, pipeline, run), as: RunDetail.self).run
    }

    func apply(_ e: Event, to detail: inout RunDetail?) {
        guard var d = detail else { return }
        switch e.kind {
        case .runStateChanged:
            if let s = e.details["state"].flatMap(RunState.init) { d.run.state = s }
            if let kind = e.details["reason"].flatMap(StateReason.Kind.init) {
                d.run.reason = StateReason(kind, e.details["message"] ?? "")
            }
            if d.run.state == .running && d.run.startedAt == nil { d.run.startedAt = e.at }
            if d.run.state.isTerminal { d.run.endedAt = e.at }
        case .taskStateChanged:
            if let i = d.tasks.firstIndex(where: { $0.task == e.task }), let s = e.details["state"].flatMap(TaskState.init) {
                d.tasks[i].state = s
                if let kind = e.details["reason"].flatMap(StateReason.Kind.init) {
                    d.tasks[i].reason = StateReason(kind, e.details["message"] ?? "")
                }
                if s == .running { d.tasks[i].startedAt = e.at }
                if s.isTerminal { d.tasks[i].endedAt = e.at }
                if let code = e.details["exit_code"].flatMap(Int.init) { d.tasks[i].exitCode = code }
            }
        case .runStopRequested:
            if let kind = e.details["reason"].flatMap(StateReason.Kind.init) {
                d.run.stopRequested = StateReason(kind, e.details["message"] ?? "")
            }
        default: break
        }
        detail = d
    }

    func describe(_ e: Event) {
        let state = e.details["state"] ?? ""
        let reason = e.details["message"].map { " — \($0)" } ?? ""
        switch e.kind {
        case .runStateChanged: print(Output.color("▶ run \(run) \(Output.state(state))\(reason)", "1"))
        case .taskStateChanged: print("  task \(e.task ?? "?") \(Output.state(state))\(reason)")
        case .runStopRequested: print(Output.color("■ run \(run) stopping\(reason)", "1"))
        default: break
        }
    }

    /// Redraws the task table in place on a terminal; returns how many lines it drew.
    func redraw(_ d: RunDetail, previousLines: Int) -> Int {
        if Output.isTTY && previousLines > 0 { print("\u{1B}[\(previousLines)A\u{1B}[J", terminator: "") }
        print("run \(d.run.id) of \(namespace)/\(pipeline) (version \(d.run.pipelineVersion)): \(Output.state(d.run.state.rawValue))")
        Output.table(
            ["TASK", "STATE", "DURATION", "REASON"],
            d.tasks.map { [$0.task, Output.state($0.state.rawValue), Output.duration($0.startedAt, $0.endedAt), $0.reason?.message ?? ""] })
        return d.tasks.count + 2
    }

    func followLog(_ task: String) async {
        let prefix = Output.color(task.padding(toLength: 10, withPad: " ", startingAt: 0) + "|", "35") + " "
        var partial = ""
        do {
            for try await event in client.stream(Paths.task(namespace, pipeline, run, task) + "/logs?follow=true") {
                guard case .body(let bytes) = event else { continue }
                partial += String(decoding: bytes, as: UTF8.self)
                while let nl = partial.firstIndex(of: "\n") {
                    print(prefix + partial[..<nl])
                    partial.removeSubrange(...nl)
                }
            }
        } catch {}
        if !partial.isEmpty { print(prefix + partial) }
    }
}
