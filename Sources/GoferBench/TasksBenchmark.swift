import ExtensionSDK
import Foundation
import GoferHost
import TestSupport

/// Many tasks at once on the process scheduler: one run of `count` independent `/bin/true` tasks
/// at `max_concurrent_tasks: concurrency`, counting failures and the CPU time per task execution of
/// the server (this process) and of its scheduler extension (its own process; the tasks' processes
/// are counted in neither), against `count` × `/bin/true` from a shell in the same run.
struct TasksBenchmark {
    let count: Int
    let concurrency: Int
    let rounds: Int
    /// The server's database on PostgreSQL instead of the embedded file.
    var databaseURL: String?

    var pipeline: String {
        "id: bench-tasks\ntasks:\n"
            + (1...count).map { "  - { id: t\($0), image: none, command: [\"/bin/true\"] }" }.joined(separator: "\n") + "\n"
    }

    func run() async throws {
        let bench = try await BenchServer.start {
            $0.databaseURL = databaseURL
            $0.scheduler = "process"
            $0.maxConcurrentTasks = concurrency
        }
        return try await stopping({ await bench.stop() }) {
            try await bench.apply(pipeline)
            print("gofer-bench tasks: one run of \(count) independent /bin/true tasks, max_concurrent_tasks \(concurrency), process scheduler, \(rounds) rounds after one warm-up; database: \(bench.database)")
            var wall: [Double] = []
            var cpuPerTask: [Double] = []
            var extensionPerTask: [Double] = []
            var shell: [Double] = []
            var failures = 0
            _ = try await bench.run("bench-tasks")
            for _ in 0..<rounds {
                shell.append(try await timeShell("i=0; while [ $i -lt \(count) ]; do /bin/true; i=$((i+1)); done"))
                guard case .running(let pid) = await bench.server.supervisor.status, let ext0 = ProcessMeter.cpuSeconds(pid: pid) else {
                    throw ServerError("the scheduler extension is not running: its CPU time cannot be read")
                }
                let cpu0 = ProcessMeter.cpuSeconds()
                let start = ContinuousClock.now
                let run = try await bench.run("bench-tasks")
                wall.append(Stats.seconds(ContinuousClock.now - start))
                cpuPerTask.append((ProcessMeter.cpuSeconds() - cpu0) * 1000 / Double(count))
                guard case .running(pid) = await bench.server.supervisor.status, let ext1 = ProcessMeter.cpuSeconds(pid: pid) else {
                    throw ServerError("the scheduler extension restarted during the round: its CPU time is not comparable")
                }
                extensionPerTask.append((ext1 - ext0) * 1000 / Double(count))
                let tasks = try await bench.server.store.tasks(namespace: "default", pipeline: "bench-tasks", run: run.id)
                let failed = tasks.filter { $0.state != .succeeded }
                failures += failed.count
                if let f = failed.first {
                    print("  run \(run.id): \(failed.count) tasks did not succeed, e.g. \(f.task): \(f.state.rawValue) \(f.reason?.message ?? "")")
                }
            }
            print("  shell, \(count) × /bin/true in sequence        \(Stats.spread(shell)) s")
            print("  gofer, one run of \(count) tasks                \(Stats.spread(wall)) s")
            print("  failed task executions: \(failures) of \(count * rounds) (goal 0)")
            let total = zip(cpuPerTask, extensionPerTask).map { $0 + $1 }
            print("  server CPU per task execution:              \(Stats.spread(cpuPerTask)) ms")
            print("  scheduler extension CPU per task execution: \(Stats.spread(extensionPerTask)) ms")
            print("  together per task execution:                \(Stats.spread(total)) ms (goal ≤ 1 ms)")
            print(
                String(
                    format: "  wall per task: gofer %.2f ms, shell %.2f ms", Stats.median(wall) * 1000 / Double(count),
                    Stats.median(shell) * 1000 / Double(count)))
        }
    }
}
