import ExtensionSDK
import Foundation

/// A `secret{{name}}` (the pipeline's own) or `global_secret{{name}}` (an admin's) inside a task's
/// env value. Resolved when the task starts; the value never reaches the database or the API.
public struct SecretReference: Hashable, Sendable, CustomStringConvertible {
    public enum Scope: String, Sendable { case pipeline, global }

    public var scope: Scope
    public var name: String

    public var description: String { scope == .global ? "global_secret{{\(name)}}" : "secret{{\(name)}}" }

    /// Names: letters, digits, `_`, `-` and `.`, at most 128 bytes.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 128 && name != "." && name != ".."
            && name.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) && $0.isASCII || "_-.".unicodeScalars.contains($0) }
    }

    /// A part of an env value: literal text or a reference.
    public enum Part: Hashable, Sendable {
        case text(String)
        case reference(SecretReference)
    }

    /// Splits `value` into text and references; a malformed reference is an error naming it.
    public static func parse(_ value: String) throws(SecretReferenceError) -> [Part] {
        var parts: [Part] = []
        var rest = Substring(value)
        while let open = rest.range(of: "secret{{") {
            var start = open.lowerBound
            var scope = Scope.pipeline
            let before = rest[..<start]
            if before.hasSuffix("global_") {
                start = rest.index(start, offsetBy: -7)
                scope = .global
            }
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw SecretReferenceError(message: "\"\(rest[start...].prefix(40))\" has no closing }}")
            }
            let name = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            guard isValidName(name) else {
                throw SecretReferenceError(
                    message: "\"\(name)\" is not a secret name (letters, digits, '_', '-', '.'; at most 128 bytes)")
            }
            if start > rest.startIndex { parts.append(.text(String(rest[..<start]))) }
            parts.append(.reference(SecretReference(scope: scope, name: name)))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { parts.append(.text(String(rest))) }
        return parts
    }

    /// Every reference in a config's task env values and registry passwords (`variable` is then
    /// `registry_auth.password`).
    public static func all(in config: PipelineConfig) -> [(task: String, variable: String, reference: SecretReference)] {
        var out: [(String, String, SecretReference)] = []
        for t in config.tasks {
            for (k, v) in t.env.sorted(by: { $0.key < $1.key }) {
                for case .reference(let r) in (try? parse(v)) ?? [] { out.append((t.id, k, r)) }
            }
            if let p = t.registryAuth?.password, let r = RegistryAuthConfig.passwordReference(p) {
                out.append((t.id, "registry_auth.password", r))
            }
            if let settings = t.settings {
                for (path, text) in strings(in: settings, at: "settings") {
                    for case .reference(let r) in (try? parse(text)) ?? [] { out.append((t.id, path, r)) }
                }
            }
        }
        for h in config.hooks {
            for (path, text) in strings(in: h.settings, at: "settings") {
                for case .reference(let r) in (try? parse(text)) ?? [] { out.append(("hook:" + h.label, path, r)) }
            }
        }
        return out
    }

    /// Every string in a JSON value with its path (`settings.token`, `settings.urls.0`).
    public static func strings(in value: JSONValue, at path: String) -> [(String, String)] {
        switch value {
        case .string(let s): return [(path, s)]
        case .array(let items): return items.enumerated().flatMap { strings(in: $0.element, at: "\(path).\($0.offset)") }
        case .object(let o): return o.keys.sorted().flatMap { strings(in: o[$0] ?? .null, at: "\(path).\($0)") }
        default: return []
        }
    }
}

public struct SecretReferenceError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
