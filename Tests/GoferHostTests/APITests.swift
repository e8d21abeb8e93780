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
    func withAPI(_ body: @Sendable (AuthorizedClient) async throws -> Void) async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            try await h.withRouter(body)
        }
    }

    func json(_ buffer: ByteBuffer) -> JSONValue { (try? JSONParser().parse(Array(buffer.readableBytesView))) ?? .null }

    func post(_ client: AuthorizedClient, _ uri: String, _ body: JSONValue) async throws -> TestResponse {
        try await client.execute(
            uri: uri, method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(bytes: body.serialized()))
    }

    @Test func everyRouteIsInTheOpenAPIDocumentWithItsPermission() throws {
        let text = try String(contentsOf: BuiltProducts.repositoryRoot.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        guard let doc = try Yams.compose(yaml: text), let paths = doc["paths"]?.mapping else {
            Issue.record("docs/openapi.yaml has no paths")
            return
        }
        var documented: [String: String] = [:]
        var open: Set<String> = []
        for (path, item) in paths {
            for (method, op) in item.mapping ?? [:] where ["get", "post", "put", "patch", "delete"].contains(method.string ?? "") {
                let name = "\(method.string?.uppercased() ?? "") \(path.string ?? "")"
                documented[name] = op["x-gofer-permission"]?.string ?? "(none)"
                if op["security"]?.sequence?.isEmpty == true { open.insert(name) }
            }
        }
        let routes = Set(GoferAPI.routes)
        #expect(routes.count == GoferAPI.routes.count, "a route is registered twice")
        #expect(routes.subtracting(documented.keys).isEmpty, "missing from docs/openapi.yaml: \(routes.subtracting(documented.keys).sorted())")
        #expect(Set(documented.keys).subtracting(routes).isEmpty, "documented but not served: \(Set(documented.keys).subtracting(routes).sorted())")
        // The resources a role may grant: the document lists exactly the code's.
        let grant = doc["components"]?["schemas"]?["Grant"]?["properties"]?["resources"]?["items"]?["enum"]?.sequence?.compactMap(\.string)
        #expect(Set(grant ?? []) == Set(["*"] + Resource.allCases.map(\.rawValue)), "Grant.resources enum: \(grant ?? [])")
        // Who may call each route: the document says exactly what the code enforces.
        for route in GoferAPI.routeTable {
            #expect(documented[route.name] == route.access.description, "\(route.name): x-gofer-permission: \(route.access.description)")
            #expect(open.contains(route.name) == (route.access == .open), "\(route.name): security: [] exactly when public")
        }
    }

    /// The run list and a run are served from a cache while nothing changes: every change — a new
    /// run, a cancel, a task ending — shows in the very next read.
    @Test func cachedReadsNeverServeWhatChanged() async throws {
        try await withAPI { client in
            _ = try await post(
                client, "/api/namespaces/default/pipelines",
                ["config": "id: slow\ntasks: [{id: a, image: x, command: [\"sleep\", \"30\"]}]\n"])
            let list = "/api/namespaces/default/pipelines/slow/runs"
            var r = try await client.execute(uri: list, method: .get)
            #expect(json(r.body)["items"]?.arrayValue?.count == 0)
            _ = try await post(client, list, [:])
            r = try await client.execute(uri: list, method: .get)
            #expect(json(r.body)["items"]?.arrayValue?.count == 1, "a new run shows in the next read of the list")
            r = try await client.execute(uri: list + "?limit=1", method: .get)
            #expect(json(r.body)["items"]?.arrayValue?.count == 1)
            _ = try await client.execute(uri: list + "/1", method: .get)  // cached now
            _ = try await post(client, list + "/1/cancel", [:])
            r = try await client.execute(uri: list + "/1", method: .get)
            #expect(json(r.body)["run"]?["stop_requested"] != nil && json(r.body)["run"]?["stop_requested"] != .null, "\(json(r.body))")
            let deadline = ContinuousClock.now + .seconds(20)
            var state = json(r.body)["run"]?["state"]?.stringValue
            while state != "cancelled" && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
                state = json(try await client.execute(uri: list + "/1", method: .get).body)["run"]?["state"]?.stringValue
            }
            #expect(state == "cancelled")
            r = try await client.execute(uri: list + "/1", method: .get)
            #expect(json(r.body)["tasks"]?.arrayValue?.first?["state"] == "cancelled", "its task's change too: \(json(r.body))")
            r = try await client.execute(uri: list, method: .get)
            #expect(json(r.body)["items"]?.arrayValue?.first?["state"] == "cancelled", "the list too")
            // Many readers at once while a run is added: each gets a whole answer, the ones after
            // the change see it.
            let counts = try await withThrowingTaskGroup(of: Int?.self) { group in
                for _ in 0..<32 { group.addTask { json(try await client.execute(uri: list, method: .get).body)["items"]?.arrayValue?.count } }
                return try await group.reduce(into: [Int?]()) { $0.append($1) }
            }
            #expect(counts.allSatisfy { $0 == 1 }, "\(counts)")
            _ = try await post(client, list, [:])
            let again = try await withThrowingTaskGroup(of: Int?.self) { group in
                for _ in 0..<32 { group.addTask { json(try await client.execute(uri: list, method: .get).body)["items"]?.arrayValue?.count } }
                return try await group.reduce(into: [Int?]()) { $0.append($1) }
            }
            #expect(again.allSatisfy { $0 == 2 }, "\(again)")
        }
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
            let config =
                "id: api\ntasks:\n  - { id: hello, image: x, command: [\"sh\", \"-c\", \"echo hi from $GOFER_TASK\"] }\n  - { id: quiet, image: x, command: [\"true\"] }\n"
            var r = try await post(client, "/api/namespaces/default/pipelines", ["config": .string(config)])
            #expect(r.status == .created)
            r = try await post(client, "/api/namespaces/default/pipelines", ["config": .string(config)])
            #expect(r.status == .ok && json(r.body)["created"] == false, "\(String(buffer: r.body))")
            // Who started a run is the caller's token, never a string the client chose.
            r = try await post(client, "/api/namespaces/default/pipelines/api/runs", ["initiator": "mallory"])
            #expect(r.status == .badRequest && json(r.body)["details"]?.arrayValue?.first?["field"] == "/initiator", "\(String(buffer: r.body))")
            r = try await post(client, "/api/namespaces/default/pipelines/api/runs", [:])
            #expect(r.status == .created && json(r.body)["id"] == 1)
            #expect(json(r.body)["initiator"]?["kind"] == "token" && json(r.body)["initiator"]?["name"] == "admin (first start)", "\(String(buffer: r.body))")
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
            // A task that printed nothing has an empty log (no file is made for it), followed or not.
            for query in ["", "?follow=true"] {
                let quiet = try await client.execute(uri: "/api/namespaces/default/pipelines/api/runs/1/tasks/quiet/logs" + query, method: .get)
                #expect(quiet.status == .ok && quiet.body.readableBytes == 0, "\(query): \(quiet.status) \(String(buffer: quiet.body))")
            }
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
