import Foundation
import GoferHost

#if canImport(Glibc)
    import Glibc
#endif

/// Human output: aligned tables, relative times, colour only on a terminal.
enum Output {
    static let isTTY = isatty(1) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil

    static func color(_ text: String, _ code: String) -> String { isTTY ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }

    static func state(_ s: String) -> String {
        switch s {
        case "succeeded": return color(s, "32")
        case "failed": return color(s, "31")
        case "cancelled", "skipped": return color(s, "33")
        case "running", "starting": return color(s, "36")
        default: return s
        }
    }

    /// Prints rows as columns aligned on the visible width (colour codes do not count).
    static func table(_ header: [String], _ rows: [[String]]) {
        let all = [header] + rows
        var widths = [Int](repeating: 0, count: header.count)
        for row in all { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], visible(cell)) } }
        for (n, row) in all.enumerated() {
            let line = row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - visible(cell) + 2)
            }.joined()
            print(n == 0 ? color(line, "1") : line)
        }
    }

    static func visible(_ s: String) -> Int {
        var count = 0
        var inEscape = false
        for ch in s {
            if ch == "\u{1B}" { inEscape = true; continue }
            if inEscape { if ch == "m" { inEscape = false }; continue }
            count += 1
        }
        return count
    }

    /// The task table of a run (`run get`, the demo's summary).
    static func taskTable(_ tasks: [TaskExecution]) {
        table(
            ["TASK", "STATE", "EXIT", "DURATION", "REASON"],
            tasks.map {
                [
                    $0.task, state($0.state.rawValue), $0.exitCode.map(String.init) ?? "-", duration($0.startedAt, $0.endedAt),
                    $0.carriedFrom.map { "carried over from run \($0)" } ?? $0.reason?.message ?? "",
                ]
            })
    }

    static func ago(_ date: Date?) -> String {
        guard let date else { return "-" }
        let s = Int(Date().timeIntervalSince(date))
        if s < 2 { return "just now" }
        if s < 60 { return "\(s)s ago" }
        if s < 3600 { return "\(s / 60)m ago" }
        if s < 86400 { return "\(s / 3600)h ago" }
        return "\(s / 86400)d ago"
    }

    static func duration(_ start: Date?, _ end: Date?) -> String {
        guard let start else { return "-" }
        let seconds = (end ?? Date()).timeIntervalSince(start)
        if seconds < 60 { return String(format: "%.1fs", seconds) }
        return "\(Int(seconds) / 60)m\(Int(seconds) % 60)s"
    }

    static func json<T: Encodable>(_ value: T) {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        if let data = try? e.encode(value) { print(String(decoding: data, as: UTF8.self)) }
    }

    static func error(_ message: String) {
        FileHandle.standardError.write(Data((color("error:", "31") + " " + message + "\n").utf8))
    }
}
