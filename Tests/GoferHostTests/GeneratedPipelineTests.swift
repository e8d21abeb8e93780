import ExtensionSDK
import Foundation
import GoferHost
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PipelineGenerator
import Synchronization
import TestSupport
import Testing

/// The property the structure-aware fuzzer checks on the loader, checked through the server: for
/// generated hostile-but-valid-looking pipelines (long and wide DAGs in any order, extreme
/// numbers, every task shape) apply answers 201 or 422 — never an error of its own, never a
/// crash — and whatever it accepts every scheduler can start: each task maps to a job the SDK's
/// schedulers accept, a sample really runs on the process scheduler, and one on Docker.
@Suite(.serialized)
struct GeneratedPipelineTests {
    struct Outcome: Sendable {
        var accepted: [(id: String, text: String, format: String, tasks: Int)] = []
        var refused = 0
        var largestAccepted = 0
    }

    /// Applies `count` generated pipelines as a namespace-limited user and checks every answer.
    func applyGenerated(_ h: ServerHarness, seeds: Range<UInt64>, shapes: PipelineGenerator.TaskShapes) async throws -> Outcome {
        let tenant = try await h.makeToken("tenant-\(seeds.lowerBound)", roles: ["user"], namespaces: ["default"])
        let loader = PipelineConfigLoader()
        let outcome = Mutex(Outcome())
        try await h.withRouter(token: tenant) { client in
            for seed in seeds {
                var choices = Choices(seed: seed)
                let id = "gen-\(seed)"
                let p = PipelineGenerator.generate(&choices, id: id, shapes: shapes)
                let body = try JSONCodec.encode(JSONValue.object(["config": .string(p.text), "format": .string(p.format)])).description
                let r = try await client.execute(
                    uri: "/api/namespaces/default/pipelines", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: body))
                let answer = String(buffer: r.body)
                switch r.status {
                case .created, .ok:
                    outcome.withLock {
                        $0.accepted.append((id, p.text, p.format, p.taskCount))
                        $0.largestAccepted = max($0.largestAccepted, p.taskCount)
                    }
                    // What was accepted maps, task by task, to jobs every SDK scheduler starts.
                    let config = try loader.load(p.text, file: id, format: p.format == "json" ? .json : .yaml)
                    for task in config.tasks where task.extension == nil {
                        let job = task.jobSpec(
                            taskExecutionID: "\(id)-\(task.id)", env: task.env, labels: [:], registryAuth: nil, stopGraceMs: 10_000)
                        #expect(job.problems().isEmpty, "seed \(seed) (\(p.shape)), task \(task.id): \(job.problems())")
                    }
                case .unprocessableContent:
                    outcome.withLock { $0.refused += 1 }
                    // Every problem names where it is.
                    let problems = (try? JSONParser().parse(Array(answer.utf8)))?["details"]?.arrayValue ?? []
                    #expect(!problems.isEmpty, "seed \(seed) (\(p.shape)): refused without details: \(answer.prefix(300))")
                    #expect(problems.allSatisfy { $0["field"]?.stringValue != nil }, "seed \(seed): \(answer.prefix(300))")
                default:
                    Issue.record("seed \(seed) (\(p.shape)): \(r.status) \(answer.prefix(300))")
                }
            }
            let health = try await client.execute(uri: "/api/health", method: .get)
            #expect(health.status == .ok, "the server is still up")
        }
        return outcome.withLock { $0 }
    }

    @Test(.timeLimit(.minutes(10))) func whateverApplyAcceptsTheProcessSchedulerRuns() async throws {
        let h = try await ServerHarness { $0.maxConcurrentTasks = 64 }
        try await stopping({ await h.stop() }) {
            let all = try await applyGenerated(h, seeds: 0..<120, shapes: .all)
            let runnable = try await applyGenerated(h, seeds: 1000..<1060, shapes: .runnable)
            print(
                "generated pipelines: \(all.accepted.count + runnable.accepted.count) accepted (largest \(max(all.largestAccepted, runnable.largestAccepted)) tasks), \(all.refused + runnable.refused) refused"
            )
            #expect(all.accepted.count > 0 && all.refused > 0, "the generator makes both kinds")
            // Really run a sample of the accepted ones (small enough to run quickly).
            let sample = runnable.accepted.filter { $0.tasks <= 100 }.prefix(6)
            #expect(sample.count >= 3, "\(runnable.accepted.map(\.tasks))")
            for p in sample {
                let (run, tasks) = try await h.runToEnd(p.id)
                #expect(run.state == .succeeded, "\(p.id): \(run)")
                #expect(tasks.allSatisfy { $0.state == .succeeded }, "\(p.id): \(tasks.filter { $0.state != .succeeded })")
            }
        }
    }

    @Test(.timeLimit(.minutes(10))) func whateverApplyAcceptsDockerStarts() async throws {
        guard try await DockerAvailability.check() else { return }
        let h = try await ServerHarness(scheduler: "docker")
        try await stopping({ await h.stop() }) {
            let runnable = try await applyGenerated(h, seeds: 2000..<2080, shapes: .runnable)
            // Of the accepted, the ones asking for the most cpu and memory, on busybox.
            let heavy = runnable.accepted.filter { $0.tasks <= 8 && ($0.text.contains("\"cpu\"") || $0.text.contains("\"memory\"")) }.prefix(2)
            #expect(!heavy.isEmpty, "\(runnable.accepted.map(\.tasks))")
            // The most cores apply accepts (task_cpu_max, 64), on a machine with fewer: Docker
            // refuses more than the host has, so the scheduler asks for every core there is.
            _ = try await h.apply("id: cores\ntasks:\n  - { id: t, image: busybox:latest, command: [\"true\"], cpu: 64, memory: 6MB }\n")
            let (cores, coreTasks) = try await h.runToEnd("cores")
            #expect(cores.state == .succeeded, "\(cores) \(coreTasks)")
            for p in heavy {
                let text = p.text.replacingOccurrences(of: "\"image\": \"none\"", with: "\"image\": \"busybox:latest\"")
                _ = try await h.apply(text)
                let (run, tasks) = try await h.runToEnd(p.id)
                #expect(run.state == .succeeded, "\(p.id): \(run) \(text)")
                #expect(tasks.allSatisfy { $0.state == .succeeded }, "\(p.id): \(tasks.filter { $0.state != .succeeded })")
            }
        }
    }
}
