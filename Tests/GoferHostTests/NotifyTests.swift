import ExtensionClient
import ExtensionSDK
import Foundation
import NotifyConditions
import TestSupport
import Testing

/// gofer-task-notify: each condition fires exactly when it should (judged on the outcome a hook
/// gets), delivered to a local receiver, once per run and condition.
struct NotifyTests {
    func outcome(_ state: String, history: [String], seconds: Int? = nil, tasks: [String: String] = [:]) -> RunOutcome {
        RunOutcome(
            id: history.count + 1, state: state, durationSeconds: seconds, tasks: tasks,
            history: history.enumerated().map { RunOutcome.Past(id: history.count - $0.offset, state: $0.element) })
    }

    @Test func eachConditionHoldsExactlyWhenItShould() {
        // run_finished / run_failed
        #expect(outcome("succeeded", history: []).holds(.runFinished) != nil)
        #expect(outcome("cancelled", history: []).holds(.runFailed) == nil && outcome("failed", history: []).holds(.runFailed) != nil)
        // failed_in_a_row 3: only the run that makes the streak 3 (newest first in history).
        #expect(outcome("failed", history: ["failed"]).holds(.failedInARow(3)) == nil)
        #expect(outcome("failed", history: ["failed", "failed", "succeeded"]).holds(.failedInARow(3)) != nil)
        #expect(outcome("failed", history: ["failed", "failed", "failed"]).holds(.failedInARow(3)) == nil, "once per streak")
        #expect(outcome("failed", history: ["failed", "cancelled", "failed"]).holds(.failedInARow(3)) == nil, "a cancel breaks a streak")
        // success_rate_below 50% over 4: fires when it drops below, not while it stays below.
        let below = AlertCondition.successRateBelow(percent: 50, runs: 4)
        #expect(outcome("failed", history: ["failed", "succeeded"]).holds(below) == nil, "too few runs to judge")
        #expect(outcome("failed", history: ["failed", "succeeded", "succeeded"]).holds(below) == nil, "2 of 4 is not below 50%")
        #expect(outcome("failed", history: ["failed", "failed", "succeeded", "succeeded"]).holds(below) != nil, "1 of 4: it just dropped")
        #expect(outcome("failed", history: ["failed", "failed", "failed", "succeeded"]).holds(below) == nil, "already below before")
        #expect(outcome("failed", history: ["cancelled", "failed", "failed", "succeeded", "succeeded"]).holds(below) != nil, "cancelled runs do not count")
        // longer_than
        #expect(outcome("succeeded", history: [], seconds: 61).holds(.longerThan(seconds: 60)) != nil)
        #expect(outcome("succeeded", history: [], seconds: 60).holds(.longerThan(seconds: 60)) == nil)
        // task_state
        #expect(outcome("failed", history: [], tasks: ["deploy": "failed"]).holds(.taskState(task: "deploy", state: "failed")) != nil)
        #expect(outcome("failed", history: [], tasks: ["deploy": "skipped"]).holds(.taskState(task: "deploy", state: "failed")) == nil)
    }

    @Test func alertsReachWebhookAndSlackOnceEvenWhenTheCallIsRepeatedOrTheReceiverStumbles() async throws {
        let receiver = try await AlertReceiver()
        return try await stopping({ await receiver.stop() }) {
            let state = try TemporaryDirectory()
            let connection = try ExtensionConnection.spawn(ExtensionLaunch(executable: BuiltProducts.path("gofer-task-notify")))
            defer { connection.kill() }
            _ = try await connection.initialize(InitializeOptions(kind: .task, stateDirectory: state.path))
            let params: JSONValue = [
                "when": ["longer_than": "1m", "run_finished": true],
                "webhook": ["url": .string(receiver.url + "/hook")], "slack": ["url": .string(receiver.url + "/slack")],
            ]
            let hook: JSONValue = [
                "phase": "run_finished",
                "run": ["id": 9, "state": "succeeded", "startedAt": "2026-11-29T10:00:00Z", "endedAt": "2026-11-29T10:02:30Z"],
                "history": [],
            ]
            let call: JSONValue = [
                "params": params, "variables": ["GOFER_NAMESPACE": "default", "GOFER_PIPELINE": "nightly"], "hook": hook,
            ]
            receiver.answer([503])  // the first POST fails; the task retries it itself
            _ = try await connection.request("task/run", call, timeout: .seconds(30))
            _ = try await connection.request("task/run", call, timeout: .seconds(30))  // a retried hook call: nothing new
            let hooks = receiver.deliveries.filter { $0.path == "/hook" }
            let slack = receiver.deliveries.filter { $0.path == "/slack" }
            #expect(hooks.count == 3, "one refused, then run_finished and longer_than: \(hooks.map(\.body))")
            #expect(slack.count == 2 && slack.allSatisfy { $0.body.contains("\"text\"") && $0.body.contains("[default/nightly]") })
            #expect(hooks.contains { $0.body.contains("longer_than") && $0.body.contains("run 9 took") }, "\(hooks.map(\.body))")
            // A new process with the same state directory remembers what it sent.
            connection.kill()
            let again = try ExtensionConnection.spawn(ExtensionLaunch(executable: BuiltProducts.path("gofer-task-notify")))
            defer { again.kill() }
            _ = try await again.initialize(InitializeOptions(kind: .task, stateDirectory: state.path))
            _ = try await again.request("task/run", call, timeout: .seconds(30))
            #expect(receiver.deliveries.count == 5, "nothing sent twice after a restart")
        }
    }
}
