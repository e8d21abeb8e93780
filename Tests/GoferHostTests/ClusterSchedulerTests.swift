import ExtensionSDK
import Foundation
import GoferHost
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import TestSupport
import Testing

/// Pipelines on the cluster schedulers, selected by name: Swarm for real, Nomad against the fake
/// (Tests/fakes/nomad). Placement per task is checked against the selected scheduler's params
/// schema when the pipeline is applied.
@Suite(.serialized)
struct ClusterSchedulerTests {
    /// A three-task DAG whose first task prints, pauses (8 s: on a loaded machine a Swarm job's log
    /// can trail by seconds, and CI once missed a 3 s window) and prints again: its log must show the
    /// first line while it still runs.
    static func dag(_ id: String, placement: String) -> String {
        """
        id: \(id)
        tasks:
          - id: build
            image: busybox:latest
            command: ["sh", "-c", "echo first; sleep 8; echo second"]
            \(placement)
          - id: test
            image: busybox:latest
            command: ["sh", "-c", "echo testing $GOFER_TASK"]
            depends_on: [build]
            \(placement)
          - id: lint
            image: busybox:latest
            command: ["sh", "-c", "echo linting >&2"]
            depends_on: [build]
            \(placement)
        """
    }

    func apply(_ h: ServerHarness, _ yaml: String) async throws -> (status: Int, body: String) {
        let result = Mutex<(Int, String)>((0, ""))
        try await h.withRouter { client in
            let body: JSONValue = ["config": .string(yaml)]
            let r = try await client.execute(
                uri: "/api/namespaces/default/pipelines", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(bytes: body.serialized()))
            result.withLock { $0 = (Int(r.status.code), String(buffer: r.body)) }
        }
        return result.withLock { $0 }
    }

