import ExtensionSDK

/// Reads TOML 1.0 into JSON, remembering the line of every key, for pipeline configs and server
/// settings written in TOML.
///
/// Supported: comments, bare/quoted/dotted keys, basic and literal strings (also multi-line), integers
/// (with `_`, hex/octal/binary), floats (incl. inf/nan refused, as JSON has none), booleans, arrays,
/// inline tables, `[tables]` and `[[arrays of tables]]`. Dates are kept as their text.
public struct TOMLReader {
    public struct Failure: Error {
        public var line: Int
        public var column: Int
        public var message: String
    }

    private var chars: [Character]
    private var pos = 0
    private var line = 1
    private var lineStart = 0
    /// JSON Pointer → (line, column) of the key that set it.
    public private(set) var marks: [String: (Int, Int)] = [:]
    /// Arrays and inline tables open at the position being read.
    private var depth = 0
    /// Deepest nesting of arrays and inline tables, and most parts of a dotted key: what a
    /// pipeline or a setting needs is a handful; the reader recurses once per level.
    static let maxDepth = 64

    public init(_ text: String) { chars = Array(text.replacingOccurrences(of: "\r\n", with: "\n")) }

    private var column: Int { pos - lineStart + 1 }
    private func fail(_ message: String) -> Failure { Failure(line: line, column: column, message: message) }

    public mutating func read() throws(Failure) -> JSONValue {
        var root: [String: JSONValue] = [:]
        var current: [String] = []  // path of the table being filled (array-of-table entries use their index)
        var defined: Set<String> = []
        while true {
            skipTrivia(newlines: true)
            guard pos < chars.count else { break }
            if chars[pos] == "[" {
                let isArray = pos + 1 < chars.count && chars[pos + 1] == "["
                pos += isArray ? 2 : 1
                skipSpaces()
                let keys = try readKey()
                skipSpaces()
                guard expect("]") && (!isArray || expect("]")) else { throw fail("expected ']' to close the table header") }
                try endOfLine()
                let pointer = "/" + keys.map(Self.escape).joined(separator: "/")
                if isArray {
                    let index = try appendTable(&root, keys)
                    current = keys + [String(index)]
                    marks["\(pointer)/\(index)"] = (line - 1, 1)
                } else {
                    if defined.contains(pointer) {
                        throw Failure(line: line - 1, column: 1, message: "table [\(keys.joined(separator: "."))] is defined twice")
                    }
                    defined.insert(pointer)
                    try ensureTable(&root, keys)
                    current = keys
                    marks[pointer] = (line - 1, 1)
                }
                continue
            }
            let keyLine = line
            let keyColumn = column
            let keys = try readKey()
            skipSpaces()
            guard expect("=") else { throw fail("expected '=' after the key") }
            skipSpaces()
            let value = try readValue()
            try endOfLine()
            let full = current + keys
            marks["/" + full.map(Self.escape).joined(separator: "/")] = (keyLine, keyColumn)
            do {
                try Self.set(&root, full, value)
            } catch let message as Message {
                throw Failure(line: keyLine, column: keyColumn, message: message.text)
            } catch {
                throw Failure(line: keyLine, column: keyColumn, message: ErrorText.describe(error))
            }
        }
        return .object(root)
    }

    struct Message: Error { var text: String }

    /// Characters ending a bare value. (A Set, not a String: in a String "\r\n" is one Character.)
    static let valueEnd: Set<Character> = [" ", "\t", "\r", "\n", "\r\n", ",", "]", "}", "#"]

