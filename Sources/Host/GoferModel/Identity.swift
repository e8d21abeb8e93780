import ExtensionSDK
import Foundation

/// Who did something, as recorded in runs and events: a token (by id and name), a trigger, or the
/// server itself. Never a string a client chose.
public struct Principal: Codable, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Codable, Sendable {
        /// An API token; `id` is the token's id.
        case token
        /// A run's own token.
        case runToken = "run_token"
        /// A trigger subscription; `id` is `trigger/label`.
        case trigger
        /// The server (recovery, timeouts), or a record from before identities existed.
        case system
    }

    public var kind: Kind
    public var id: String
    public var name: String

    public init(kind: Kind, id: String, name: String) {
        self.kind = kind
        self.id = id
        self.name = name
    }

    public static func trigger(_ trigger: String, label: String) -> Principal {
        Principal(kind: .trigger, id: "\(trigger)/\(label)", name: "trigger \(trigger)/\(label)")
    }

    public static let system = Principal(kind: .system, id: "gofer", name: "gofer")

    public var description: String {
        switch kind {
        case .token, .runToken: return "\(name) (\(id))"
        case .trigger, .system: return name
        }
    }

    /// The fields events carry.
    package var eventDetails: [String: String] { ["actor_kind": kind.rawValue, "actor_id": id, "actor_name": name] }

    /// Stored as JSON; rows from before identities existed hold a plain string.
    package static func stored(_ text: String) -> Principal {
        if text.hasPrefix("{"), let object = (try? JSONParser().parse(text))?.objectValue,
            let kind = object["kind"]?.stringValue.flatMap(Kind.init(rawValue:)), let id = object["id"]?.stringValue,
            let name = object["name"]?.stringValue
        {
            return Principal(kind: kind, id: id, name: name)
        }
        if text.hasPrefix("trigger:") {
            let id = String(text.dropFirst("trigger:".count))
            return Principal(kind: .trigger, id: id, name: "trigger \(id)")
        }
        return Principal(kind: .system, id: "", name: text)
    }

    package var storedText: String {
        (try? String(decoding: JSONEncoder.sorted.encode(self), as: UTF8.self)) ?? #"{"id":"","kind":"system","name":"gofer"}"#
    }
}

extension JSONEncoder {
    package static let sorted: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()
}

/// What a request touches, for checking permissions.
public enum Target: Sendable, Equatable, CustomStringConvertible {
    /// Server-wide (tokens, extensions, global secrets, or every namespace at once).
    case server
    case namespace(String)
    case pipeline(namespace: String, pipeline: String)

    package var namespace: String? {
        switch self {
        case .server: return nil
        case .namespace(let ns), .pipeline(let ns, _): return ns
        }
    }

    public var description: String {
        switch self {
        case .server: return "the server"
        case .namespace(let ns): return "namespace \(ns)"
        case .pipeline(let ns, let p): return "pipeline \(ns)/\(p)"
        }
    }
}

/// The caller of a request, authenticated: its token and what its roles grant.
public struct Identity: Sendable {
    public let token: APIToken
    package let grants: [Grant]

    public init(token: APIToken, roles: [Role]) {
        self.token = token
        self.grants = roles.flatMap(\.grants)
    }

    public var principal: Principal { token.principal }

    /// Whether the caller may do `permission` to `target`.
    public func allows(_ permission: Permission, on target: Target) -> Bool {
        if permission.resource.isNamespaced {
            guard let ns = target.namespace else {
                // Every namespace at once: only an unrestricted token.
                return token.isUnrestricted && grants.contains { $0.covers(permission) && $0.namespaces.contains("*") }
            }
            guard NamespacePattern.matchesAny(token.namespaces, ns) else { return false }
            if let scope = token.pipeline {
                guard case .pipeline(let tns, let tp) = target, tns == scope.namespace, tp == scope.pipeline else { return false }
            }
            return grants.contains { $0.covers(permission) && NamespacePattern.matchesAny($0.namespaces, ns) }
        }
        if token.pipeline != nil || (permission.resource.isAdministrative && !token.isUnrestricted) { return false }
        return grants.contains { $0.covers(permission) }
    }

    /// Throws ``AuthError/forbidden(permission:target:message:)`` naming the missing permission.
    public func require(_ permission: Permission, on target: Target) throws {
        guard allows(permission, on: target) else { throw AuthError.forbidden(permission, target, token: token) }
    }

    /// Whether the caller may read `resource` in at least some namespace (list routes filter).
    package func mayRead(_ resource: Resource, namespace: String) -> Bool {
        allows(Permission(resource, .read), on: .namespace(namespace))
    }
}