    /// Runs the DAG; while `build` runs its log already shows its first line.
    func runWithLiveLogs(_ h: ServerHarness, _ pipeline: String) async throws -> (Run, [TaskExecution]) {
        let run = try await h.server.engine.startRun(namespace: "default", pipeline: pipeline, initiator: .system)
        var sawLive = false
        for _ in 0..<600 {
            let tasks = try await h.server.store.tasks(namespace: "default", pipeline: pipeline, run: run.id)
            let build = tasks.first { $0.task == "build" }
            if build?.state == .running && h.log(pipeline, run: run.id, task: "build") == "first\n" {
                sawLive = true
                break
            }
            if build?.state.isTerminal == true { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(sawLive, "the first line of a running task never showed in its log")
        let done = try await h.server.engine.waitForRun(namespace: "default", pipeline: pipeline, run: run.id)
        return (done, try await h.server.store.tasks(namespace: "default", pipeline: pipeline, run: run.id))
    }

    func expectDAG(_ h: ServerHarness, _ pipeline: String, _ run: Run, _ tasks: [TaskExecution]) {
        #expect(run.state == .succeeded, "\(run) \(tasks)")
        #expect(tasks.map(\.state) == [.succeeded, .succeeded, .succeeded], "\(tasks)")
        #expect(h.log(pipeline, run: run.id, task: "build") == "first\nsecond\n")
        #expect(h.log(pipeline, run: run.id, task: "test") == "testing test\n")
        #expect(h.log(pipeline, run: run.id, task: "lint") == "linting\n")
        for t in tasks {
            #expect(t.startedAt != nil && t.endedAt != nil && (t.endedAt ?? .distantPast) >= (t.startedAt ?? .distantFuture), "\(t)")
        }
    }

    @Test func aSchedulerWithoutPlacementRefusesIt() async throws {
        let h = try await ServerHarness(scheduler: "process")
        return try await stopping({ await h.stop() }) {
            let (status, body) = try await apply(h, Self.dag("placed", placement: "placement: {constraints: [\"node.role==worker\"]}"))
            #expect(status == 422, "\(body)")
            #expect(body.contains("/tasks/0/placement") && body.contains("the scheduler \\\"process\\\" takes no placement"), "\(body)")
            #expect(body.contains("/tasks/2/placement"), "every placed task is named: \(body)")
        }
    }

    @Test func aPipelineRunsItsDAGOnSwarm() async throws {
        guard try await SwarmAvailability.check() else { return }
        let h = try await ServerHarness(scheduler: "swarm") { $0.placementTimeout = .seconds(60) }
        return try await stopping({ await h.stop() }) {
            // Placement the Swarm scheduler cannot read is refused at apply, with its path and line.
            var (status, body) = try await apply(h, Self.dag("bad", placement: "placement: {constraints: [\"role is manager\"], zone: b}"))
            #expect(status == 422, "\(body)")
            #expect(body.contains("/tasks/0/placement/constraints/0") && body.contains("/tasks/0/placement/zone"), "\(body)")
            #expect(body.contains("\"line\":6") || body.contains("test.yaml:6") || body.contains("pipeline.yaml:6"), "\(body)")
            (status, body) = try await apply(h, Self.dag("onswarm", placement: "placement: {constraints: [\"node.role==manager\"]}"))
            #expect(status == 201, "\(body)")
            let (run, tasks) = try await runWithLiveLogs(h, "onswarm")
            expectDAG(h, "onswarm", run, tasks)
            // Each task ran as a Swarm job; its service is removed once the task is done.
            let left = try await Self.swarmServicesLeft(pipeline: "onswarm")
            #expect(left == 0, "services left: \(left)")
            #expect(tasks.allSatisfy { $0.handle?.isEmpty == false })
        }
    }

    @Test func aPipelineRunsItsDAGOnNomad() async throws {
        let nomad = try await FakeNomad.start(["--node-meta", "rack=r1"])
        return try await stopping({ await nomad.stop() }) {
            let h = try await ServerHarness(scheduler: "nomad") {
                $0.nomadAddress = nomad.address
                $0.nomadDatacenters = ["dc1"]
            }
            try await stopping({ await h.stop() }) {
                var (status, body) = try await apply(
                    h, Self.dag("bad", placement: "placement: {constraints: [{attribute: \"${meta.rack}\", operator: \"~\"}]}"))
                #expect(status == 422, "\(body)")
                #expect(body.contains("/tasks/0/placement/constraints/0/operator"), "\(body)")
                (status, body) = try await apply(
                    h, Self.dag("onnomad", placement: "placement: {constraints: [{attribute: \"${meta.rack}\", operator: \"=\", value: r1}]}"))
                #expect(status == 201, "\(body)")
                let (run, tasks) = try await runWithLiveLogs(h, "onnomad")
                expectDAG(h, "onnomad", run, tasks)
                // The jobs carried the run's labels and the task's constraint, and are purged afterwards.
                let registers = try await nomad.requests().filter { $0["method"] == "POST" && $0["path"] == "/v1/jobs" }
                #expect(registers.count == 3)
                let job = try JSONParser().parse(registers[0]["body"]?.stringValue ?? "")["Job"]
                #expect(job?["Meta"]?["gofer.pipeline"] == "onnomad" && job?["Datacenters"] == ["dc1"], "\(job ?? .null)")
                #expect(job?["Constraints"]?.arrayValue?.first?["LTarget"] == "${meta.rack}", "\(job ?? .null)")
                var purged = false
                for _ in 0..<50 {
                    let r = try await SimpleHTTPClient(endpoint: .tcp(host: "127.0.0.1", port: nomad.port)).send("GET", path: "/v1/jobs?prefix=gofer-")
                    if (try JSONParser().parse(r.body)).arrayValue?.isEmpty == true {
                        purged = true
                        break
                    }
                    try await Task.sleep(for: .milliseconds(200))
                }
                #expect(purged, "Gofer's Nomad jobs were not purged after the run")
            }
        }
    }

    /// The Swarm services of `pipeline` still there after up to 30 s (removal is asynchronous, after the outcome).
    static func swarmServicesLeft(pipeline: String) async throws -> Int {
        let filter = "{\"label\":[\"gofer.pipeline=\(pipeline)\"]}".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        let docker = SimpleHTTPClient(endpoint: .unix(path: "/var/run/docker.sock"))
        var left: [JSONValue] = []
        for _ in 0..<150 {
            left = try JSONParser().parse(try await docker.send("GET", path: "/v1.41/services?filters=\(filter)").body).arrayValue ?? []
            if left.isEmpty { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        return left.count
    }

    /// A task waiting for a node is `starting` with the scheduler's reason — not `running` with a
    /// clock that ticks while nothing runs — until it runs or, here, until the placement wait ends.
    static func waitingForANode(_ h: ServerHarness, _ pipeline: String, saying: String) async throws -> TaskExecution {
        var task: TaskExecution?
        for _ in 0..<300 where task?.reason?.kind != .waitingForPlacement || task?.reason?.message.contains(saying) != true {
            try await Task.sleep(for: .milliseconds(100))
            let run = try await h.server.store.runs(namespace: "default", pipeline: pipeline).items.first
            if let run { task = try await h.server.store.tasks(namespace: "default", pipeline: pipeline, run: run.id).first }
        }
        return try #require(task, "no task of \(pipeline)")
    }

    @Test func aTaskNoNodeCanTakeFailsTheRunWithTheSchedulersReason() async throws {
        let nomad = try await FakeNomad.start()
        return try await stopping({ await nomad.stop() }) {
            let h = try await ServerHarness(scheduler: "nomad") {
                $0.nomadAddress = nomad.address
                $0.placementTimeout = .seconds(6)
            }
            try await stopping({ await h.stop() }) {
                let (status, body) = try await apply(
                    h, "id: nowhere\ntasks:\n  - {id: a, image: busybox:latest, command: [\"true\"], placement: {datacenters: [dc9]}}\n")
                #expect(status == 201, "\(body)")
                let started = try await h.server.engine.startRun(namespace: "default", pipeline: "nowhere", initiator: .system)
                let waiting = try await Self.waitingForANode(h, "nowhere", saying: "dc9")
                #expect(waiting.state == .starting && waiting.startedAt == nil && waiting.handle != nil, "\(waiting)")
                #expect(waiting.reason?.message.contains("waiting for a Nomad node") == true && waiting.reason?.message.contains("dc9") == true, "\(waiting)")
                let run = try await h.server.engine.waitForRun(namespace: "default", pipeline: "nowhere", run: started.id)
                let tasks = try await h.server.store.tasks(namespace: "default", pipeline: "nowhere", run: run.id)
                #expect(run.state == .failed)
                #expect(tasks[0].reason?.kind == .schedulerError, "\(tasks[0])")
                #expect(tasks[0].reason?.message.contains("could not place the task") == true, "\(tasks[0])")
                #expect(tasks[0].reason?.message.contains("dc9") == true, "\(tasks[0])")
            }
        }
    }

    @Test func aTaskWaitingForASwarmNodeIsStartingWithSwarmsReasonUntilCancelled() async throws {
        guard try await SwarmAvailability.check() else { return }
        let h = try await ServerHarness(scheduler: "swarm") { $0.placementTimeout = .seconds(300) }
        return try await stopping({ await h.stop() }) {
            let (status, body) = try await apply(
                h, "id: nowhere\ntasks:\n  - {id: a, image: busybox:latest, command: [\"true\"], placement: {constraints: [\"node.labels.gofer-nowhere==yes\"]}}\n")
            #expect(status == 201, "\(body)")
            let run = try await h.server.engine.startRun(namespace: "default", pipeline: "nowhere", initiator: .system)
            let waiting = try await Self.waitingForANode(h, "nowhere", saying: "no suitable node")
            #expect(waiting.state == .starting && waiting.startedAt == nil && waiting.handle != nil, "\(waiting)")
            #expect(waiting.reason?.message.contains("waiting for a Swarm node: no suitable node") == true, "\(waiting)")
            let live = try await h.server.store.run(namespace: "default", pipeline: "nowhere", id: run.id)
            #expect(live.state == .running, "the run is under way: \(live)")
            try await h.server.engine.cancelRun(namespace: "default", pipeline: "nowhere", run: run.id, by: .system, why: "no node today")
            let done = try await h.server.engine.waitForRun(namespace: "default", pipeline: "nowhere", run: run.id)
            let task = try #require(try await h.server.store.tasks(namespace: "default", pipeline: "nowhere", run: run.id).first)
            #expect(done.state == .cancelled && task.state == .cancelled && task.startedAt == nil, "\(done) \(task)")
            // Its Swarm service is removed.
            let left = try await Self.swarmServicesLeft(pipeline: "nowhere")
            #expect(left == 0, "services left: \(left)")
        }
    }

    @Test func aRunningTaskOnSwarmSurvivesAServerRestart() async throws {
        guard try await SwarmAvailability.check() else { return }
        try await RecoveryTests.aRunningTaskSurvivesAKill9(["GOFER_SCHEDULER": "swarm", "GOFER_SWARM_CONSTRAINTS": "node.role==manager"], pipeline: "survive-swarm")
    }

    @Test func aRunningTaskOnNomadSurvivesAServerRestart() async throws {
        let nomad = try await FakeNomad.start()
        return try await stopping({ await nomad.stop() }) {
            try await RecoveryTests.aRunningTaskSurvivesAKill9(["GOFER_SCHEDULER": "nomad", "GOFER_NOMAD_ADDRESS": nomad.address], pipeline: "survive-nomad")
        }
    }
}
