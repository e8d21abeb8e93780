import ExtensionSDK
import Foundation
import GoferHost
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

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
        #expect(problem("memory: 3MB").contains("less than 4MB"))
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
        defer { Task { await h.stop() } }
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

    @Test(.timeLimit(.minutes(5))) func theLongestChainAndWidestDAGTheTestRunsSucceed() async throws {
        let h = try await ServerHarness { $0.maxConcurrentTasks = 64 }
        defer { Task { await h.stop() } }
        _ = try await h.apply(Self.chain(300))
        _ = try await h.apply(Self.wide(300))
        for p in ["chain", "wide"] {
            let (run, tasks) = try await h.runToEnd(p)
            #expect(run.state == .succeeded, "\(p): \(run)")
            #expect(tasks.allSatisfy { $0.state == .succeeded }, "\(p)")
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
}
