import ExtensionSDK
import Foundation
import GoferHost
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

/// Inputs built to blow up a parser or slip past a check: each is refused quickly, with a clear
/// error naming where, and the server stays up.
@Suite(.serialized)
struct HostileInputTests {
    let loader = PipelineConfigLoader()

    func problems(_ text: String, _ format: PipelineConfigLoader.Format) -> [ConfigProblem] {
        do {
            _ = try loader.load(text, file: "hostile", format: format)
            return []
        } catch {
            return error.problems
        }
    }

    /// A "billion laughs": each level aliases the one before nine times.
    static func aliasBomb(levels: Int) -> String {
        var text = "id: bomb\na0: &a0 [\"lol\"]\n"
        for i in 1...levels { text += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 9).joined(separator: ",") + "]\n" }
        return text + "tasks: [{ id: t, image: x, command: *a\(levels) }]\n"
    }

    @Test(.timeLimit(.minutes(1))) func yamlAnchorsAndAliasBombsAreRefusedBeforeExpansion() {
        let bomb = problems(Self.aliasBomb(levels: 9), .yaml)
        #expect(bomb.contains { $0.message.contains("anchors and aliases") && $0.line == 2 }, "\(bomb)")
        let small = problems("id: p\ntasks:\n  - id: t\n    image: &i busybox\n    command: [*i]\n", .yaml)
        #expect(small.first?.message.contains("&i") == true && small.first?.line == 4, "\(small)")
    }

    @Test(.timeLimit(.minutes(1))) func deepNestingIsRefusedInEveryFormat() {
        let yaml = "id: deep\nx: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "\n"
        #expect(!problems(yaml, .yaml).isEmpty)
        let json = "{\"id\": \"deep\", \"x\": " + String(repeating: "[", count: 10000) + String(repeating: "]", count: 10000) + "}"
        #expect(problems(json, .json).contains { $0.message.contains("deep") || $0.message.contains("nest") }, "\(problems(json, .json).prefix(1))")
        let toml = "id = \"deep\"\nx = " + String(repeating: "[", count: 30000) + String(repeating: "]", count: 30000) + "\n"
        #expect(problems(toml, .toml).first?.message.contains("nest deeper than 64") == true, "\(problems(toml, .toml).prefix(1))")
        let dotted = "id = \"deep\"\n" + Array(repeating: "a", count: 100_000).joined(separator: ".") + " = 1\n"
        #expect(problems(dotted, .toml).first?.message.contains("more than 64 parts") == true)
        let inline = "id = \"deep\"\nx = " + String(repeating: "{a = ", count: 20000) + "1" + String(repeating: "}", count: 20000) + "\n"
        #expect(problems(inline, .toml).first?.message.contains("nest deeper") == true)
    }

    @Test func nulIsRefusedWhereItComesIn() async throws {
        let env = problems("{\"id\": \"p\", \"tasks\": [{\"id\": \"t\", \"image\": \"x\", \"env\": {\"A\": \"a\\u0000b\"}}]}", .json)
        #expect(env.first?.path == "/tasks/0/env/A" && env.first?.message.contains("NUL") == true, "\(env)")
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            try await h.withRouter { client in
                var r = try await client.execute(
                    uri: "/api/namespaces", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: #"{"id": "a\u0000b"}"#))
                #expect(r.status == .badRequest && String(buffer: r.body).contains("/id"), "\(String(buffer: r.body))")
                r = try await client.execute(uri: "/api/namespaces/a%00b", method: .get)
                #expect(r.status == .badRequest, "\(r.status)")
                #expect(try await h.server.store.namespaces().items.map(\.id) == ["default"], "nothing stored")
            }
        }
    }

    @Test func aKnownPathWithAnotherMethodIs405WithAllow() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            try await h.withRouter { client in
                var r = try await client.execute(uri: "/api/namespaces", method: .put)
                #expect(r.status == .methodNotAllowed && r.headers[.allow] == "GET, POST", "\(r.status) \(String(buffer: r.body))")
                r = try await client.execute(uri: "/api/namespaces/default/pipelines/p/runs/1/tasks/t/logs", method: .delete)
                #expect(r.status == .methodNotAllowed && r.headers[.allow] == "GET")
                r = try await client.execute(uri: "/api/nothing", method: .put)
                #expect(r.status == .notFound)
            }
        }
    }
}
