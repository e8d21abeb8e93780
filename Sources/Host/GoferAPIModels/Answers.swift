import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel

/// An extension as `gofer extension list|get` shows it.
public struct ExtensionInfo: Codable, Sendable, Equatable {
    public var name: String
    public var kind: ExtensionKind
    public var version: String
    public var registry: String
    public var source: String
    /// running, restarting, failed, stopped, or `not started` (not used by this server's settings).
    public var status: String
    /// What the extension says of itself (`health`): healthy, degraded or unhealthy, with why.
    public var health: String?
    public var startedAt: Date?
    public var restarts: Int
    public var subscriptions: Int?
    /// The admin configuration with sensitive (`writeOnly`) values replaced by `********`.
    public var config: JSONValue
    public var installedAt: Date
    public var updatedAt: Date
    /// Requests (task executions) refused because they crashed the extension repeatedly; empty
    /// after `gofer extension restart`.
    public var quarantined: [String] = []

    package init(name: String, kind: ExtensionKind, version: String, registry: String, source: String, status: String, health: String? = nil, startedAt: Date? = nil, restarts: Int, subscriptions: Int? = nil, config: JSONValue, installedAt: Date, updatedAt: Date, quarantined: [String] = []) {
        self.name = name
        self.kind = kind
        self.version = version
        self.registry = registry
        self.source = source
        self.status = status
        self.health = health
        self.startedAt = startedAt
        self.restarts = restarts
        self.subscriptions = subscriptions
        self.config = config
        self.installedAt = installedAt
        self.updatedAt = updatedAt
        self.quarantined = quarantined
    }
}

/// What uninstall did (or, unconfirmed, would do).
public struct UninstallResult: Codable, Sendable {
    public var name: String
    /// Pipelines that used it: disabled, each with a pipeline error.
    public var pipelines: [PipelineRef]
    public var removed: Bool

    package init(name: String, pipelines: [PipelineRef], removed: Bool) {
        self.name = name
        self.pipelines = pipelines
        self.removed = removed
    }
}

/// A trigger as the API shows it.
public struct TriggerInfo: Codable, Sendable, Equatable {
    public var name: String
    public var status: String
    public var version: String?
    public var summary: String?
    /// Whether it accepts `POST /api/external/{name}`.
    public var external: Bool
    public var subscriptions: Int
    public var restarts: Int

    package init(name: String, status: String, version: String? = nil, summary: String? = nil, external: Bool, subscriptions: Int, restarts: Int) {
        self.name = name
        self.status = status
        self.version = version
        self.summary = summary
        self.external = external
        self.subscriptions = subscriptions
        self.restarts = restarts
    }
}

/// `GET …/versions/{version}/diff`.
public struct VersionDiff: Codable, Sendable {
    public var from: Int
    public var to: Int
    /// One line per change (`+ task deploy`, `~ task build: image …`).
    public var changes: [String]
    /// A unified diff of the two configs as applied (or of their canonical JSON when they were
    /// applied in different formats).
    public var text: String

    package init(from: Int, to: Int, changes: [String], text: String) {
        self.from = from
        self.to = to
        self.changes = changes
        self.text = text
    }
}

/// `GET …/pipelines/{pipeline}`.
public struct PipelineDetail: Codable, Sendable {
    public var pipeline: Pipeline
    public var config: PipelineConfig
    /// Current problems (a trigger missing or refusing the subscription).
    public var errors: [PipelineError]
    /// The canary rollout in progress, if any.
    public var rollout: Rollout?

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        pipeline = try c.decode(Pipeline.self, forKey: .pipeline)
        config = try c.decode(PipelineConfig.self, forKey: .config)
        errors = try c.decodeIfPresent([PipelineError].self, forKey: .errors) ?? []
        rollout = try c.decodeIfPresent(Rollout.self, forKey: .rollout)
    }

    package init(pipeline: Pipeline, config: PipelineConfig, errors: [PipelineError], rollout: Rollout? = nil) {
        self.pipeline = pipeline
        self.config = config
        self.errors = errors
        self.rollout = rollout
    }
}
