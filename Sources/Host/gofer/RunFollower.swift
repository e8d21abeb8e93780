import ExtensionSDK
import Foundation
import GoferHost
import Synchronization

/// Follows a run over server-sent events until it ends, and shows it as one of four views.
struct RunFollower {
    enum View {
        /// One line per state change (unless `events` is false), and with `logs` every task's log
        /// prefixed (`run start --wait`, `run logs -f`).
        case lines(logs: Bool, events: Bool = true)
        /// A live table of the tasks with ticking durations and the last lines of each running
        /// task's log, redrawn in place on a terminal (`run watch`).
        case board
        /// The run's detail as one JSON line per change (`run watch --json`).
        case jsonLines
        /// Nothing until the end (`--json` of `run start --wait`: one document, printed by the caller).
        case quiet
    }

    let client: APIClient
    let namespace: String
    let pipeline: String
    let run: Int
    var view: View = .lines(logs: false)
    /// Where `.lines(logs: true)` prints log lines (one shared by every task).
    var printer: LinePrinter? = nil

    static let decoder = APIClient.decoder
    /// How many log lines `run watch` shows under each running task.
    static let tailLines = 5

    func follow() async throws -> Run {
        let board = Board(view: view, namespace: namespace, pipeline: pipeline, printer: printer)
        return try await withThrowingTaskGroup(of: Run?.self) { group in
            group.addTask { try await followEvents(board) }
            if case .board = view, Output.isTerminal {
                // Durations tick while nothing changes.
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: .seconds(1))
                        board.draw()
                    }
                    return nil
                }
            }
            while let result = try await group.next() {
                if let run = result {
                    group.cancelAll()
                    return run
                }
            }
            return try await client.call("GET", Paths.run(namespace, pipeline, run), as: RunDetail.self).run
        }
    }

    private func followEvents(_ board: Board) async throws -> Run {
        var followers: [String: Task<Void, Never>] = [:]
        var pending: [UInt8] = []
        var eventName = ""
        defer { for f in followers.values { f.cancel() } }
        for try await event in client.stream(Paths.run(namespace, pipeline, run) + "/events") {
            guard case .body(let bytes) = event else { continue }
            pending += bytes
            while let newline = pending.firstIndex(of: 0x0A) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                if line.hasPrefix("event: ") { eventName = String(line.dropFirst(7)) }
                guard line.hasPrefix("data: ") else { continue }
                let data = Data(line.dropFirst(6).utf8)
                if eventName == "snapshot" {
                    board.set(try Self.decoder.decode(RunDetail.self, from: data))
                } else if let e = try? Self.decoder.decode(Event.self, from: data) {
                    board.apply(e, run: run)
                }
                guard let d = board.detail else { continue }
                if board.wantsLogs {
                    // Follow each task's log once it has a container (running, or ended after starting).
                    for t in d.tasks
                    where followers[t.task] == nil && t.logging && (t.state == .running || (t.state.isTerminal && t.startedAt != nil)) {
                        let lines = TaskLogLines(client: client, namespace: namespace, pipeline: pipeline, run: run, task: t.task, follow: true)
                        let task = t.task
                        followers[task] = Task { try? await lines.forEach { board.log(task, $0) } }
                    }
                }
                board.changed()
                if d.run.state.isTerminal {
                    for f in followers.values { await f.value }
                    board.finish()
                    return d.run
                }
            }
        }
        for f in followers.values { await f.value }
        return try await client.call("GET", Paths.run(namespace, pipeline, run), as: RunDetail.self).run
    }

    /// What the follower knows and shows: the run's detail, the tail of each task's log, and how
    /// many lines the last drawing took. One lock, so drawings and log lines never interleave.
    final class Board: Sendable {
        struct State {
            var detail: RunDetail?
            var tails: [String: [String]] = [:]
            var drawn = 0
        }
        let view: View
        let namespace: String
        let pipeline: String
        let printer: LinePrinter?
        private let state = Mutex(State())

        init(view: View, namespace: String, pipeline: String, printer: LinePrinter?) {
            self.view = view
            self.namespace = namespace
            self.pipeline = pipeline
            self.printer = printer
        }

        var detail: RunDetail? { state.withLock { $0.detail } }
        var wantsLogs: Bool {
            switch view {
            case .lines(let logs, _): logs
            case .board: true
            case .jsonLines, .quiet: false
            }
        }

        func set(_ d: RunDetail) { state.withLock { $0.detail = d } }

        func apply(_ e: Event, run: Int) {
            state.withLock { s in
                guard var d = s.detail else { return }
                Self.apply(e, to: &d)
                s.detail = d
            }
            if case .lines(_, let events) = view, events, !Output.jsonMode { Self.describe(e, run: run) }
        }

        func log(_ task: String, _ line: String) {
            switch view {
            case .lines:
                (printer ?? LinePrinter(tasks: detail?.tasks.map(\.task) ?? [task])).print(task, line)
            case .board:
                state.withLock { s in s.tails[task] = Array((s.tails[task, default: []] + [line]).suffix(RunFollower.tailLines)) }
                if !Output.isTerminal { return }  // a pipe gets the table on state changes only
                draw()
            case .jsonLines, .quiet: break
            }
        }

        func changed() {
            switch view {
            case .board: if !(detail?.run.state.isTerminal ?? false) { draw() }
            case .jsonLines: if let d = detail { Output.line(Output.jsonValue(d)) }
            case .lines, .quiet: break
            }
        }

        func finish() {
            if case .board = view { draw(final: true) }
        }

        /// Redraws the board: in place on a terminal, appended otherwise.
        func draw(final: Bool = false) {
            guard case .board = view else { return }
            state.withLock { s in
                guard let d = s.detail else { return }
                var lines = [
                    "run \(d.run.id) of \(namespace)/\(pipeline) (version \(d.run.pipelineVersion)): \(Output.state(d.run.state.rawValue))"
                        + " \(Output.duration(d.run.startedAt, d.run.endedAt))"
                ]
                let width = RawTerminal.size()?.cols ?? 120
                lines += Output.tableLines(
                    ["TASK", "STATE", "DURATION", "REASON"],
                    d.tasks.map { [$0.task, Output.state($0.state.rawValue), Output.duration($0.startedAt, $0.endedAt), $0.reason?.message ?? ""] }
                )
                .enumerated().flatMap { i, row -> [String] in
                    guard i > 0, !final, d.tasks[i - 1].state == .running else { return [row] }
                    let tail = s.tails[d.tasks[i - 1].task] ?? []
                    return [row] + tail.map { Output.color("    │ ", "2") + Output.clip(Output.plain($0), to: width - 6) }
                }
                if Output.isTerminal && s.drawn > 0 { print("\u{1B}[\(s.drawn)A\u{1B}[J", terminator: "") }
                for line in lines { print(Output.clip(line, to: width + 40)) }  // colour codes are not columns
                s.drawn = lines.count
            }
        }


        static func apply(_ e: Event, to d: inout RunDetail) {
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
        }

        static func describe(_ e: Event, run: Int) {
            let state = e.details["state"] ?? ""
            let reason = e.details["message"].map { " — \($0)" } ?? ""
            switch e.kind {
            case .runStateChanged: print(Output.color("▶ run \(run) \(Output.state(state))\(reason)", "1"))
            case .taskStateChanged: print("  task \(e.task ?? "?") \(Output.state(state))\(reason)")
            case .runStopRequested: print(Output.color("■ run \(run) stopping\(reason)", "1"))
            default: break
            }
        }
    }
}
