import Foundation
import Synchronization

/// A JSON Schema (the 2020-12 keywords the protocol uses) and a validator for it.
///
/// Extensions declare the schema of their admin config and per-use params with it; the SDK checks
/// every incoming config against it and answers with one ``Diagnostic`` per problem, each naming
/// the field by JSON Pointer. The conformance suite validates every frame with the same code.
///
/// Supported keywords: `type`, `properties`, `required`, `additionalProperties`, `items`,
/// `enum`, `const`, `minimum`, `maximum`, `exclusiveMinimum`, `minLength`, `maxLength`,
/// `minItems`, `maxItems`, `pattern`, `oneOf`, `anyOf`, `allOf`, `$ref` (local `#/$defs/…`),
/// `propertyNames`, `minProperties`. Annotations (`description`, `default`, `writeOnly`,
/// `deprecated`, `format`, `title`, `examples`) are accepted and not enforced.
///
/// ```swift
/// let schema = JSONSchema.object(["every": .string(description: "e.g. 5m")], required: ["every"])
/// schema.validate(["every": 5])  // [/every: expected string, found integer]
/// ```
public struct JSONSchema: Sendable, Hashable {
    /// The schema document.
    public var json: JSONValue

    /// The schema `json` (an object, or `true`/`false`).
    public init(_ json: JSONValue) { self.json = json }

    /// Validates `value`; an empty result means valid. Paths are prefixed with `basePath`.
    public func validate(_ value: JSONValue, basePath: String = "") -> [Diagnostic] {
        var out: [Diagnostic] = []
        check(value, against: json, path: basePath, into: &out, depth: 0)
        return out
    }

    /// Names of properties marked `writeOnly` (sensitive), at any depth, as JSON Pointers.
    public var sensitivePaths: [String] {
        var out: [String] = []
        func walk(_ schema: JSONValue, _ path: String) {
            if schema["writeOnly"] == .bool(true) { out.append(path) }
            for (name, sub) in schema["properties"]?.objectValue ?? [:] { walk(sub, path + "/" + name) }
        }
        walk(json, "")
        return out
    }

    private func resolve(_ schema: JSONValue) -> JSONValue {
        guard let ref = schema["$ref"]?.stringValue, ref.hasPrefix("#/") else { return schema }
        var node = json
        for part in ref.dropFirst(2).split(separator: "/") {
            guard let next = node[String(part)] else { return .bool(true) }
            node = next
        }
        return node
    }

