import ExtensionSDK
import Foundation

/// Which share of new runs a canary gets.
public enum CanaryShare: Codable, Sendable, Equatable, CustomStringConvertible {
    /// This percentage of runs (1…100), spread evenly: with 25, runs 1, 5, 9, … go to the canary.
    case percent(Int)
    /// Every Nth run (2…1000), starting with the first.
    case every(Int)

    public var description: String {
        switch self {
        case .percent(let p): return "\(p)% of runs"
        case .every(let n): return "every \(n)\(Self.ordinalSuffix(n)) run"
        }
    }

    package static func ordinalSuffix(_ n: Int) -> String {
        if (11...13).contains(n % 100) { return "th" }
        switch n % 10 {
        case 1: return "st"
        case 2: return "nd"
        case 3: return "rd"
        default: return "th"
        }
    }

    package enum CodingKeys: String, CodingKey { case percent, every }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let p = try c.decodeIfPresent(Int.self, forKey: .percent) {
            self = .percent(p)
        } else {
            self = .every(try c.decode(Int.self, forKey: .every))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .percent(let p): try c.encode(p, forKey: .percent)
        case .every(let n): try c.encode(n, forKey: .every)
        }
    }
}

/// Over what the canary's failure rate is measured before it is promoted.
public struct CanaryWindow: Codable, Sendable, Equatable, CustomStringConvertible {
    /// Promote after this many canary runs finished (1…1000).
    public var runs: Int?
    /// Or: promote once this much time has passed since the rollout began…
    public var durationSeconds: Int?
    /// …and at least this many canary runs finished (default 1).
    public var minRuns: Int

    public init(runs: Int? = nil, durationSeconds: Int? = nil, minRuns: Int = 1) {
        self.runs = runs
        self.durationSeconds = durationSeconds
        self.minRuns = minRuns
    }

    public var description: String {
        if let runs { return "\(runs) canary run\(runs == 1 ? "" : "s")" }
        let d = DurationText.format(.seconds(durationSeconds ?? 0))
        return "\(d) with at least \(minRuns) canary run\(minRuns == 1 ? "" : "s")"
    }
}

/// How a new version is rolled out: which runs it gets, how long it is watched, and how many of
/// its runs may fail before it is rolled back.
public struct RolloutStrategy: Codable, Sendable, Equatable {
    public var share: CanaryShare
    public var window: CanaryWindow
    /// Roll back when more than this percentage of the canary's finished runs failed (0…99).
    /// Cancelled runs are not counted either way.
    public var maxFailurePercent: Int

    /// Watched over this many canary runs when the rollout names no window.
    public static let defaultWindow = CanaryWindow(runs: 10)
    /// Rolled back when more than this share of canary runs failed, when the rollout names none.
    public static let defaultMaxFailurePercent = 10

    public init(share: CanaryShare, window: CanaryWindow = Self.defaultWindow, maxFailurePercent: Int = Self.defaultMaxFailurePercent) {
        self.share = share
        self.window = window
        self.maxFailurePercent = maxFailurePercent
    }

    /// Reads a strategy from an API body member (`{"percent": 20, "window": {"runs": 10},
    /// "max_failure_percent": 10}`), naming each bad field by its JSON pointer under `at`.
    public static func parse(_ value: JSONValue, at path: String) throws -> RolloutStrategy {
        var problems: [Diagnostic] = []
        func problem(_ field: String, _ message: String) { problems.append(Diagnostic(path: "\(path)/\(field)", message: message)) }
        guard let object = value.objectValue else {
            throw RolloutError(message: "\(path) must be an object", problems: [Diagnostic(path: path, message: "expected an object")])
        }
        for key in object.keys.sorted() where !["percent", "every", "window", "max_failure_percent"].contains(key) {
            problem(key, "unknown field (accepted: percent, every, window, max_failure_percent)")
        }
        func integer(_ v: JSONValue?, _ field: String, _ range: ClosedRange<Int>) -> Int? {
            guard let v else { return nil }
            guard let n = v.intValue, let i = Int(exactly: n), range.contains(i) else {
                problem(field, "must be an integer from \(range.lowerBound) to \(range.upperBound)")
                return nil
            }
            return i
        }
        var share: CanaryShare?
        switch (object["percent"], object["every"]) {
        case (nil, nil): problem("percent", "give percent (1…100) or every (2…1000): which runs go to the new version")
        case (.some, .some): problem("every", "give percent or every, not both")
        case (let p?, nil): share = integer(p, "percent", 1...100).map(CanaryShare.percent)
        case (nil, let e?): share = integer(e, "every", 2...1000).map(CanaryShare.every)
        }
        var window = Self.defaultWindow
        if let w = object["window"] {
            if let wo = w.objectValue {
                for key in wo.keys.sorted() where !["runs", "duration", "min_runs"].contains(key) {
                    problem("window/\(key)", "unknown field (accepted: runs, duration, min_runs)")
                }
                let runs = integer(wo["runs"], "window/runs", 1...1000)
                var seconds: Int?
                if let d = wo["duration"] {
                    if let text = d.stringValue, let parsed = DurationText.parse(text), parsed >= .seconds(1), parsed <= .seconds(30 * 86400) {
                        seconds = Int(parsed.components.seconds)
                    } else {
                        problem("window/duration", "must be a duration from 1s to 30d, e.g. \"30m\" or \"2h\"")
                    }
                }
                let minRuns = integer(wo["min_runs"], "window/min_runs", 1...1000)
                if wo["runs"] != nil && wo["duration"] != nil { problem("window", "give runs or duration, not both") }
                if wo["runs"] == nil && wo["duration"] == nil { problem("window", "give runs (a number of canary runs) or duration") }
                if wo["min_runs"] != nil && wo["duration"] == nil { problem("window/min_runs", "only goes with duration") }
                window = CanaryWindow(runs: runs, durationSeconds: seconds, minRuns: minRuns ?? 1)
            } else {
                problem("window", "must be an object: {\"runs\": 10} or {\"duration\": \"1h\", \"min_runs\": 3}")
            }
        }
        let maxFailure = integer(object["max_failure_percent"], "max_failure_percent", 0...99) ?? Self.defaultMaxFailurePercent
        if !problems.isEmpty {
            throw RolloutError(
                message: "invalid rollout: " + problems.map { "\($0.path): \($0.message)" }.joined(separator: "; "), problems: problems)
        }
        guard let share else { throw RolloutError(message: "invalid rollout", problems: [Diagnostic(path: path, message: "no share")]) }
        return RolloutStrategy(share: share, window: window, maxFailurePercent: maxFailure)
    }

