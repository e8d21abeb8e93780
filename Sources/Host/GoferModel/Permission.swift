import Foundation

/// What a permission is about. Namespaced resources are checked against the namespace (and, for
/// run tokens, the pipeline) a request touches; the others are server-wide and admin business.
public enum Resource: String, Codable, Sendable, CaseIterable {
    case namespaces
    case pipelines
    /// Runs, their task executions, logs and run events.
    case runs
    /// Pipeline secrets. Reading lists names; revealing a value needs `secrets:write`.
    case secrets
    /// The event log.
    case events
    /// Pipeline and run objects (artifacts). Extension objects are `extensions` business.
    case objects
    /// Running commands inside a running task (`gofer task attach`; `attach:write`).
    case attach
    /// Secrets shared across namespaces.
    case globalSecrets = "global_secrets"
    /// Installing, upgrading and uninstalling extensions; their logs.
    case extensions
    /// The triggers installed on the server (names and state), for writing pipeline configs.
    case triggers
    case tokens
    case roles
    /// The server's metrics (`GET /metrics`): every namespace's pipelines appear in them.
    case metrics

    /// Server administration: only a token limited to no namespace may use it, whatever its roles.
    public var isAdministrative: Bool {
        switch self {
        case .globalSecrets, .extensions, .tokens, .roles, .metrics: return true
        case .namespaces, .pipelines, .runs, .secrets, .events, .objects, .attach, .triggers: return false
        }
    }

    /// Whether a permission on this resource is scoped by namespace.
    public var isNamespaced: Bool {
        switch self {
        case .namespaces, .pipelines, .runs, .secrets, .events, .objects, .attach: return true
        case .globalSecrets, .extensions, .triggers, .tokens, .roles, .metrics: return false
        }
    }
}

/// What is done to a resource.
public enum Action: String, Codable, Sendable, CaseIterable {
    case read
    case write
    case delete
}

/// One resource × action, written `runs:write`.
public struct Permission: Hashable, Sendable, Codable, CustomStringConvertible {
    public var resource: Resource
    public var action: Action

    public init(_ resource: Resource, _ action: Action) {
        self.resource = resource
        self.action = action
    }

    public var description: String { "\(resource.rawValue):\(action.rawValue)" }

    /// Parses `runs:write`.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let r = Resource(rawValue: parts[0]), let a = Action(rawValue: parts[1]) else { return nil }
        self.init(r, a)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let p = Permission(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "\"\(text)\" is not RESOURCE:ACTION (e.g. runs:write)"))
        }
        self = p
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// The resources a grant covers: every one (`*`) or one by name.
public enum ResourceSelector: Hashable, Sendable, Codable, CustomStringConvertible {
    case all
    case one(Resource)

    public func covers(_ resource: Resource) -> Bool {
        switch self {
        case .all: return true
        case .one(let r): return r == resource
        }
    }

