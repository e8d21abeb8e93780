import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import Logging

/// Pipeline versions: apply, rollback, retention, and the runs each version started.
package protocol VersionRepository: Sendable {
    /// Stores `config` as the pipeline's next version unless it equals the live one. A plain
    /// apply or a rollback makes it live; a canary apply starts a rollout of it instead (in the
    /// same transaction). Refused while a rollout is active: the live version would change under it.
    func apply(namespace: String, config: PipelineConfig, source: AppliedSource?, kind: ApplyKind, by: Principal) async throws -> ApplyResult

    /// Undoes an apply whose triggers could not be set up: the version goes, the previous live
    /// one is live again (or the pipeline goes, if it was new).
    func revertApply(namespace: String, pipeline: String, version: Int, previousLive: Int?) async throws

    /// The config of `version` (default: the live one).
    func pipelineVersion(namespace: String, pipeline: String, version: Int?) async throws -> PipelineVersion

    /// Versions, newest first; `before` is the last version of the previous page.
    func pipelineVersions(namespace: String, pipeline: String, before: Int?, limit: Int) async throws -> Page<PipelineVersionSummary>

    /// The version to roll back to when none is named: the one that was live before the live one.
    func previousLiveVersion(namespace: String, pipeline: String) async throws -> Int

    /// ``pruneVersions(namespace:pipeline:)`` where it is housekeeping after a change that already
    /// stands: a failure is logged (the next change prunes again), never the change's failure.
    func pruneVersionsAfterChange(namespace: String, pipeline: String, logger: Logger) async

    /// Deletes the oldest versions past the pipeline's limit (its live config's `keep_versions`,
    /// else the server's), never one in use: live, the one live before it (the rollback target),
    /// a rollout's canary and base, or a version of a run not yet finished. Returns what it deleted.
    @discardableResult func pruneVersions(namespace: String, pipeline: String) async throws -> [Int]

    /// Creates a run that reruns `run` with its version and variables: all of it, or (with
    /// `failedOnly`) only its failed and cancelled tasks and what depends on them, the rest
    /// carried over with their results.
    func rerun(namespace: String, pipeline: String, run id: Int, failedOnly: Bool, by: Principal) async throws -> CreatedRun

    /// Every pipeline with its live config (for finding the pipelines that use an extension).
    func livePipelineConfigs() async throws -> [(Pipeline, PipelineConfig)]
}

/// The defaults callers leave out.
extension VersionRepository {
    package func apply(namespace: String, config: PipelineConfig, source: AppliedSource? = nil, kind: ApplyKind = .live, by: Principal = .system) async throws -> ApplyResult {
        try await apply(namespace: namespace, config: config, source: source, kind: kind, by: by)
    }

    package func pipelineVersion(namespace: String, pipeline: String, version: Int? = nil) async throws -> PipelineVersion {
        try await pipelineVersion(namespace: namespace, pipeline: pipeline, version: version)
    }

    package func pipelineVersions(namespace: String, pipeline: String, before: Int? = nil, limit: Int = 50) async throws -> Page<PipelineVersionSummary> {
        try await pipelineVersions(namespace: namespace, pipeline: pipeline, before: before, limit: limit)
    }
}

/// The text a version was applied from.
public struct AppliedSource: Sendable, Equatable {
    public var text: String
    /// `yaml`, `json` or `toml`.
    public var format: String

    public init(text: String, format: String) {
        self.text = text
        self.format = format
    }
}

/// What an apply is: a plain apply, one that starts a canary rollout, or a rollback.
public enum ApplyKind: Sendable, Equatable {
    /// The new version goes live at once.
    case live
    /// The new version becomes a canary of the live one.
    case canary(RolloutStrategy)
    /// An earlier version's config goes live again as a new version.
    case rollback(from: Int)
}
