import ExtensionSDK
import Foundation
import GoferHost
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing
import Yams

/// The REST API through its real router.
@Suite(.serialized)
struct APITests {
    func withAPI(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let h = try await ServerHarness()
        defer { Task { await h.stop() } }
        let app = Application(router: h.server.api.router())
        try await app.test(.router, body)
    }

    func json(_ buffer: ByteBuffer) -> JSONValue { (try? JSONParser().parse(Array(buffer.readableBytesView))) ?? .null }

    func post(_ client: any TestClientProtocol, _ uri: String, _ body: JSONValue) async throws -> TestResponse {
        try await client.execute(
            uri: uri, method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(bytes: body.serialized()))
    }

    @Test func everyRouteIsInTheOpenAPIDocument() throws {
        let text = try String(contentsOf: BuiltProducts.repositoryRoot.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        guard let doc = try Yams.compose(yaml: text), let paths = doc["paths"]?.mapping else {
            Issue.record("docs/openapi.yaml has no paths")
            return
        }
        var documented: Set<String> = []
        for (path, item) in paths {
            for (method, _) in item.mapping ?? [:] where ["get", "post", "put", "patch", "delete"].contains(method.string ?? "") {
                documented.insert("\(method.string?.uppercased() ?? "") \(path.string ?? "")")
            }
        }
        let routes = Set(GoferAPI.routes)
        #expect(routes.count == GoferAPI.routes.count, "a route is registered twice")
        #expect(routes.subtracting(documented).isEmpty, "missing from docs/openapi.yaml: \(routes.subtracting(documented).sorted())")
        #expect(documented.subtracting(routes).isEmpty, "documented but not served: \(documented.subtracting(routes).sorted())")
    }

    @Test func missingThingsAre404sNamingWhichOne() async throws {
        try await withAPI { client in
            let unknown = try await client.execute(uri: "/api/nothing-here", method: .get)
            #expect(unknown.status == .notFound)
            #expect(json(unknown.body)["code"] == "not_found")
            #expect(json(unknown.body)["message"]?.stringValue?.hasPrefix("no such endpoint: GET /api/nothing-here") == true)
            var r = try await client.execute(uri: "/api/namespaces/nope/pipelines", method: .get)
            #expect(r.status == .notFound)
            #expect(json(r.body)["code"] == "not_found")
            #expect(json(r.body)["message"] == "namespace \"nope\" not found")
            r = try await client.execute(uri: "/api/namespaces/default/pipelines/ghost/runs/1", method: .get)
            #expect(json(r.body)["message"] == "pipeline \"default/ghost\" not found")
            _ = try await post(
                client, "/api/namespaces/default/pipelines", ["config": "id: real\ntasks: [{id: a, image: x, command: [\"true\"]}]\n"])
            r = try await client.execute(uri: "/api/namespaces/default/pipelines/real/runs/7", method: .get)
            #expect(r.status == .notFound)
            #expect(json(r.body)["message"] == "run \"default/real#7\" not found")
        }
    }

    @Test func invalidConfigsAre422WithEveryProblemAndNothingStored() async throws {
        try await withAPI { client in
            let r = try await post(
                client, "/api/namespaces/default/pipelines",
                [
                    "config":
                        "id: bad\ntasks:\n  - { id: a, image: x, depends_on: [b] }\n  - { id: b, image: x, depends_on: [a], timeout: forever }\n",
                    "file": "bad.yaml",
                ])
            #expect(r.status == .unprocessableContent)
            let body = json(r.body)
            #expect(body["code"] == "invalid_config")
            let details = body["details"]?.arrayValue ?? []
            #expect(details.count == 2, "\(body)")
            #expect(details.contains { $0["field"] == "/tasks/1/timeout" && $0["line"] == 4 }, "\(body)")
            let list = try await client.execute(uri: "/api/namespaces/default/pipelines", method: .get)
            #expect(json(list.body)["items"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test func badRequestsAreRefusedPrecisely() async throws {
        try await withAPI { client in
            var r = try await client.execute(uri: "/api/namespaces", method: .post, body: ByteBuffer(string: "{not json"))
            #expect(r.status == .badRequest && json(r.body)["message"]?.stringValue?.hasPrefix("the body is not valid JSON") == true)
            r = try await post(client, "/api/namespaces", ["id": "../etc"])
            #expect(r.status == .badRequest && json(r.body)["details"]?.arrayValue?.first?["field"] == "/id")
            #expect(json(r.body)["message"] == "\"../etc\" is not a valid id")
            r = try await client.execute(uri: "/api/namespaces?limit=0", method: .get)
            #expect(r.status == .badRequest && json(r.body)["details"]?.arrayValue?.first?["field"] == "limit")
            r = try await client.execute(uri: "/api/namespaces/default/pipelines/x/runs/abc", method: .get)
            #expect(r.status == .badRequest)
            let huge = String(repeating: "x", count: 3 * 1024 * 1024)
            r = try await post(client, "/api/namespaces/default/pipelines", ["config": .string(huge)])
            #expect(r.status == .contentTooLarge, "\(r.status)")
        }
    }

    @Test func namespacesAndPagination() async throws {
        try await withAPI { client in
            for i in 1...5 { _ = try await post(client, "/api/namespaces", ["id": .string("team-\(i)")]) }
            let dup = try await post(client, "/api/namespaces", ["id": "team-1"])
            #expect(dup.status == .conflict)
            var seen: [String] = []
            var cursor: String?
            repeat {
                let r = try await client.execute(uri: "/api/namespaces?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""), method: .get)
                let page = json(r.body)
                seen += page["items"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
                cursor = page["next_cursor"]?.stringValue
            } while cursor != nil
            #expect(seen == ["default", "team-1", "team-2", "team-3", "team-4", "team-5"])
        }
    }

    @Test func applyRunAndReadLogsThroughTheAPI() async throws {
        try await withAPI { client in
            let config = "id: api\ntasks:\n  - { id: hello, image: x, command: [\"sh\", \"-c\", \"echo hi from $GOFER_TASK\"] }\n"
            var r = try await post(client, "/api/namespaces/default/pipelines", ["config": .string(config)])
            #expect(r.status == .created)
            r = try await post(client, "/api/namespaces/default/pipelines", ["config": .string(config)])
            #expect(r.status == .ok && json(r.body)["created"] == false)
            r = try await post(client, "/api/namespaces/default/pipelines/api/runs", ["initiator": "test"])
            #expect(r.status == .created && json(r.body)["id"] == 1)
            var state = ""
            for _ in 0..<100 {
                let d = try await client.execute(uri: "/api/namespaces/default/pipelines/api/runs/1", method: .get)
                state = json(d.body)["run"]?["state"]?.stringValue ?? ""
                if state == "succeeded" || state == "failed" { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(state == "succeeded")
            let logs = try await client.execute(uri: "/api/namespaces/default/pipelines/api/runs/1/tasks/hello/logs", method: .get)
            #expect(String(buffer: logs.body) == "hi from hello\n")
            let followed = try await client.execute(
                uri: "/api/namespaces/default/pipelines/api/runs/1/tasks/hello/logs?follow=true", method: .get)
            #expect(String(buffer: followed.body) == "hi from hello\n")
            let events = try await client.execute(uri: "/api/namespaces/default/pipelines/api/runs/1/events", method: .get)
            #expect(String(buffer: events.body).hasPrefix("event: snapshot\ndata: {"))
            let log = try await client.execute(uri: "/api/events?pipeline=api", method: .get)
            let kinds = json(log.body)["items"]?.arrayValue?.compactMap { $0["kind"]?.stringValue } ?? []
            #expect(kinds.first == "pipeline_applied" && kinds.contains("run_queued") && kinds.last == "run_state_changed", "\(kinds)")
            let busy = try await client.execute(uri: "/api/namespaces/default/pipelines/api/runs/1/cancel", method: .post)
            #expect(busy.status == .conflict)
        }
    }
}