    static func escape(_ key: String) -> String {
        key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    // MARK: - Tables

    private func ensureTable(_ root: inout [String: JSONValue], _ keys: [String]) throws(Failure) {
        do {
            try Self.modify(&root, keys) {
                if $0 == nil {
                    $0 = .object([:])
                } else if $0?.objectValue == nil {
                    throw Message(text: "\(keys.joined(separator: ".")) is not a table")
                }
            }
        } catch let m as Message { throw fail(m.text) } catch { throw fail(ErrorText.describe(error)) }
    }

    private func appendTable(_ root: inout [String: JSONValue], _ keys: [String]) throws(Failure) -> Int {
        var index = 0
        do {
            try Self.modify(&root, keys) { value in
                var list = value?.arrayValue ?? []
                if value != nil && value?.arrayValue == nil {
                    throw Message(text: "\(keys.joined(separator: ".")) is not an array of tables")
                }
                index = list.count
                list.append(.object([:]))
                value = .array(list)
            }
        } catch let m as Message { throw fail(m.text) } catch { throw fail(ErrorText.describe(error)) }
        return index
    }

    /// Walks `keys` (array elements by index), creating tables, then lets `change` edit the last value.
    static func modify(_ object: inout [String: JSONValue], _ keys: [String], _ change: (inout JSONValue?) throws -> Void) throws {
        guard let first = keys.first else { return }
        if keys.count == 1 {
            var v = object[first]
            try change(&v)
            object[first] = v
            return
        }
        var child = object[first] ?? .object([:])
        let rest = Array(keys.dropFirst())
        switch child {
        case .object(var o):
            try modify(&o, rest, change)
            child = .object(o)
        case .array(var list):
            // An array of tables: `rest` starts with the element index, or addresses the last element.
            if let i = Int(rest[0]), i < list.count, case .object(var o) = list[i] {
                if rest.count > 1 {
                    try modify(&o, Array(rest.dropFirst()), change)
                } else {
                    var v: JSONValue? = list[i]; try change(&v); o = v?.objectValue ?? o
                }
                list[i] = .object(o)
            } else if case .object(var o)? = list.last {
                try modify(&o, rest, change)
                list[list.count - 1] = .object(o)
            } else {
                throw Message(text: "\(first) is an array, not a table")
            }
            child = .array(list)
        default:
            throw Message(text: "\(first) is already a value, not a table")
        }
        object[first] = child
    }

    static func set(_ root: inout [String: JSONValue], _ keys: [String], _ value: JSONValue) throws {
        try modify(&root, keys) { existing in
            if existing != nil { throw Message(text: "key \(keys.last ?? "") is set twice") }
            existing = value
        }
    }

    // MARK: - Lexing

    private mutating func skipSpaces() {
        while pos < chars.count, chars[pos] == " " || chars[pos] == "\t" { pos += 1 }
    }

    private mutating func newline() {
        line += 1
        lineStart = pos
    }

    /// Spaces, comments and (optionally) newlines.
    private mutating func skipTrivia(newlines: Bool) {
        while pos < chars.count {
            let c = chars[pos]
            if c == " " || c == "\t" || c == "\r" {
                pos += 1
            } else if c == "#" {
                while pos < chars.count, chars[pos] != "\n" { pos += 1 }
            } else if c == "\n" && newlines {
                pos += 1
                newline()
            } else {
                return
            }
        }
    }

    private mutating func endOfLine() throws(Failure) {
        skipTrivia(newlines: false)
        guard pos < chars.count else { return }
        guard chars[pos] == "\n" else { throw fail("unexpected '\(chars[pos])' after the value; put each key on its own line") }
        pos += 1
        newline()
    }

    private mutating func expect(_ c: Character) -> Bool {
        guard pos < chars.count, chars[pos] == c else { return false }
        pos += 1
        return true
    }

    private mutating func readKey() throws(Failure) -> [String] {
        var keys: [String] = []
        while true {
            skipSpaces()
            guard pos < chars.count else { throw fail("expected a key") }
            if chars[pos] == "\"" {
                keys.append(try readBasicString())
            } else if chars[pos] == "'" {
                keys.append(try readLiteralString())
            } else {
                let start = pos
                while pos < chars.count, chars[pos].isLetter || chars[pos].isNumber || chars[pos] == "_" || chars[pos] == "-" { pos += 1 }
                guard pos > start else { throw fail("expected a key, found '\(chars[pos])'") }
                keys.append(String(chars[start..<pos]))
            }
            skipSpaces()
            if pos < chars.count, chars[pos] == "." {
                pos += 1
                if keys.count >= Self.maxDepth { throw fail("a dotted key has more than \(Self.maxDepth) parts") }
                continue
            }
            return keys
        }
    }

    private mutating func readValue() throws(Failure) -> JSONValue {
        guard pos < chars.count else { throw fail("expected a value") }
        let c = chars[pos]
        if c == "\"" { return .string(try readBasicString()) }
        if c == "'" { return .string(try readLiteralString()) }
        if c == "[" { return try readArray() }
        if c == "{" { return try readInlineTable() }
        let start = pos
        while pos < chars.count, !Self.valueEnd.contains(chars[pos]) { pos += 1 }
        let word = String(chars[start..<pos])
        if word == "true" { return .bool(true) }
        if word == "false" { return .bool(false) }
        let digits = word.replacingOccurrences(of: "_", with: "")
        for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] where digits.hasPrefix(prefix) {
            if let i = Int64(digits.dropFirst(2), radix: radix) { return .int(i) }
        }
        if let i = Int64(digits) { return .int(i) }
        if let d = Double(digits), d.isFinite, digits.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) { return .double(d) }
        // Offset date-times and local dates/times stay text.
        if word.first?.isNumber == true && word.contains(where: { $0 == "-" || $0 == ":" }) { return .string(word) }
        pos = start
        throw fail(word.isEmpty ? "expected a value" : "invalid value \(word) (strings need quotes)")
    }

    private mutating func enter() throws(Failure) {
        depth += 1
        if depth > Self.maxDepth { throw fail("arrays and inline tables nest deeper than \(Self.maxDepth) levels") }
    }

    private mutating func readArray() throws(Failure) -> JSONValue {
        try enter()
        defer { depth -= 1 }
        pos += 1
        var items: [JSONValue] = []
        while true {
            skipTrivia(newlines: true)
            guard pos < chars.count else { throw fail("unterminated array") }
            if chars[pos] == "]" {
                pos += 1
                return .array(items)
            }
            items.append(try readValue())
            skipTrivia(newlines: true)
            if expect(",") { continue }
            skipTrivia(newlines: true)
            guard expect("]") else { throw fail("expected ',' or ']' in the array") }
            return .array(items)
        }
    }

    private mutating func readInlineTable() throws(Failure) -> JSONValue {
        try enter()
        defer { depth -= 1 }
        pos += 1
        var table: [String: JSONValue] = [:]
        skipSpaces()
        if expect("}") { return .object(table) }
        while true {
            skipSpaces()
            let keys = try readKey()
            skipSpaces()
            guard expect("=") else { throw fail("expected '=' in the inline table") }
            skipSpaces()
            let value = try readValue()
            do { try Self.set(&table, keys, value) } catch { throw fail("key \(keys.joined(separator: ".")) is set twice") }
            skipSpaces()
            if expect(",") { continue }
            guard expect("}") else { throw fail("expected ',' or '}' in the inline table") }
            return .object(table)
        }
    }

    /// Consumes a string's opening quote(s); true for a multi-line (tripled) one, whose first
    /// newline is dropped as TOML says.
    private mutating func openString(_ quote: Character) -> Bool {
        let multi = pos + 2 < chars.count && chars[pos + 1] == quote && chars[pos + 2] == quote
        pos += multi ? 3 : 1
        if multi && pos < chars.count && chars[pos] == "\n" {
            pos += 1
            newline()
        }
        return multi
    }

    private mutating func readBasicString() throws(Failure) -> String {
        let multi = openString("\"")
        var out = ""
        while pos < chars.count {
            let c = chars[pos]
            if c == "\"" {
                if !multi {
                    pos += 1
                    return out
                }
                if pos + 2 < chars.count && chars[pos + 1] == "\"" && chars[pos + 2] == "\"" {
                    pos += 3
                    return out
                }
            }
            if c == "\n" {
                guard multi else { throw fail("newline in a string; use \"\"\" for multi-line strings") }
                newline()
            }
            if c == "\\" {
                pos += 1
                guard pos < chars.count else { break }
                switch chars[pos] {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                case "\"": out.append("\"")
                case "\\": out.append("\\")
                case "b": out.append("\u{8}")
                case "f": out.append("\u{C}")
                case "u", "U":
                    let n = chars[pos] == "u" ? 4 : 8
                    guard pos + n < chars.count, let v = UInt32(String(chars[(pos + 1)...(pos + n)]), radix: 16), let s = Unicode.Scalar(v)
                    else {
                        throw fail("invalid unicode escape")
                    }
                    out.unicodeScalars.append(s)
                    pos += n
                case "\n" where multi:
                    newline()
                    pos += 1
                    while pos < chars.count, chars[pos].isWhitespace {
                        if chars[pos] == "\n" { pos += 1; newline() } else { pos += 1 }
                    }
                    continue
                default: throw fail("invalid escape \\\(chars[pos])")
                }
                pos += 1
                continue
            }
            out.append(c)
            pos += 1
        }
        throw fail("unterminated string")
    }

    private mutating func readLiteralString() throws(Failure) -> String {
        let multi = openString("'")
        var out = ""
        while pos < chars.count {
            let c = chars[pos]
            if c == "'" && (!multi || (pos + 2 < chars.count && chars[pos + 1] == "'" && chars[pos + 2] == "'")) {
                pos += multi ? 3 : 1
                return out
            }
            if c == "\n" {
                guard multi else { throw fail("newline in a string; use ''' for multi-line strings") }
                newline()
            }
            out.append(c)
            pos += 1
        }
        throw fail("unterminated string")
    }
}
