import Foundation

/// An admin's secret, usable by pipelines in the namespaces its patterns allow. The value lives
/// in the secret store; only this description is in the database.
public struct GlobalSecret: Codable, Sendable, Equatable {
    public var name: String
    /// Namespace patterns (`*` matches any run of characters): `["*"]`, `["team-*", "default"]`.
    public var namespaces: [String]
    public var createdAt: Date
    public var updatedAt: Date

    package init(name: String, namespaces: [String], createdAt: Date, updatedAt: Date) {
        self.name = name
        self.namespaces = namespaces
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    public func allows(namespace: String) -> Bool { NamespacePattern.matchesAny(namespaces, namespace) }
}
