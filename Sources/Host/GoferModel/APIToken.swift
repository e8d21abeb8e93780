import Foundation

/// An API token as stored: everything but the secret, which exists only in the caller's hands
/// (and, hashed, in the `tokens` table).
public struct APIToken: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// Made by an admin (or the first start / `gofer service reset-admin`).
        case user
        /// A run's own token: scoped to its pipeline, revoked when the run ends.
        case run
    }

    /// A pipeline a token is limited to.
    public struct PipelineScope: Codable, Sendable, Equatable {
        public var namespace: String
        public var pipeline: String

        package init(namespace: String, pipeline: String) {
            self.namespace = namespace
            self.pipeline = pipeline
        }
    }

    /// `tok_` + 12 base62 characters (user tokens); `run_NS_PIPELINE_RUN` for run tokens.
    public var id: String
    public var name: String
    public var kind: Kind
    public var roles: [String]
    /// Namespace patterns the token is limited to; `["*"]` for all.
    public var namespaces: [String]
    /// Set on run tokens: the one pipeline they may touch.
    public var pipeline: PipelineScope?
    /// Set on run tokens.
    public var run: Int?
    public var createdBy: Principal?
    public var createdAt: Date
    public var expiresAt: Date?
    public var lastUsedAt: Date?
    public var revokedAt: Date?
    public var revokedReason: String?

    public init(
        id: String, name: String, kind: Kind, roles: [String], namespaces: [String], pipeline: PipelineScope? = nil, run: Int? = nil,
        createdBy: Principal? = nil, createdAt: Date, expiresAt: Date? = nil
    ) {
        self.id = id
        self.name = name
        self.kind = kind
        self.roles = roles
        self.namespaces = namespaces
        self.pipeline = pipeline
        self.run = run
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }

    /// Not limited to some namespaces or a pipeline.
    public var isUnrestricted: Bool { pipeline == nil && namespaces.contains("*") }

    public var principal: Principal { Principal(kind: kind == .run ? .runToken : .token, id: id, name: name) }

    package static func newID() -> String {
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        var rng = SystemRandomNumberGenerator()
        return "tok_" + String((0..<12).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] })
    }

    package static func runTokenID(namespace: String, pipeline: String, run: Int) -> String { "run_\(namespace)_\(pipeline)_\(run)" }
}

/// `POST /api/tokens`: the new token's record and, once, its secret.
public struct CreatedToken: Codable, Sendable {
    public var token: APIToken
    /// Shown once; only a hash is kept.
    public var secret: String

    package init(token: APIToken, secret: String) {
        self.token = token
        self.secret = secret
    }
}
