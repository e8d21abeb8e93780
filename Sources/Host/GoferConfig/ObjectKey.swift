import Foundation

/// The name of an object inside its scope: 1–200 bytes of letters, digits, `.`, `_` and `-`,
/// not starting with `.`. No `/`, so a key is never a path and can never reach outside its scope
/// (`../x`, an absolute path, NUL are all refused); it is one segment of a URL as it is.
public struct ObjectKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public static let maxBytes = 200
    public static let rule = "1–200 letters, digits, '.', '_' or '-', not starting with '.'"
    public let text: String

    /// Why a text is not a key.
    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        /// The key as given, shortened, with control characters shown as escapes.
        public var key: String
        public var why: String
        public var description: String { "\"\(key)\" is not an object key: \(why) (\(ObjectKey.rule))" }
    }

    public init(_ text: String) throws(Invalid) {
        guard !text.isEmpty else { throw Invalid(key: text, why: "it is empty") }
        let scalars = text.unicodeScalars
        let shown =
            scalars.prefix(60).map { $0.value < 0x20 || $0.value == 0x7f ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
            + (scalars.count > 60 ? "…" : "")
        guard text.utf8.count <= Self.maxBytes else {
            throw Invalid(key: shown, why: "it is \(text.utf8.count) bytes long; the most is \(Self.maxBytes)")
        }
        if let bad = scalars.first(where: { !Self.allowed($0) }) {
            let what = bad.value < 0x20 || bad.value == 0x7f ? String(format: "U+%04X", bad.value) : "'\(bad)'"
            throw Invalid(key: shown, why: "it contains \(what)")
        }
        guard !text.hasPrefix(".") else { throw Invalid(key: shown, why: "it starts with '.'") }
        self.text = text
    }

    static func allowed(_ s: Unicode.Scalar) -> Bool {
        s.isASCII && (CharacterSet.alphanumerics.contains(s) || s == "." || s == "_" || s == "-")
    }

    public var description: String { text }
    public static func < (a: ObjectKey, b: ObjectKey) -> Bool { a.text < b.text }
}

/// A `pipeline_object{{key}}` or `run_object{{key}}` inside a task's env value: replaced by the
/// object's content (small UTF-8 text) when the task starts.
public struct ObjectReference: Hashable, Sendable, CustomStringConvertible {
    public enum Scope: String, Sendable, CaseIterable {
        case pipeline = "pipeline_object"
        case run = "run_object"
    }

    public var scope: Scope
    public var key: ObjectKey

    public var description: String { "\(scope.rawValue){{\(key.text)}}" }

    public enum Part: Hashable, Sendable {
        case text(String)
        case reference(ObjectReference)
    }

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Splits `value` into text and object references; a malformed one is an error naming it.
    public static func parse(_ value: String) throws(ParseError) -> [Part] {
        var parts: [Part] = []
        var rest = Substring(value)
        while let open = rest.range(of: "_object{{") {
            let before = rest[..<open.lowerBound]
            guard let scope = Scope.allCases.first(where: { before.hasSuffix($0.rawValue.dropLast("_object".count)) }) else {
                // Another word ending in _object{{: plain text.
                parts.append(.text(String(rest[..<open.upperBound])))
                rest = rest[open.upperBound...]
                continue
            }
            let start = rest.index(open.lowerBound, offsetBy: -(scope.rawValue.count - "_object".count))
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw ParseError(message: "\"\(rest[start...].prefix(40))\" has no closing }}")
            }
            let name = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            let key: ObjectKey
            do { key = try ObjectKey(name) } catch { throw ParseError(message: error.description) }
            if start > rest.startIndex { parts.append(.text(String(rest[..<start]))) }
            parts.append(.reference(ObjectReference(scope: scope, key: key)))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { parts.append(.text(String(rest))) }
        var merged: [Part] = []
        for p in parts {
            if case .text(let t) = p, case .text(let previous)? = merged.last {
                merged[merged.count - 1] = .text(previous + t)
            } else {
                merged.append(p)
            }
        }
        return merged
    }
}