    private func check(_ value: JSONValue, against rawSchema: JSONValue, path: String, into out: inout [Diagnostic], depth: Int) {
        guard depth < 64 else { return }
        if case .bool(let accept) = rawSchema {
            if !accept { out.append(Diagnostic(path: path, message: "is not allowed here")) }
            return
        }
        let schema = resolve(rawSchema)
        if schema != rawSchema {
            check(value, against: schema, path: path, into: &out, depth: depth + 1)
            return
        }
        if let types = schema["type"] {
            let allowed = types.arrayValue?.compactMap(\.stringValue) ?? [types.stringValue].compactMap { $0 }
            if !allowed.contains(where: { Self.matches(value, type: $0) }) {
                out.append(Diagnostic(path: path, message: "expected \(allowed.joined(separator: " or ")), found \(value.typeName)"))
                return
            }
        }
        if let options = schema["enum"]?.arrayValue, !options.contains(value) {
            out.append(Diagnostic(path: path, message: "must be one of \(options.map(\.description).joined(separator: ", "))"))
        }
        if let constant = schema["const"], constant != value {
            out.append(Diagnostic(path: path, message: "must be \(constant)"))
        }
        switch value {
        case .string(let s):
            if let min = schema["minLength"]?.intValue, s.count < min {
                out.append(Diagnostic(path: path, message: min == 1 ? "must not be empty" : "must be at least \(min) characters"))
            }
            if let max = schema["maxLength"]?.intValue, s.count > max {
                out.append(Diagnostic(path: path, message: "must be at most \(max) characters"))
            }
            if let pattern = schema["pattern"]?.stringValue, PatternCache.shared.matches(s, pattern) == false {
                out.append(Diagnostic(path: path, message: "does not match the pattern \(pattern)"))
            }
        case .int, .double:
            let d = value.doubleValue ?? 0
            if let min = schema["minimum"]?.doubleValue, d < min {
                out.append(Diagnostic(path: path, message: "must be ≥ \(schema["minimum"] ?? .null)"))
            }
            if let max = schema["maximum"]?.doubleValue, d > max {
                out.append(Diagnostic(path: path, message: "must be ≤ \(schema["maximum"] ?? .null)"))
            }
            if let min = schema["exclusiveMinimum"]?.doubleValue, d <= min {
                out.append(Diagnostic(path: path, message: "must be > \(schema["exclusiveMinimum"] ?? .null)"))
            }
        case .array(let items):
            if let min = schema["minItems"]?.intValue, items.count < min {
                out.append(Diagnostic(path: path, message: min == 1 ? "must not be empty" : "must have at least \(min) items"))
            }
            if let max = schema["maxItems"]?.intValue, items.count > max {
                out.append(Diagnostic(path: path, message: "must have at most \(max) items"))
            }
            if let itemSchema = schema["items"] {
                for (i, item) in items.enumerated() { check(item, against: itemSchema, path: "\(path)/\(i)", into: &out, depth: depth + 1) }
            }
        case .object(let members):
            let properties = schema["properties"]?.objectValue ?? [:]
            for name in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where members[name] == nil {
                out.append(Diagnostic(path: path + "/" + Self.escape(name), message: "required field is missing"))
            }
            if let min = schema["minProperties"]?.intValue, members.count < min {
                out.append(Diagnostic(path: path, message: "must have at least \(min) members"))
            }
            for name in members.keys.sorted() {
                let member = members[name] ?? .null
                let memberPath = path + "/" + Self.escape(name)
                if let names = schema["propertyNames"] {
                    check(.string(name), against: names, path: memberPath, into: &out, depth: depth + 1)
                }
                if let sub = properties[name] {
                    check(member, against: sub, path: memberPath, into: &out, depth: depth + 1)
                } else if let additional = schema["additionalProperties"] {
                    if additional == .bool(false) {
                        let known = properties.keys.sorted()
                        let hint = known.isEmpty ? "" : " (known fields: \(known.joined(separator: ", ")))"
                        out.append(Diagnostic(path: memberPath, message: "unknown field\(hint)"))
                    } else {
                        check(member, against: additional, path: memberPath, into: &out, depth: depth + 1)
                    }
                }
            }
        default: break
        }
        if let all = schema["allOf"]?.arrayValue {
            for sub in all { check(value, against: sub, path: path, into: &out, depth: depth + 1) }
        }
        if let any = schema["anyOf"]?.arrayValue {
            let results = any.map { sub -> [Diagnostic] in
                var o: [Diagnostic] = []
                check(value, against: sub, path: path, into: &o, depth: depth + 1)
                return o
            }
            if !results.contains(where: \.isEmpty) { out.append(contentsOf: results.min { $0.count < $1.count } ?? []) }
        }
        if let one = schema["oneOf"]?.arrayValue {
            var best: [Diagnostic]?
            var passing = 0
            for sub in one {
                var o: [Diagnostic] = []
                check(value, against: sub, path: path, into: &o, depth: depth + 1)
                if o.isEmpty { passing += 1 } else if best == nil || o.count < best?.count ?? 0 { best = o }
            }
            if passing == 0 { out.append(contentsOf: best ?? []) }
            if passing > 1 { out.append(Diagnostic(path: path, message: "matches more than one allowed shape")) }
        }
    }

    private static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object): return true
        case ("integer", .int): return true
        case ("integer", .double(let d)): return d.rounded() == d
        case ("number", .int), ("number", .double): return true
        default: return false
        }
    }

    static func escape(_ name: String) -> String {
        name.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }
}

// MARK: - Builders

extension JSONSchema {
    /// A schema that accepts anything.
    public static let any = JSONSchema(.bool(true))

