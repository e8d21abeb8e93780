import ExtensionSDK
import Foundation
import GoferConfig

/// The outcome of applying a pipeline config.
public struct ApplyResult: Sendable, Codable {
    public var pipeline: Pipeline
    /// The version stored (live, or the canary when a rollout began), or the live one when
    /// nothing changed.
    public var version: Int
    /// False when the config was identical to the current version (nothing was stored).
    public var created: Bool
    /// What changed against the previous version, one line per change.
    public var changes: [String]
    /// Things that will fail at run time unless fixed first (a referenced secret that does not
    /// exist yet). The config was applied.
    public var warnings: [String]?
    /// The canary rollout this apply began.
    public var rollout: Rollout?

    package init(pipeline: Pipeline, version: Int, created: Bool, changes: [String], warnings: [String]? = nil, rollout: Rollout? = nil) {
        self.pipeline = pipeline
        self.version = version
        self.created = created
        self.changes = changes
        self.warnings = warnings
        self.rollout = rollout
    }
}
