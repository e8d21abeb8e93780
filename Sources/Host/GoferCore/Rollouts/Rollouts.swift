import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GoferStore
import Logging

/// Carries out canary rollouts: judges each one as its canary runs end (and on a clock, for
/// windows measured in time), and promotes, rolls back or aborts it — each a single transaction
/// in the ``Store`` (``CanaryPolicy`` decides). Since every decision is recomputed from the
/// stored runs, a server killed in the middle simply decides again after it restarts.
public actor Rollouts {
    let store: any Store
    private let logger = Logger(label: "gofer.rollouts")
    private var clock: Task<Void, Never>?
    /// How often rollouts with a time window are looked at.
    let tick: Duration

    package init(store: any Store, tick: Duration = .seconds(1)) {
        self.store = store
        self.tick = tick
    }

    /// Judges every active rollout now (after a restart, a decision may be due) and starts the
    /// clock for time windows.
    public func start() async {
        await judgeAll()
        let tick = self.tick
        clock = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: tick)
                guard !Task.isCancelled, let self else { return }
                await self.judgeAll(timedOnly: true)
            }
        }
    }

    public func stop() {
        clock?.cancel()
        clock = nil
    }

    private func judgeAll(timedOnly: Bool = false) async {
        guard let all = try? await store.activeRollouts() else { return }
        for r in all where !timedOnly || r.strategy.window.durationSeconds != nil { await judge(r) }
    }

    /// A run routed by a rollout ended: judge its rollout.
    public func runFinished(_ run: Run) async {
        guard run.rollout != nil, let r = try? await store.activeRollout(namespace: run.namespace, pipeline: run.pipeline),
            r.id == run.rollout
        else { return }
        await judge(r)
    }

    private func judge(_ r: Rollout) async {
        let decision = CanaryPolicy.decide(r.strategy, stats: r.stats, startedAt: r.startedAt, now: Date())
        do {
            switch decision {
            case .hold: return
            case .promote(let why):
                if try await store.finishRollout(
                    namespace: r.namespace, pipeline: r.pipeline, id: r.id, as: .promoted, reason: "promoted: \(why)", by: .system) != nil
                {
                    logger.info("\(r.namespace)/\(r.pipeline): canary version \(r.version) promoted: \(why)")
                    await store.pruneVersionsAfterChange(namespace: r.namespace, pipeline: r.pipeline, logger: logger)
                }
            case .rollBack(let why):
                if try await store.finishRollout(
                    namespace: r.namespace, pipeline: r.pipeline, id: r.id, as: .rolledBack, reason: why, by: .system) != nil
                {
                    logger.warning("\(r.namespace)/\(r.pipeline): canary version \(r.version) rolled back: \(why)")
                    await store.pruneVersionsAfterChange(namespace: r.namespace, pipeline: r.pipeline, logger: logger)
                }
            }
        } catch {
            // Stored nothing; the next run's end or clock tick decides again.
            logger.error("\(r.namespace)/\(r.pipeline): could not record the rollout decision \(decision): \(ErrorText.describe(error))")
        }
    }

    /// Promotes the active rollout by hand: its canary becomes the live version now.
    public func promote(namespace: String, pipeline: String, by: Principal) async throws -> Rollout {
        let r = try await requireActive(namespace, pipeline)
        let why = "promoted by \(by) after \(r.stats.measured) finished canary run\(r.stats.measured == 1 ? "" : "s") (\(r.stats.failed) failed)"
        guard let done = try await store.finishRollout(namespace: namespace, pipeline: pipeline, id: r.id, as: .promoted, reason: why, by: by)
        else { throw StoreError.conflict("the rollout of version \(r.version) ended meanwhile; nothing was changed") }
        await store.pruneVersionsAfterChange(namespace: namespace, pipeline: pipeline, logger: logger)
        return done
    }

    /// Aborts the active rollout by hand: new runs use the live version only; the canary's
    /// runs in progress finish on their version.
    public func abort(namespace: String, pipeline: String, by: Principal, why: String?) async throws -> Rollout {
        let r = try await requireActive(namespace, pipeline)
        let reason = "aborted by \(by)" + (why.map { ": \($0)" } ?? "")
        guard let done = try await store.finishRollout(namespace: namespace, pipeline: pipeline, id: r.id, as: .aborted, reason: reason, by: by)
        else { throw StoreError.conflict("the rollout of version \(r.version) ended meanwhile; nothing was changed") }
        await store.pruneVersionsAfterChange(namespace: namespace, pipeline: pipeline, logger: logger)
        return done
    }

    private func requireActive(_ namespace: String, _ pipeline: String) async throws -> Rollout {
        guard let r = try await store.activeRollout(namespace: namespace, pipeline: pipeline) else {
            throw StoreError.conflict("pipeline \(namespace)/\(pipeline) has no rollout in progress")
        }
        return r
    }
}
