import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GoferStore
import Logging

/// A pipeline's lifecycle — apply, rollback, delete, enable and disable — one change at a time per
/// pipeline. An apply stores the version, then has ``Triggers`` subscribe new trigger entries and
/// unsubscribe removed ones while the pipeline is `updating`; if a subscribe fails, the version
/// is undone, the previous subscriptions stay, and a pipeline error says why.
public actor Pipelines {
    let store: any Store
    let triggers: Triggers
    /// Pipelines being changed, with who waits for their turn (changes are serialised per pipeline).
    private var busy: [PipelineRef: [CheckedContinuation<Void, Never>]] = [:]
    private let logger = Logger(label: "gofer.pipelines")

    package init(store: any Store, triggers: Triggers) {
        self.store = store
        self.triggers = triggers
    }

    private func lock(_ key: PipelineRef) async {
        if busy[key] == nil {
            busy[key] = []
            return
        }
        await withCheckedContinuation { busy[key, default: []].append($0) }
    }

    private func unlock(_ key: PipelineRef) {
        guard var waiters = busy[key] else { return }
        if waiters.isEmpty {
            busy[key] = nil
        } else {
            let next = waiters.removeFirst()
            busy[key] = waiters
            next.resume()
        }
    }

    /// Runs `body` while no other change of `namespace/pipeline` does.
    private func exclusively<T: Sendable>(_ namespace: String, _ pipeline: String, _ body: () async throws -> T) async throws -> T {
        let key = PipelineRef(namespace: namespace, pipeline: pipeline)
        await lock(key)
        defer { unlock(key) }
        return try await body()
    }

    /// Applies a validated config: stores the version and brings its trigger subscriptions in line.
    /// With `kind` `.canary` the version starts a rollout instead of going live.
    public func apply(
        namespace: String, config: PipelineConfig, source: AppliedSource? = nil, kind: ApplyKind = .live, by: Principal = .system
    ) async throws -> ApplyResult {
        try await exclusively(namespace, config.id) {
            try await applyLocked(namespace: namespace, config: config, source: source, kind: kind, by: by)
        }
    }

    /// Makes an earlier version live again, as a new version (history stays linear), with its
    /// triggers subscribed exactly as for an apply. `to` defaults to the version that was live
    /// before the live one. Refused while a canary rollout is active.
    public func rollback(namespace: String, pipeline: String, to target: Int?, by: Principal = .system) async throws -> ApplyResult {
        try await exclusively(namespace, pipeline) {
            if let r = try await store.activeRollout(namespace: namespace, pipeline: pipeline) {
                throw StoreError.conflict(
                    "a canary rollout of version \(r.version) is in progress; abort it first (gofer pipeline abort \(pipeline)), which keeps version \(r.baseVersion) live"
                )
            }
            let p = try await store.pipeline(namespace: namespace, id: pipeline)
            let to: Int
            if let target { to = target } else { to = try await store.previousLiveVersion(namespace: namespace, pipeline: pipeline) }
            if to == p.liveVersion { throw StoreError.conflict("version \(to) is already the live version of \(namespace)/\(pipeline)") }
            let version = try await store.pipelineVersion(namespace: namespace, pipeline: pipeline, version: to)
            return try await applyLocked(
                namespace: namespace, config: version.config,
                source: version.source.map { AppliedSource(text: $0, format: version.format ?? "yaml") }, kind: .rollback(from: to), by: by)
        }
    }

    private func applyLocked(
        namespace: String, config: PipelineConfig, source: AppliedSource?, kind: ApplyKind, by: Principal
    ) async throws -> ApplyResult {
        let before = try? await store.pipeline(namespace: namespace, id: config.id)
        var result = try await store.apply(namespace: namespace, config: config, source: source, kind: kind, by: by)
        let existing = try await store.subscriptions(namespace: namespace, pipeline: config.id)
        // Nothing to do when the triggers are already what the config says.
        let current = existing.map { "\($0.label)|\($0.trigger)|\($0.settings)" }.sorted()
        let wanted = config.triggers.map { "\($0.label)|\($0.trigger)|\($0.settings)" }.sorted()
        if current == wanted && existing.allSatisfy({ $0.state == .active }) {
            if result.created { await store.pruneVersionsAfterChange(namespace: namespace, pipeline: config.id, logger: logger) }
            return result
        }

        let disabled = before?.state == .disabled
        if !disabled { try await store.setPipelineState(namespace: namespace, pipeline: config.id, .updating) }
        do {
            try await triggers.reconcile(namespace: namespace, pipeline: config.id, existing: existing, wanted: config.triggers, dormant: disabled)
        } catch {
            // Nothing half-applied: the version goes, the previous subscriptions stay.
            if result.created {
                try await store.revertApply(
                    namespace: namespace, pipeline: config.id, version: result.version, previousLive: before?.liveVersion)
            }
            if before != nil || !result.created {
                try? await store.setPipelineState(namespace: namespace, pipeline: config.id, disabled ? .disabled : .active)
                if let failure = error as? SubscriptionError {
                    try? await store.setPipelineError(
                        namespace: namespace, pipeline: config.id, source: "trigger:\(failure.label)", kind: "subscription_failed",
                        message: failure.description)
                }
            }
            throw error
        }
        if !disabled { try await store.setPipelineState(namespace: namespace, pipeline: config.id, .active) }
        try await store.clearPipelineErrors(namespace: namespace, pipeline: config.id, sourcePrefix: "trigger:")
        if result.created { await store.pruneVersionsAfterChange(namespace: namespace, pipeline: config.id, logger: logger) }
        result.pipeline = try await store.pipeline(namespace: namespace, id: config.id)
        return result
    }

    /// Deletes a pipeline and unsubscribes its triggers.
    public func delete(namespace: String, pipeline: String, by: Principal = .system) async throws {
        try await exclusively(namespace, pipeline) {
            let subs = try await store.subscriptions(namespace: namespace, pipeline: pipeline)
            try await store.deletePipeline(namespace: namespace, id: pipeline, by: by)
            await triggers.unsubscribe(subs, marking: nil)
        }
    }

    /// Disables a pipeline (no runs, triggers unsubscribed) or enables it (triggers subscribed
    /// again; a failure there is recorded as a pipeline error, the pipeline is still enabled).
    public func setEnabled(namespace: String, pipeline: String, _ enabled: Bool) async throws -> Pipeline {
        try await exclusively(namespace, pipeline) {
            let subs = try await store.subscriptions(namespace: namespace, pipeline: pipeline)
            try await store.setPipelineState(namespace: namespace, pipeline: pipeline, enabled ? .active : .disabled)
            if enabled {
                await triggers.resubscribe(namespace: namespace, pipeline: pipeline, subs)
            } else {
                await triggers.unsubscribe(subs, marking: .disabled, detail: "the pipeline is disabled")
            }
            return try await store.pipeline(namespace: namespace, id: pipeline)
        }
    }
}
