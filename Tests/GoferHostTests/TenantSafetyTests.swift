import ExtensionSDK
import Foundation
import GoferHost
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What a namespace-limited tenant can send: each used to crash the whole server (a stack
/// overflow in the cycle search, a trapping conversion of memory or cpu). Each is now answered,
/// and what apply accepts every scheduler can run.
@Suite(.serialized)
struct TenantSafetyTests {
    let loader = PipelineConfigLoader()

    /// `count` tasks each depending on the next one declared (the chain runs backwards through the
    /// file), optionally closed into a cycle.
    static func chain(_ count: Int, cycle: Bool = false, id: String = "chain") -> String {
        var text = "id: \(id)\ntasks:\n"
        for i in 0..<count {
            let parent = i + 1 < count ? "t\(i + 1)" : (cycle ? "t0" : nil)
            text += "  - { id: t\(i), run: \"true\"\(parent.map { ", depends_on: [\($0)]" } ?? "") }\n"
        }
        return text
    }

    static func wide(_ count: Int, id: String = "wide") -> String {
        var text = "id: \(id)\ntasks:\n  - { id: root, run: \"true\" }\n"
        for i in 0..<count { text += "  - { id: t\(i), run: \"true\", depends_on: [root] }\n" }
        return text
    }

    func problems(_ yaml: String) -> [ConfigProblem] {
        do {
            _ = try loader.load(yaml, file: "p.yaml")
            return []
        } catch {
            return error.problems
        }
    }

    @Test func aTenThousandTaskChainInReverseOrderLoadsAndItsCycleIsNamedShortly() throws {
        // 4,000 crashed the server (SIGSEGV in a recursive cycle search).
        let config = try loader.load(Self.chain(10_000), file: "p.yaml")
        #expect(config.tasks.count == 10_000)
        let cycle = problems(Self.chain(10_000, cycle: true))
        #expect(cycle.count == 1 && cycle[0].message.hasPrefix("dependency cycle: t0 → t1"), "\(cycle.prefix(1))")
        #expect(cycle[0].message.contains("more …") && cycle[0].message.count < 200, "\(cycle[0].message)")
        #expect(try loader.load(Self.wide(10_000), file: "p.yaml").tasks.count == 10_001)
    }

    @Test func resourceRequestsAreBoundedAtApplyWithTheBoundInTheMessage() {
        func problem(_ field: String) -> String {
            problems("id: p\ntasks:\n  - { id: t, image: x, \(field) }\n").map(\.description).joined(separator: "\n")
        }
        // Each of these trapped: the server (memory) or the Docker scheduler on every start (cpu).
        #expect(problem("memory: 99999999999999999999999GB").contains("task_memory_max: 256GiB"), "\(problem("memory: 99999999999999999999999GB"))")
        #expect(problem("memory: 9000000000000GB").contains("more than a task may ask for"))
        #expect(problem("memory: 99999999999999999999999").contains("task_memory_max"), "a bare number is MB")
        #expect(problem("memory: 5MB").contains("less than 6MB"))
        #expect(problem("memory: 1e400GB").contains("not a memory size"))
        #expect(problem("cpu: 1e10").contains("task_cpu_max: 64"), "\(problem("cpu: 1e10"))")
        #expect(problem("cpu: 0.001").contains("less than 0.01"))
        #expect(problems("id: p\ntasks:\n  - { id: t, image: x, cpu: 64, memory: 256GiB }\n").isEmpty, "the bounds themselves are allowed")
        var limited = PipelineConfigLoader()
        limited.limits = TaskResourceLimits(maxCPUs: 2, maxMemoryMB: 1024)
        #expect(throws: ConfigError.self) { try limited.load("id: p\ntasks:\n  - { id: t, image: x, cpu: 3 }\n", file: "p.yaml") }
        #expect(PipelineConfigLoader.parseMemory("99999999999999999999999GB") == Int.max, "saturated, never trapped")
        #expect(PipelineConfigLoader.parseMemory("-5GB") == nil && PipelineConfigLoader.parseMemory("nanGB") == nil)
    }

    @Test func theSDKRefusesAJobNoEngineCanExpress() {
        let job = JobSpec(taskExecutionID: "x", image: "busybox", cpus: 1e10, memoryMB: Int.max, stopGraceMs: Int.max)
        #expect(job.nanoCPUs == nil && job.memoryBytes(defaultMB: 0) == nil, "checked: nil, not a trap")
        #expect(Checked.int64(.infinity) == nil && Checked.int64(9.3e18) == nil && Checked.int64(1.5, times: 1e9) == 1_500_000_000)
        #expect(Checked.multiply(Int64.max / 2, 3) == nil)
    }

    @Test func aLimitedTokenApplyingHostileGraphsGetsAnswersAndTheServerStaysUp() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            let tenant = try await h.makeToken("tenant", roles: ["user"], namespaces: ["default"])
            try await h.withRouter(token: tenant) { client in
                for (yaml, expected) in [
                    (Self.chain(5_000, id: "long"), HTTPResponse.Status.created), (Self.chain(5_000, cycle: true, id: "loop"), .unprocessableContent),
                    ("id: mem\ntasks:\n  - { id: t, image: x, memory: 99999999999999999999999GB }\n", .unprocessableContent),
                    ("id: cpu\ntasks:\n  - { id: t, image: x, cpu: 1e10 }\n", .unprocessableContent),
                ] {
                    let body = try JSONCodec.encode(JSONValue.object(["config": .string(yaml)])).description
                    let r = try await client.execute(
                        uri: "/api/namespaces/default/pipelines", method: .post, headers: [.contentType: "application/json"],
                        body: ByteBuffer(string: body))
                    #expect(r.status == expected, "\(String(buffer: r.body).prefix(300))")
                }
                let health = try await client.execute(uri: "/api/health", method: .get)
                #expect(health.status == .ok)
            }
        }
    }

    @Test(.timeLimit(.minutes(5))) func theLongestChainAndWidestDAGTheTestRunsSucceed() async throws {
        let h = try await ServerHarness { $0.maxConcurrentTasks = 64 }
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(Self.chain(300))
            _ = try await h.apply(Self.wide(300))
            for p in ["chain", "wide"] {
                let (run, tasks) = try await h.runToEnd(p)
                #expect(run.state == .succeeded, "\(p): \(run)")
                #expect(tasks.allSatisfy { $0.state == .succeeded }, "\(p)")
            }
        }
    }

    @Test func aSecondServerOnTheSameDataDirectoryIsRefusedWithTheFirstOnesPid() async throws {
        let h = try await ServerHarness()
        do {
            _ = try await GoferServer(settings: h.server.settings)
            Issue.record("a second server started on the same data directory")
        } catch {
            #expect("\(error)".contains("another Gofer server (pid \(getpid()))") && "\(error)".contains(h.dir.path), "\(error)")
        }
        await h.stop()
        // Stopped: the directory is free again.
        let again = try await GoferServer(settings: h.server.settings)
        await again.stop()
    }

    /// Sends `request` (with `Connection: close`) on a new connection and returns everything the
    /// server answers.
    static func exchange(port: Int, _ request: String) async throws -> String {
        guard let fd = SlowClientTests.connect(port: port, from: "127.0.0.1") else { throw ServerError("cannot connect") }
        defer { close(fd) }
        let bytes = Array(request.utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 30_000) > 0 else { throw ServerError("no answer within 30 s") }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            answer += buffer[0..<n]
        }
        return String(decoding: answer, as: UTF8.self)
    }

    @Test func anObjectPutWithNoBodyIsRefusedAndAnExplicitlyEmptyOneIsStored() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            _ = try await h.apply("id: p\ntasks:\n  - { id: t, image: none, command: [\"true\"] }\n")
            let path = "/api/namespaces/default/pipelines/p/objects"
            for method in ["PUT", "POST"] {
                let answer = try await Self.exchange(
                    port: port, "\(method) \(path)/nobody HTTP/1.1\r\nHost: gofer\r\nAuthorization: Bearer \(h.adminToken)\r\nConnection: close\r\n\r\n")
                #expect(answer.hasPrefix("HTTP/1.1 400"), "\(method): \(answer)")
                #expect(answer.contains("the request has no body"), "\(answer)")
            }
            let empty = try await Self.exchange(
                port: port,
                "PUT \(path)/empty HTTP/1.1\r\nHost: gofer\r\nAuthorization: Bearer \(h.adminToken)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            #expect(empty.hasPrefix("HTTP/1.1 201"), "\(empty)")
            let list: JSONValue = try await h.client(port: port).call("GET", path)
            let keys = list["items"]?.arrayValue?.compactMap { $0["key"]?.stringValue } ?? []
            #expect(keys == ["empty"], "nothing stored for the requests without a body: \(list)")
        }
    }

    @Test func aNamespaceLimitedTokenListsTheEventsOfItsNamespacesOnly() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            _ = try await h.server.store.createNamespace(id: "other", name: nil, description: "")
            _ = try await h.apply("id: mine\ntasks:\n  - { id: t, image: none, command: [\"true\"] }\n")
            _ = try await h.apply("id: theirs\ntasks:\n  - { id: t, image: none, command: [\"true\"] }\n", namespace: "other")
            let tenant = try h.client(port: port, token: try await h.makeToken("tenant", roles: ["read-only"], namespaces: ["default"]))
            // Every page, small ones so the filter crosses page boundaries.
            var seen: [JSONValue] = []
            var cursor: String? = "0"
            while let c = cursor {
                let page: JSONValue = try await tenant.call("GET", "/api/events?limit=2&cursor=\(c)")
                seen += page["items"]?.arrayValue ?? []
                cursor = page["next_cursor"]?.stringValue
            }
            let namespaces = Set(seen.map { $0["namespace"]?.stringValue ?? "(server)" })
            #expect(namespaces == ["default"], "\(namespaces)")
            #expect(seen.contains { $0["pipeline"]?.stringValue == "mine" }, "its own pipeline's events are listed")
            // An unrestricted token still sees everything, server-wide events included.
            let all: JSONValue = try await h.client(port: port).call("GET", "/api/events?limit=1000")
            let everywhere = Set((all["items"]?.arrayValue ?? []).map { $0["namespace"]?.stringValue ?? "(server)" })
            #expect(everywhere.isSuperset(of: ["default", "other"]), "\(everywhere)")
            // Naming another namespace is still refused.
            do {
                let _: JSONValue = try await tenant.call("GET", "/api/events?namespace=other")
                Issue.record("a token limited to default read the events of other")
            } catch let error as APIError {
                #expect(error.status == 403, "\(error)")
            }
        }
    }
}
