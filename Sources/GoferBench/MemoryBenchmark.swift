import ExtensionSDK
import ExtensionSDKShims
import Foundation
import GoferHost
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// What the server keeps per run: many one-task runs on the process scheduler, several at a time,
/// with the server's RSS and heap in use (this process is the server) read when the server is idle
/// after the first `baseline` runs and after every `step` more — the goal is a flat line, not a
/// slope. The heap in use is what the server holds; RSS adds what the allocator keeps of freed
/// memory (more threads busy, more arenas), so it moves with the machine's load.
struct MemoryBenchmark {
    let runs: Int
    let baseline: Int
    let step: Int
    let concurrency: Int

    static let pipeline = """
        id: bench-memory
        tasks:
          - { id: t, image: none, command: ["true"] }
        """

    func run() async throws {
        let bench = try await BenchServer.start {
            $0.scheduler = "process"
            $0.maxConcurrentTasks = 64
        }
        try await stopping({ await bench.stop() }) {
            try await bench.apply(Self.pipeline, file: "bench-memory.yaml")
            print("gofer-bench memory: \(runs) one-task runs on the process scheduler, \(concurrency) at a time; RSS when idle")
            var done = 0
            var points: [(runs: Int, rss: Double, heap: Double)] = []
            var checkpoints = [baseline]
            while let last = checkpoints.last, last + step <= runs { checkpoints.append(last + step) }
            for checkpoint in checkpoints {
                while done < checkpoint {
                    let batch = min(concurrency, checkpoint - done)
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for _ in 0..<batch {
                            group.addTask {
                                let run = try await bench.run("bench-memory")
                                guard run.state == .succeeded else {
                                    throw ServerError("run \(run.id) \(run.state.rawValue): \(run.reason?.message ?? "")")
                                }
                            }
                        }
                        try await group.waitForAll()
                    }
                    done += batch
                }
                try await Task.sleep(for: .seconds(1))  // idle: housekeeping after the last runs is over
                let rss = ProcessMeter.rssMiB()
                let heap = Double(gofer_heap_in_use()) / 1_048_576
                points.append((done, rss, heap))
                print(String(format: "  after %6d runs: RSS %6.1f MiB, heap in use %6.1f MiB", done, rss, heap))
            }
            guard let first = points.first, let last = points.last, last.runs > first.runs else { return }
            let runs = Double(last.runs - first.runs)
            print(
                String(
                    format: "  growth from %d to %d runs: RSS %+.1f MiB, %.2f KiB per run (goal: within 30 MiB of the RSS after 1k runs at 100k)",
                    first.runs, last.runs, last.rss - first.rss, (last.rss - first.rss) * 1024 / runs))
            print(
                String(
                    format: "  heap in use from %d to %d runs: %+.1f MiB, %.2f KiB per run held", first.runs, last.runs, last.heap - first.heap,
                    (last.heap - first.heap) * 1024 / runs))
        }
    }
}
