import ExtensionSDK
import Foundation

/// The rules of a canary rollout, in one place: which run goes to the canary, and when the
/// canary is promoted or rolled back. Pure: it decides; ``Rollouts`` carries out and persists.
package enum CanaryPolicy {
    /// Whether the run routed `k`-th (0-based) during the rollout goes to the canary. The first
    /// run always does (the soonest signal), and the share is spread evenly after it.
    package static func routesToCanary(_ k: Int, share: CanaryShare) -> Bool {
        switch share {
        case .every(let n): return k % n == 0
        case .percent(let p):
            // ceil((k+1)·p/100) > ceil(k·p/100): exactly p of every 100 runs, evenly spaced.
            func ceilShare(_ x: Int) -> Int { (x * p + 99) / 100 }
            return ceilShare(k + 1) > ceilShare(k)
        }
    }

    package enum Decision: Equatable {
        /// Keep measuring.
        case hold
        case promote(reason: String)
        case rollBack(reason: String)
    }

    /// What to do with an active rollout given how its canary runs ended so far.
    package static func decide(_ strategy: RolloutStrategy, stats: RolloutStats, startedAt: Date, now: Date) -> Decision {
        let allowed = Double(strategy.maxFailurePercent) / 100
        let rate = stats.measured == 0 ? 0 : Double(stats.failed) / Double(stats.measured)
        let summary =
            "\(stats.failed) of \(stats.measured) finished canary run\(stats.measured == 1 ? "" : "s") failed (\(percent(rate)); at most \(strategy.maxFailurePercent)% allowed)"
        if let runs = strategy.window.runs {
            // The failure budget of the whole window is spent: no later success can bring the
            // rate back under the limit, so waiting would only send more runs to a bad version.
            if Double(stats.failed) > allowed * Double(runs) {
                return .rollBack(reason: summary)
            }
            if stats.measured >= runs { return .promote(reason: summary) }
            return .hold
        }
        let minRuns = strategy.window.minRuns
        if stats.measured >= minRuns && rate > allowed { return .rollBack(reason: summary) }
        let elapsed = now.timeIntervalSince(startedAt)
        if elapsed >= Double(strategy.window.durationSeconds ?? 0) && stats.measured >= minRuns {
            return .promote(reason: summary + " over \(DurationText.format(.seconds(Int(elapsed))))")
        }
        return .hold
    }

    static func percent(_ rate: Double) -> String {
        let p = rate * 100
        return p == p.rounded() ? "\(Int(p))%" : String(format: "%.1f%%", p)
    }
}