    public var description: String {
        switch self {
        case .all: return "*"
        case .one(let r): return r.rawValue
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        if text == "*" {
            self = .all
        } else if let r = Resource(rawValue: text) {
            self = .one(r)
        } else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription:
                        "unknown resource \"\(text)\"; use * or one of \(Resource.allCases.map(\.rawValue).joined(separator: ", "))"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// Part of a role: these actions on these resources, in namespaces matching these patterns
/// (`*`, `team-*`, `web`; ignored for server-wide resources).
public struct Grant: Codable, Sendable, Equatable {
    public var resources: [ResourceSelector]
    public var actions: [Action]
    public var namespaces: [String]

    public init(_ resources: [ResourceSelector], _ actions: [Action], namespaces: [String] = ["*"]) {
        self.resources = resources
        self.actions = actions
        self.namespaces = namespaces
    }

    package enum CodingKeys: String, CodingKey { case resources, actions, namespaces }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        resources = try c.decode([ResourceSelector].self, forKey: .resources)
        actions = try c.decode([Action].self, forKey: .actions)
        namespaces = try c.decodeIfPresent([String].self, forKey: .namespaces) ?? ["*"]
    }

    package func covers(_ permission: Permission) -> Bool {
        resources.contains { $0.covers(permission.resource) } && actions.contains(permission.action)
    }
}

/// A named set of grants. `admin`, `user`, `read-only` and `run` are built in; admins define more.
public struct Role: Codable, Sendable, Equatable {
    public var id: String
    public var description: String
    public var grants: [Grant]
    public var builtin: Bool

    public init(id: String, description: String, grants: [Grant], builtin: Bool = false) {
        self.id = id
        self.description = description
        self.grants = grants
        self.builtin = builtin
    }

    package static let namespaced: [ResourceSelector] = [.one(.pipelines), .one(.runs), .one(.secrets), .one(.objects)]

    /// The roles every server has. They cannot be changed or deleted.
    public static let builtins: [Role] = [
        Role(
            id: "admin", description: "Everything, in every namespace: tokens, roles, namespaces, global secrets, extensions.",
            grants: [Grant([.all], Action.allCases)], builtin: true),
        Role(
            id: "user",
            description:
                "Read, write and delete pipelines, runs, pipeline secrets and objects, and attach to running tasks, in the token's namespaces; read namespaces, events and triggers. No global secrets, extensions or tokens.",
            grants: [
                Grant(namespaced + [.one(.attach)], Action.allCases),
                Grant([.one(.namespaces), .one(.events), .one(.triggers)], [.read]),
            ], builtin: true),
        Role(
            id: "read-only",
            description: "Read pipelines, runs, logs, objects, events and secret names (never values) in the token's namespaces.",
            grants: [Grant(namespaced + [.one(.namespaces), .one(.events), .one(.triggers)], [.read])], builtin: true),
        Role(
            id: "metrics",
            description: "Scrape GET /metrics (for Prometheus); nothing else. Give it to a token limited to no namespace: the metrics name every namespace's pipelines.",
            grants: [Grant([.one(.metrics)], [.read])], builtin: true),
        Role(
            id: "run",
            description: "What a run token may do: read its own pipeline and its runs and logs; read and write its pipeline's objects.",
            grants: [Grant([.one(.pipelines), .one(.runs)], [.read]), Grant([.one(.objects)], [.read, .write])], builtin: true),
        Role(
            id: "trial",
            description:
                "What a public-mode trial token may do in its own namespace: pipelines and runs, reading events. No secrets, objects, attach or extensions.",
            grants: [Grant([.one(.pipelines), .one(.runs)], Action.allCases), Grant([.one(.namespaces), .one(.events)], [.read])], builtin: true),
    ]

    public static func builtin(_ id: String) -> Role? { builtins.first { $0.id == id } }
}

/// Namespace patterns: `*` matches everything, a trailing or inner `*` matches any run of characters.
public enum NamespacePattern {
    public static func matches(_ pattern: String, _ namespace: String) -> Bool {
        if pattern == "*" { return true }
        guard pattern.contains("*") else { return pattern == namespace }
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        var rest = Substring(namespace)
        guard let first = parts.first, rest.hasPrefix(first) else { return false }
        rest = rest.dropFirst(first.count)
        for (i, part) in parts.enumerated().dropFirst() {
            if i == parts.count - 1 { return part.isEmpty || rest.hasSuffix(part) }
            guard let range = rest.range(of: part) else { return false }
            rest = rest[range.upperBound...]
        }
        return true
    }

    public static func matchesAny(_ patterns: [String], _ namespace: String) -> Bool {
        patterns.contains { matches($0, namespace) }
    }

    /// Whether a pattern is well formed: `*`, or an id where `*` may stand for any part.
    public static func isValid(_ pattern: String) -> Bool {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-_*")
        return !pattern.isEmpty && pattern.count <= 64 && pattern.allSatisfy { allowed.contains($0) }
    }
}
