import ExtensionSDK
import Foundation

/// An allocation of a Gofer job, as `GET /v1/job/:id/allocations` lists it: where it runs and
/// its one task's state and events.
public struct NomadAllocation: Sendable, Equatable {
    public var id: String
    public var nodeID: String
    /// pending, running, complete, failed, lost, unknown
    public var clientStatus: String
    public var clientDescription: String
    public var createIndex: UInt64
    public var task: TaskState?

    /// A task's state: `pending`, `running` or `dead`, with the newest events.
    public struct TaskState: Sendable, Equatable {
        public var state: String
        public var failed: Bool
        public var startedAt: String?
        public var finishedAt: String?
        public var events: [Event]
    }

    /// A task event (`Received`, `Started`, `Terminated`, `Driver Failure`, `Killing`, …).
    public struct Event: Sendable, Equatable {
        public var type: String
        public var details: [String: String]
        public var message: String
        /// The deprecated top-level `ExitCode`, used when `Details.exit_code` is absent.
        public var exitCode: Int?
    }

    public init?(_ json: JSONValue, task name: String) {
        guard let id = json["ID"]?.stringValue else { return nil }
        self.id = id
        nodeID = json["NodeID"]?.stringValue ?? ""
        clientStatus = json["ClientStatus"]?.stringValue ?? "unknown"
        clientDescription = json["ClientDescription"]?.stringValue ?? ""
        createIndex = json["CreateIndex"]?.intValue.map { UInt64(max(0, $0)) } ?? 0
        if let t = json["TaskStates"]?[name], t != .null {
            func time(_ key: String) -> String? {
                guard let s = t[key]?.stringValue, !s.hasPrefix("0001-") else { return nil }
                return s
            }
            let events: [Event] = (t["Events"]?.arrayValue ?? []).map { e in
                var details: [String: String] = [:]
                for (k, v) in e["Details"]?.objectValue ?? [:] { details[k] = v.stringValue }
                let message = [e["DisplayMessage"], e["DriverError"], e["SetupError"], e["Message"], e["KillReason"]]
                    .compactMap { $0?.stringValue }.first { !$0.isEmpty } ?? ""
                return Event(
                    type: e["Type"]?.stringValue ?? "", details: details, message: message, exitCode: e["ExitCode"]?.intValue.map { Int($0) })
            }
            task = TaskState(
                state: t["State"]?.stringValue ?? "pending", failed: t["Failed"]?.boolValue ?? false, startedAt: time("StartedAt"),
                finishedAt: time("FinishedAt"), events: events)
        } else {
            task = nil
        }
    }

    /// The last `Terminated` event: the task ran and exited.
    public var terminated: Event? { task?.events.last { $0.type == "Terminated" } }

    /// The exit code the task ended with, when it ran.
    public var exitCode: Int? {
        guard let t = terminated else { return nil }
        return t.details["exit_code"].flatMap { Int($0) } ?? t.exitCode
    }

    public var oomKilled: Bool { terminated?.details["oom_killed"] == "true" }

    /// Why a dead task never ran (a driver or setup failure), for the error the host gets.
    public var failureMessage: String {
        let events = task?.events ?? []
        let failing =
            events.last { $0.type.contains("Failure") || $0.type == "Failed Validation" || $0.type == "Failed Artifact Download" }
            ?? events.last { $0.type == "Not Restarting" }
        let text = failing.map { "\($0.type): \($0.message)" } ?? (clientDescription.isEmpty ? "no reason given" : clientDescription)
        return text
    }

    /// The node is gone: Nomad marks its allocations lost.
    public var isLost: Bool { clientStatus == "lost" }

    public var isDead: Bool { task?.state == "dead" || ["complete", "failed", "lost"].contains(clientStatus) }
}

/// Why an evaluation could not place a job, from its `FailedTGAllocs` metrics.
public enum PlacementFailure {
    /// A one-line reason: which constraints filtered how many nodes, which dimensions were exhausted.
    public static func describe(_ evaluation: JSONValue) -> String? {
        guard let failed = evaluation["FailedTGAllocs"]?.objectValue, !failed.isEmpty else { return nil }
        var parts: [String] = []
        for (group, metric) in failed.sorted(by: { $0.key < $1.key }) {
            var why: [String] = []
            let evaluated = metric["NodesEvaluated"]?.intValue ?? 0
            why.append("\(evaluated) node(s) evaluated")
            for (constraint, n) in (metric["ConstraintFiltered"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
                why.append("constraint \(constraint) filtered \(n.intValue ?? 0)")
            }
            for (class_, n) in (metric["ClassFiltered"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
                why.append("class \(class_) filtered \(n.intValue ?? 0)")
            }
            for (dimension, n) in (metric["DimensionExhausted"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
                why.append("\(dimension) exhausted on \(n.intValue ?? 0)")
            }
            if let available = metric["NodesAvailable"]?.objectValue, available.values.allSatisfy({ ($0.intValue ?? 0) == 0 }) {
                why.append("no node available in the datacenters \(available.keys.sorted().joined(separator: ", "))")
            }
            parts.append("group \(group): " + why.joined(separator: "; "))
        }
        return parts.joined(separator: " / ")
    }
}

/// Blocking-query index bookkeeping, as the Nomad docs ask of clients: wait from the index the
/// last answer carried; start over from 1 when it went backwards (a new leader, a restored
/// snapshot) or was 0.
public struct BlockingIndex: Sendable {
    public private(set) var value: UInt64 = 0

    public init() {}

    public mutating func update(_ answered: UInt64?) {
        guard let answered else { return }
        value = answered < value || answered == 0 ? 1 : answered
    }
}
