import ExtensionSDK
import GoferConfig
import GoferModel
import GoferStore

/// Replaces `secret{{…}}` / `global_secret{{…}}` references in text (and in every string of a
/// JSON value) by their values, from a lookup that throws for a value that cannot be used.
struct SecretSubstitution {
    /// The value of a reference; nil when it was not resolved (it then becomes empty).
    let text: (SecretReference) throws -> String?

    func apply(_ value: String) throws -> String {
        guard let parts = try? SecretReference.parse(value), parts.contains(where: { if case .reference = $0 { true } else { false } })
        else { return value }
        var out = ""
        for part in parts {
            switch part {
            case .text(let t): out += t
            case .reference(let r): out += try text(r) ?? ""
            }
        }
        return out
    }

    func apply(_ value: JSONValue) throws -> JSONValue {
        switch value {
        case .string(let s): return .string(try apply(s))
        case .array(let items): return .array(try items.map { try apply($0) })
        case .object(let o): return .object(try o.mapValues { try apply($0) })
        default: return value
        }
    }
}
