import ExtensionSDK
import Foundation
import GoferHost

#if canImport(Glibc)
    import Glibc
#endif

/// Human output: aligned tables, relative times, colour only on a terminal.
enum Output {
    /// stdout is a terminal: redraw in place, tick.
    static let isTerminal = isatty(1) == 1
    /// Colour too: a terminal, and no NO_COLOR (which turns off colour, nothing else).
    static let usesColor = isTerminal && ProcessInfo.processInfo.environment["NO_COLOR"] == nil

    static func color(_ text: String, _ code: String) -> String { usesColor ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }

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
        for line in tableLines(header, rows) { print(line) }
    }

    /// The lines of ``table(_:_:)``: the header (bold) first.
    static func tableLines(_ header: [String], _ rows: [[String]]) -> [String] {
        let all = [header] + rows
        var widths = [Int](repeating: 0, count: header.count)
        for row in all { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], visible(cell)) } }
        return all.enumerated().map { n, row in
            let line = row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - visible(cell) + 2)
            }.joined()
            return n == 0 ? color(line, "1") : line
        }
    }

    /// The text without ANSI escape sequences and other control characters (a log line shown
    /// inside a table must not move the cursor).
    static func plain(_ s: String) -> String {
        var out = ""
        var inEscape = false
        for ch in s {
            if ch == "\u{1B}" { inEscape = true; continue }
            if inEscape { if ch.isLetter { inEscape = false }; continue }
            if ch.unicodeScalars.allSatisfy({ $0.value >= 0x20 || $0 == "\t" }) { out.append(ch == "\t" ? " " : ch) }
        }
        return out
    }

    /// At most `width` characters, with `…` where cut.
    static func clip(_ s: String, to width: Int) -> String {
        s.count <= width ? s : String(s.prefix(max(0, width - 1))) + "…"
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
        let s = Int(exactly: Date().timeIntervalSince(date).rounded(.down)) ?? 0
        if s < 2 { return "just now" }
        if s < 60 { return "\(s)s ago" }
        if s < 3600 { return "\(s / 60)m ago" }
        if s < 86400 { return "\(s / 3600)h ago" }
        return "\(s / 86400)d ago"
    }

    static func duration(_ start: Date?, _ end: Date?) -> String {
        guard let start else { return "-" }
        let ms = ((end ?? Date()).timeIntervalSince(start) * 1000).rounded(.down)
        return DurationText.human(.milliseconds(Int64(exactly: ms) ?? 0))
    }

    /// The API's JSON shape: snake_case keys, RFC 3339 dates with milliseconds.
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.dateEncodingStrategy = .rfc3339Milliseconds
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return e
    }()

    static func json<T: Encodable>(_ value: T) {
        if let data = try? encoder.encode(value) { print(String(decoding: data, as: UTF8.self)) }
    }

    /// A value as a ``JSONValue`` in the API's JSON shape.
    static func jsonValue<T: Encodable>(_ value: T) -> JSONValue {
        (try? encoder.encode(value)).flatMap { try? JSONParser().parse(Array($0)) } ?? .null
    }

    /// Whether this invocation asked for JSON (`--json` before any `--`). Decided from the
    /// arguments before parsing, so that a mistyped flag or command is reported as JSON too.
    static let jsonMode: Bool = CommandLine.arguments.dropFirst().prefix { $0 != "--" }.contains("--json")

    /// An error on stderr: `error: …`, or with `--json` `{"error": {"message": …, "exit_code": …}}`.
    static func error(_ message: String, exitCode: Int32 = 1, details: [APIError.Detail] = []) {
        if jsonMode {
            var error: JSONValue = ["message": .string(message), "exit_code": .int(Int64(exitCode))]
            if !details.isEmpty { error["details"] = jsonValue(details) }
            let value: JSONValue = ["error": error]
            FileHandle.standardError.write(Data(value.serialized() + [0x0A]))
        } else {
            FileHandle.standardError.write(Data((color("error:", "31") + " " + message + "\n").utf8))
        }
    }

    /// A remark on stderr that is not an error (`note: …`), so stdout keeps only the output asked for.
    static func note(_ message: String) {
        FileHandle.standardError.write(Data((color("note:", "33") + " " + message + "\n").utf8))
    }

    /// What a command did: a sentence for people, or with `--json` the given object (one line).
    static func done(_ human: @autoclosure () -> String, json: JSONValue) {
        if jsonMode { line(json) } else { print(human()) }
    }

    /// One JSON value on one line (JSON Lines, for streams).
    static func line(_ value: JSONValue) { print(String(decoding: value.serialized(), as: UTF8.self)) }
}