    /// The strategy as an API body member (what ``parse(_:at:)`` reads).
    public var json: JSONValue {
        var o: [String: JSONValue] = ["max_failure_percent": .int(Int64(maxFailurePercent))]
        switch share {
        case .percent(let p): o["percent"] = .int(Int64(p))
        case .every(let n): o["every"] = .int(Int64(n))
        }
        if let runs = window.runs {
            o["window"] = ["runs": .int(Int64(runs))]
        } else {
            o["window"] = [
                "duration": .string(DurationText.format(.seconds(window.durationSeconds ?? 0))), "min_runs": .int(Int64(window.minRuns)),
            ]
        }
        return .object(o)
    }
}

/// Where a rollout is.
public enum RolloutState: String, Codable, Sendable {
    /// New runs are split between the live version and the canary.
    case active
    /// The canary held and is the live version now.
    case promoted
    /// The canary failed too often and was dropped; the live version stayed.
    case rolledBack = "rolled_back"
    /// Someone stopped it by hand; the live version stayed.
    case aborted

    public var isFinished: Bool { self != .active }
}

/// How a canary has done so far.
public struct RolloutStats: Codable, Sendable, Equatable {
    /// Runs sent to the canary.
    public var canaryRuns: Int
    /// Runs that kept the live version while the rollout was active.
    public var liveRuns: Int
    public var succeeded: Int
    public var failed: Int
    /// Cancelled canary runs: counted neither as success nor as failure.
    public var cancelled: Int

    public init(canaryRuns: Int = 0, liveRuns: Int = 0, succeeded: Int = 0, failed: Int = 0, cancelled: Int = 0) {
        self.canaryRuns = canaryRuns
        self.liveRuns = liveRuns
        self.succeeded = succeeded
        self.failed = failed
        self.cancelled = cancelled
    }

    /// Canary runs that ended in success or failure: what the failure rate is measured over.
    public var measured: Int { succeeded + failed }
}

/// A canary rollout of a pipeline version.
public struct Rollout: Codable, Sendable, Equatable {
    public var namespace: String
    public var pipeline: String
    public var id: Int
    /// The canary.
    public var version: Int
    /// The live version while the rollout runs (and after, unless promoted).
    public var baseVersion: Int
    public var strategy: RolloutStrategy
    public var state: RolloutState
    /// Why it ended (promoted after …, rolled back because …, aborted by … : …).
    public var reason: String?
    public var startedBy: Principal
    public var startedAt: Date
    public var endedAt: Date?
    public var stats: RolloutStats

    package init(
        namespace: String, pipeline: String, id: Int, version: Int, baseVersion: Int, strategy: RolloutStrategy, state: RolloutState,
        reason: String? = nil, startedBy: Principal, startedAt: Date, endedAt: Date? = nil, stats: RolloutStats
    ) {
        self.namespace = namespace
        self.pipeline = pipeline
        self.id = id
        self.version = version
        self.baseVersion = baseVersion
        self.strategy = strategy
        self.state = state
        self.reason = reason
        self.startedBy = startedBy
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.stats = stats
    }
}

/// Why a run uses the version it does.
public enum VersionReason: String, Codable, Sendable {
    /// The pipeline's live version.
    case live
    /// Sent to the version under a canary rollout.
    case canary
    /// The version was asked for (`gofer run start P --version N`).
    case pinned
    /// A rerun of an earlier run, with its version.
    case rerun
}

/// A rollout strategy that cannot be used: every problem at its JSON pointer.
public struct RolloutError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var problems: [Diagnostic]
    public var description: String { message }

    package init(message: String, problems: [Diagnostic]) {
        self.message = message
        self.problems = problems
    }
}
