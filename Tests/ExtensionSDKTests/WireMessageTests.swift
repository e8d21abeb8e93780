import ExtensionSDK
import Foundation
import Testing

/// The extension → host messages are declared once, in the SDK, and both ends use the declaration:
/// what a trigger emits and what the host checks, what the host sends a hook and what the task reads.
struct WireMessageTests {
    @Test func anEmitIsCheckedByItsSchemaThenByTheRulesItCannotSay() throws {
        // What the SDK sends decodes on the host's side unchanged.
        let sent = EmitRequest(subscriptionId: "s1", eventId: "e1", occurredAt: "2026-12-07T10:00:00.123Z", variables: ["GOFER_GIT_SHA": "abc"], cursor: "7")
        let wire = try ProtocolCalls.triggerEmit.encode(sent)
        let received = try ProtocolCalls.triggerEmit.decodeParams(wire)
        #expect(received == sent && received.problems.isEmpty)

        // The schema: a missing event id is -32602 at /eventId.
        #expect {
            _ = try ProtocolCalls.triggerEmit.decodeParams(["subscriptionId": "s1"])
        } throws: { error in
            (error as? ProtocolError)?.code == .invalidParams && (error as? ProtocolError)?.diagnostics.contains { $0.path.contains("eventId") } == true
        }

        // The schema refuses an empty id too.
        #expect(throws: ProtocolError.self) { _ = try ProtocolCalls.triggerEmit.decodeParams(["subscriptionId": "s1", "eventId": ""]) }

        // What the schema cannot say: ids over 512 bytes, names no environment takes, NUL in values.
        let bad = try ProtocolCalls.triggerEmit.decodeParams([
            "subscriptionId": "s1", "eventId": .string(String(repeating: "e", count: 600)), "cursor": .string(String(repeating: "c", count: 513)),
            "variables": ["A=B": "x", "OK": "fine", "NUL": "a\u{0}b"],
        ])
        #expect(Set(bad.problems.map(\.path)) == ["/eventId", "/cursor", "/variables/A=B", "/variables/NUL"], "\(bad.problems)")
    }

    @Test func theHookPayloadRoundTripsThroughTheSDKsOwnType() throws {
        let hook = RunHook(
            phase: .runFinished,
            run: RunHook.RunInfo(
                id: 7, state: "failed", reason: "task test failed", startedAt: "2026-12-07T10:00:00.000Z", endedAt: "2026-12-07T10:00:01.250Z",
                url: "https://ci.example.com/ui/namespaces/default/pipelines/p/runs/7", tasks: [.init(id: "test", state: "failed")]),
            history: [RunHook.PastRun(id: 6, state: "succeeded", durationMs: 900)])
        let json = try JSONCodec.encode(hook)
        #expect(json["phase"] == "run_finished" && json["run"]?["tasks"]?.arrayValue?.first?["id"] == "test")
        #expect(json["history"]?.arrayValue?.first?["durationMs"] == 900)
        #expect(try JSONCodec.decode(RunHook.self, from: json) == hook)
    }
}
