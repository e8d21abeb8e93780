import ExtensionSDK
import Foundation
import GoferHost
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import TestSupport
import Testing
import Yams

/// Every operation of docs/openapi.yaml × every kind of caller, so a new route is covered the day
/// it is documented. The expectations come from the roles as the security docs describe them —
/// written here independently of the server's own tables.
@Suite(.serialized)
struct AuthMatrixTests {
    struct Operation: CustomStringConvertible {
        var method: HTTPRequest.Method
        var path: String
        /// `runs:read`, `public`, `any token`.
        var permission: String
        var description: String { "\(method.rawValue) \(path)" }
        var resource: String { String(permission.split(separator: ":").first ?? "") }
        var action: String { String(permission.split(separator: ":").last ?? "") }
    }

    static func operations() throws -> [Operation] {
        let text = try String(contentsOf: BuiltProducts.repositoryRoot.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        guard let paths = try Yams.compose(yaml: text)?["paths"]?.mapping else { return [] }
        var ops: [Operation] = []
        for (path, item) in paths {
            for (method, op) in item.mapping ?? [:] {
                guard let m = method.string, ["get", "post", "put", "delete", "patch"].contains(m),
                    let verb = HTTPRequest.Method(m.uppercased())
                else { continue }
                ops.append(Operation(method: verb, path: path.string ?? "", permission: op["x-gofer-permission"]?.string ?? "?"))
            }
        }
        return ops.sorted { $0.description < $1.description }
    }

    /// The expected answer for a caller, by the roles' documented meaning.
    enum Caller: String, CaseIterable {
        case anonymous, admin, userA = "user in team-a", readA = "read-only in team-a", runA = "run token of team-a/pa"

        /// Whether the caller may do `op` on a path in namespace `ns`, pipeline `p` (nil: not in the path).
        /// Lists a namespace-limited token may read across namespaces: they show only its own
        /// (TenantSafetyTests and the namespace tests check what they show).
        static let filteredLists: Set<String> = ["GET /api/namespaces", "GET /api/events"]

        func allowed(_ op: Operation, ns: String?, pipeline: String?) -> Bool {
            switch op.permission {
            case "public": return true
            case "any token": return self != .anonymous
            default: break
            }
            let namespaced = ["namespaces", "pipelines", "runs", "secrets", "events", "objects", "attach"].contains(op.resource)
            switch self {
            case .anonymous: return false
            case .admin: return true
            case .userA:
                if op.resource == "triggers" { return op.action == "read" }
                guard namespaced, ns == "team-a" else {
                    // Lists that filter: allowed, showing only team-a (checked separately).
                    return Self.filteredLists.contains(op.description)
                }
                if ["pipelines", "runs", "secrets", "objects", "attach"].contains(op.resource) { return true }
                return op.action == "read"
            case .readA:
                if op.resource == "triggers" { return op.action == "read" }
                guard namespaced, ns == "team-a" else { return Self.filteredLists.contains(op.description) }
                return op.action == "read"
            case .runA:
                guard ns == "team-a" && pipeline == "pa" else { return false }
                if op.resource == "objects" { return op.action == "read" || op.action == "write" }
                return ["pipelines", "runs"].contains(op.resource) && op.action == "read"
            }
        }
    }

    /// A server with two namespaces, a pipeline in each (with a run, a task and a secret), and a
    /// token per caller.
    final class World: Sendable {
        let h: ServerHarness
        let tokens: [Caller: String]
        let running: Run

        init() async throws {
            h = try await ServerHarness { s in s.rateLimitAuthFailures = RateLimit(count: 1_000_000, per: .seconds(60)) }
            let api = h.server.api
            _ = try await h.server.store.createNamespace(id: "team-a", name: nil, description: "")
            _ = try await h.server.store.createNamespace(id: "team-b", name: nil, description: "")
            for (ns, p) in [("team-a", "pa"), ("team-a", "pa2"), ("team-b", "pb")] {
                _ = try await h.apply("id: \(p)\ntasks:\n  - { id: t, image: x, command: [\"sh\", \"-c\", \"echo hi; sleep 600\"] }\n", namespace: ns)
                try await h.server.secrets.putPipelineSecret(namespace: ns, pipeline: p, name: "s", value: Array("v".utf8))
            }
            _ = api
            running = try await h.server.engine.startRun(namespace: "team-a", pipeline: "pa", initiator: .system)
            for (ns, p) in [("team-a", "pa2"), ("team-b", "pb")] {
                _ = try await h.server.engine.startRun(namespace: ns, pipeline: p, initiator: .system)
            }
            let runToken = try await #require(h.server.engine.runTokens).token(for: running).text
            tokens = [
                .admin: h.adminToken,
                .userA: try await h.makeToken("usera", roles: ["user"], namespaces: ["team-a"]),
                .readA: try await h.makeToken("reada", roles: ["read-only"], namespaces: ["team-a"]),
                .runA: runToken,
            ]
        }

        func path(_ op: Operation, ns: String, pipeline: String) -> String {
            var p = op.path
            for (k, v) in [
                ("{ns}", ns), ("{pipeline}", pipeline), ("{run}", "1"), ("{task}", "t"), ("{secret}", "s"), ("{extension}", "interval"),
                ("{trigger}", "github"), ("{version}", "1"), ("{token}", "tok_usera"), ("{role}", "admin"), ("{key}", "k"),
            ] {
                p = p.replacingOccurrences(of: k, with: v)
            }
            return p
        }
    }

    @Test func everyOperationRefusesWhoItMustAndNoTokenCrossesANamespace() async throws {
        let ops = try Self.operations()
        #expect(ops.count >= 50, "the document lists every route")
        let world = try await World()
        return try await stopping({
            // The runs were kept running for the run token; end them before the server stops.
            for (ns, p) in [("team-a", "pa"), ("team-a", "pa2"), ("team-b", "pb")] {
                try? await world.h.server.engine.cancelRun(namespace: ns, pipeline: p, run: 1, by: .system, why: "test over")
            }
            await world.h.stop()
        }) {
            let before = try await world.h.server.store.events(after: 0, limit: 1000).items.count
            let checked = Mutex(0)
            try await world.h.withRouter(token: "") { client in
                for op in ops {
                    for (ns, pipeline) in [("team-a", "pa"), ("team-a", "pa2"), ("team-b", "pb")] {
                        let uri = world.path(op, ns: ns, pipeline: pipeline)
                        for caller in Caller.allCases {
                            let allowed = caller.allowed(
                                op, ns: op.path.contains("{ns}") ? ns : nil, pipeline: op.path.contains("{pipeline}") ? pipeline : nil)
                            // Changes are only made by calls that must be refused: refused before
                            // anything happens, they leave everything as it was (checked below).
                            if allowed && op.method != .get { continue }
                            // A run's event stream lasts as long as the run (these runs are kept running).
                            if allowed && op.path.hasSuffix("/runs/{run}/events") { continue }
                            var headers: HTTPFields = [.contentType: "application/json"]
                            if let t = world.tokens[caller] { headers[.authorization] = "Bearer \(t)" }
                            // Follow-mode streams would wait for the running task: ask without following.
                            let r = try await client.execute(uri: uri, method: op.method, headers: headers, body: ByteBuffer(string: "{}"))
                            checked.withLock { $0 += 1 }
                            let status = r.status.code
                            if caller == .anonymous && op.permission != "public" {
                                #expect(status == 401, "\(caller.rawValue) \(op) \(uri) → \(status) \(String(buffer: r.body).prefix(200))")
                            } else if allowed {
                                #expect(status != 401 && status != 403, "\(caller.rawValue) \(op) \(uri) → \(status) \(String(buffer: r.body).prefix(200))")
                            } else {
                                #expect(status == 403, "\(caller.rawValue) \(op) \(uri) → \(status) \(String(buffer: r.body).prefix(200))")
                                if status == 403 {
                                    let message = (try? JSONParser().parse(Array(r.body.readableBytesView)))?["message"]?.stringValue ?? ""
                                    #expect(message.contains("lacks \(op.permission)"), "the 403 names the permission: \(message)")
                                }
                            }
                        }
                    }
                }
                // A list that filters shows only what the caller may read.
                let page = try await client.execute(
                    uri: "/api/namespaces", method: .get, headers: [.authorization: "Bearer \(world.tokens[.userA] ?? "")"])
                let ids = ((try? JSONParser().parse(Array(page.body.readableBytesView)))?["items"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
                #expect(ids == ["team-a"], "\(ids)")
            }
            #expect(checked.withLock { $0 } > 500, "\(checked.withLock { $0 }) calls")
            // Nothing a refused call asked for happened.
            let after = try await world.h.server.store.events(after: 0, limit: 1000).items
            let changes = after.dropFirst(before).filter { ![.runStateChanged, .taskStateChanged].contains($0.kind) }
            #expect(changes.isEmpty, "refused calls changed something: \(changes.map(\.kind))")
            for (ns, p) in [("team-a", "pa"), ("team-a", "pa2"), ("team-b", "pb")] {
                _ = try await world.h.server.store.pipeline(namespace: ns, id: p)
                #expect(try await world.h.server.secrets.pipelineSecretNames(namespace: ns, pipeline: p) == ["s"])
            }
            #expect(try await world.h.server.store.tokens(includeRevoked: true).allSatisfy { $0.revokedAt == nil })
        }
    }
}
