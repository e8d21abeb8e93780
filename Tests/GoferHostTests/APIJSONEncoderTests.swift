import Foundation
import GoferHost
import Testing

/// The fast encoder of the busiest read routes writes exactly what Foundation's JSONEncoder (as
/// the API configures it) writes, for every type those routes answer with, byte for byte.
struct APIJSONEncoderTests {
    static func same<T: Encodable>(_ value: T, _ what: String) throws {
        let foundation = Array(try APIAnswer.encoder.encode(value))
        let fast = try APIJSONEncoder().encode(value)
        #expect(
            fast == foundation,
            "\(what):\nfast       \(String(decoding: fast, as: UTF8.self))\nfoundation \(String(decoding: foundation, as: UTF8.self))")
    }

    /// Runs and tasks have no public memberwise initializer: they are made from JSON as the store
    /// would fill them (dates as seconds, so fractions are exercised).
    static func make<T: Decodable>(_ type: T.Type, _ fields: [String: Any]) throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .secondsSince1970
        return try decoder.decode(T.self, from: JSONSerialization.data(withJSONObject: fields))
    }

    static func object<T: Encodable>(_ value: T) throws -> Any {
        try JSONSerialization.jsonObject(with: APIAnswer.encoder.encode(value))
    }

    static func run(_ id: Int, full: Bool) throws -> Run { try make(Run.self, try runFields(id, full: full)) }

    static func task(_ name: String, full: Bool) throws -> TaskExecution { try make(TaskExecution.self, try taskFields(name, full: full)) }

    static func runFields(_ id: Int, full: Bool) throws -> [String: Any] {
        let fields: [String: Any?] = [
                "namespace": "default", "pipeline": "p-\(id)", "id": id, "pipeline_version": id % 7 + 1, "state": full ? "failed" : "running",
                "reason": full ? try object(StateReason(.taskFailed, "tasks \"a\", b\\c failed\n\ton line\u{1}/2 é😀")) : nil,
                "stop_requested": full ? try object(StateReason(.cancelled, "by alice")) : nil,
                "initiator": try object(full ? Principal(kind: .token, id: "tok_1", name: "alice") : .trigger("gh", label: "push")),
                "variables": full ? ["GOFER_GIT_SHA": String(repeating: "a", count: 40), "myVar": "x", "a10": "1", "a9": "2", "é": "</tag>"] : [:],
                "version_reason": full ? "canary" : "live", "rollout": full ? 3 : nil, "rerun_of": full ? 1 : nil,
                "created_at": 1_795_995_300.75 + Double(id), "started_at": full ? 1_795_995_301.999 : nil, "ended_at": full ? -86_401.5 : nil,
            ]
        return fields.compactMapValues { $0 }
    }

    static func taskFields(_ name: String, full: Bool) throws -> [String: Any] {
        let fields: [String: Any?] = [
                "namespace": "default", "pipeline": "p", "run": 4, "task": name, "state": full ? "failed" : "waiting",
                "reason": full ? try object(StateReason(.exitCode, "exited with code 2")) : nil, "exit_code": full ? 2 : nil,
                "handle": full ? "c0ffee" : nil, "image": "busybox:latest", "created_at": 0, "started_at": full ? 1 : nil,
                "ended_at": full ? 4_102_444_800 : nil, "deadline": full ? 951_782_400 : nil, "logging": !full, "carried_from": full ? 2 : nil,
            ]
        return fields.compactMapValues { $0 }
    }

    @Test func runsAndTheirTasksEncodeAsFoundationDoes() throws {
        for full in [false, true] {
            try Self.same(try Self.run(1, full: full), "run (full: \(full))")
            try Self.same(try Self.task("build", full: full), "task (full: \(full))")
            let detail = try Self.make(
                RunDetail.self,
                ["run": try Self.runFields(2, full: full), "tasks": [try Self.taskFields("a", full: full), try Self.taskFields("b", full: !full)]])
            try Self.same(detail, "run detail")
        }
        let page = try Self.make(Page<Run>.self, ["items": try (1...25).map { try Self.runFields($0, full: $0 % 2 == 0) }, "next_cursor": "5"])
        try Self.same(page, "a page of runs")
        try Self.same(try Self.make(Page<Run>.self, ["items": [Any]()]), "an empty page")
    }

    /// Keys the way Foundation converts them, acronyms included; dictionary keys as they are.
    @Test func keysAndValuesFollowFoundationsRules() throws {
        struct Odd: Encodable {
            var myURLProperty = 1
            var apiURL = "u"
            var HTTPServer = true
            var a1B2: Double = 2.0
            var tenth = 0.1
            var big: Int64 = -9_007_199_254_740_993
            var list: [[String: Int]] = [["b": 1, "a": 2], [:]]
            var nested: [String: [Date]] = ["when": [Date(timeIntervalSince1970: 1_000_000_000.5)]]
            var none: String? = nil
            var control = "\u{0}\u{7}\u{1f}\u{7f}\u{2028}/"
        }
        try Self.same(Odd(), "odd keys and values")
    }
}
