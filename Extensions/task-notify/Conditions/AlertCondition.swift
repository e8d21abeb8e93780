import ExtensionSDK
import Foundation

/// When an alert goes out, judged when a run has finished. Each fires at most once per run.
public enum AlertCondition: Sendable, Equatable, CustomStringConvertible {
    /// Every finished run.
    case runFinished
    /// A run that failed.
    case runFailed
    /// The run that makes `n` failed runs in a row (not the ones after it: one alert per streak).
    case failedInARow(Int)
    /// The share of succeeded runs among the last `runs` finished runs (cancelled ones not
    /// counted) drops below `percent` — with this run, and not already before it.
    case successRateBelow(percent: Int, runs: Int)
    /// The run took longer than this many seconds.
    case longerThan(seconds: Int)
    /// A task of the run ended in this state (`failed`, `succeeded`, `skipped`, `cancelled`).
    case taskState(task: String, state: String)

    /// A stable name, part of the key that keeps an alert from going out twice.
    public var key: String {
        switch self {
        case .runFinished: return "run_finished"
        case .runFailed: return "run_failed"
        case .failedInARow(let n): return "failed_in_a_row:\(n)"
        case .successRateBelow(let p, let r): return "success_rate_below:\(p)/\(r)"
        case .longerThan(let s): return "longer_than:\(s)"
        case .taskState(let t, let s): return "task_state:\(t)=\(s)"
        }
    }

    public var description: String { key }

    /// The conditions of a `when` settings object.
    public static func parse(_ when: JSONValue) -> [AlertCondition] {
        var out: [AlertCondition] = []
        if when["run_finished"]?.boolValue == true { out.append(.runFinished) }
        if when["run_failed"]?.boolValue == true { out.append(.runFailed) }
        if let n = when["failed_in_a_row"]?.intValue { out.append(.failedInARow(Int(n))) }
        if let s = when["success_rate_below"], let p = s["percent"]?.intValue, let r = s["runs"]?.intValue {
            out.append(.successRateBelow(percent: Int(p), runs: Int(r)))
        }
        if let d = when["longer_than"]?.stringValue.flatMap(DurationText.parse) { out.append(.longerThan(seconds: Int(d.components.seconds))) }
        if let t = when["task_state"], let task = t["task"]?.stringValue, let state = t["state"]?.stringValue {
            out.append(.taskState(task: task, state: state))
        }
        return out
    }
}

/// A finished run and the pipeline's finished runs before it (newest first), as the host tells a hook.
public struct RunOutcome: Sendable {
    public struct Past: Sendable {
        public var id: Int
        public var state: String
        public init(id: Int, state: String) {
            self.id = id
            self.state = state
        }
    }
    public var id: Int
    public var state: String
    public var durationSeconds: Int?
    public var tasks: [String: String]
    public var history: [Past]

    public init(id: Int, state: String, durationSeconds: Int?, tasks: [String: String], history: [Past]) {
        self.id = id
        self.state = state
        self.durationSeconds = durationSeconds
        self.tasks = tasks
        self.history = history
    }

    /// Whether `condition` holds for this run, and the line that says why.
    public func holds(_ condition: AlertCondition) -> String? {
        switch condition {
        case .runFinished:
            return "run \(id) \(state)"
        case .runFailed:
            return state == "failed" ? "run \(id) failed" : nil
        case .failedInARow(let n):
            guard state == "failed" else { return nil }
            let streak = 1 + history.prefix { $0.state == "failed" }.count
            return streak == n ? "\(n) runs failed in a row (runs \(([id] + history.prefix(n - 1).map(\.id)).reversed().map(String.init).joined(separator: ", ")))" : nil
        case .successRateBelow(let percent, let runs):
            let counted = ([Past(id: id, state: state)] + history).filter { $0.state == "succeeded" || $0.state == "failed" }
            guard state == "succeeded" || state == "failed", counted.count >= runs else { return nil }
            func rate(_ window: ArraySlice<Past>) -> Double {
                Double(window.filter { $0.state == "succeeded" }.count) * 100 / Double(window.count)
            }
            let now = rate(counted.prefix(runs))
            guard now < Double(percent) else { return nil }
            // Only the run that takes it below: the window before it was at or above the threshold
            // (or too short to judge).
            let before = counted.dropFirst().prefix(runs)
            if before.count == runs && rate(before) < Double(percent) { return nil }
            return "success rate over the last \(runs) runs fell to \(Int(now.rounded()))% (below \(percent)%)"
        case .longerThan(let seconds):
            guard let d = durationSeconds, d > seconds else { return nil }
            return "run \(id) took \(DurationText.format(.seconds(d))) (longer than \(DurationText.format(.seconds(seconds))))"
        case .taskState(let task, let wanted):
            return tasks[task] == wanted ? "task \(task) \(wanted) in run \(id)" : nil
        }
    }
}