    /// An object with no members (the schema of "no config").
    public static let empty = JSONSchema(["type": "object", "additionalProperties": false, "properties": [:]])

    /// An object schema. Unknown members are refused unless `additionalProperties` is `true`.
    public static func object(
        _ properties: [String: JSONSchema], required: [String] = [], additionalProperties: Bool = false, description: String? = nil
    ) -> JSONSchema {
        var o: [String: JSONValue] = [
            "type": "object", "properties": .object(properties.mapValues(\.json)),
            "additionalProperties": .bool(additionalProperties),
        ]
        if !required.isEmpty { o["required"] = .array(required.map(JSONValue.string)) }
        if let description { o["description"] = .string(description) }
        return JSONSchema(.object(o))
    }

    /// A string schema. `writeOnly` marks a sensitive value (a token, a key) that is never echoed or logged.
    public static func string(
        description: String? = nil, minLength: Int? = nil, pattern: String? = nil, enum values: [String]? = nil, writeOnly: Bool = false,
        default defaultValue: String? = nil
    ) -> JSONSchema {
        var o: [String: JSONValue] = ["type": "string"]
        if let description { o["description"] = .string(description) }
        if let minLength { o["minLength"] = .int(Int64(minLength)) }
        if let pattern { o["pattern"] = .string(pattern) }
        if let values { o["enum"] = .array(values.map(JSONValue.string)) }
        if writeOnly { o["writeOnly"] = true }
        if let defaultValue { o["default"] = .string(defaultValue) }
        return JSONSchema(.object(o))
    }

    /// An integer schema, with the value used when none is given (`default`, for documentation).
    public static func integer(
        description: String? = nil, minimum: Int? = nil, maximum: Int? = nil, default defaultValue: Int? = nil
    ) -> JSONSchema {
        var o: [String: JSONValue] = ["type": "integer"]
        if let description { o["description"] = .string(description) }
        if let minimum { o["minimum"] = .int(Int64(minimum)) }
        if let maximum { o["maximum"] = .int(Int64(maximum)) }
        if let defaultValue { o["default"] = .int(Int64(defaultValue)) }
        return JSONSchema(.object(o))
    }

    /// A boolean schema.
    public static func boolean(description: String? = nil) -> JSONSchema {
        var o: [String: JSONValue] = ["type": "boolean"]
        if let description { o["description"] = .string(description) }
        return JSONSchema(.object(o))
    }

    /// An array schema.
    public static func array(of items: JSONSchema, description: String? = nil) -> JSONSchema {
        var o: [String: JSONValue] = ["type": "array", "items": items.json]
        if let description { o["description"] = .string(description) }
        return JSONSchema(.object(o))
    }

    /// A map from string keys to values matching `values`.
    public static func map(of values: JSONSchema, description: String? = nil) -> JSONSchema {
        var o: [String: JSONValue] = ["type": "object", "additionalProperties": values.json]
        if let description { o["description"] = .string(description) }
        return JSONSchema(.object(o))
    }
}

/// Compiled `pattern`s of schemas, each compiled once: a schema is checked on every request, and
/// compiling the same expression every time was most of what a check cost.
final class PatternCache: Sendable {
    static let shared = PatternCache()

    /// At most this many distinct patterns are kept (schemas have a handful; a flood of
    /// different ones only costs compiling again).
    static let capacity = 256

    private let compiled = Mutex<[String: NSRegularExpression?]>([:])

    /// Whether `text` matches `pattern`; nil when the pattern does not compile (it is then not checked).
    func matches(_ text: String, _ pattern: String) -> Bool? {
        // Matching happens under the lock: an NSRegularExpression is not Sendable to hand out.
        compiled.withLock { cache -> Bool? in
            let re: NSRegularExpression?
            if let known = cache[pattern] {
                re = known
            } else {
                re = try? NSRegularExpression(pattern: pattern)
                if cache.count >= Self.capacity { cache.removeAll(keepingCapacity: true) }
                cache[pattern] = re
            }
            guard let re else { return nil }
            return re.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
        }
    }
}
