import ExtensionSDK
import Foundation
import GoferHost
import TestSupport

/// A task that prints `megabytes` MB of 37-byte lines, end to end (run start → run finished with
/// its whole log stored), against the same command outside Gofer in the same run:
///
/// - process scheduler vs the command piped to a file;
/// - Docker scheduler with each `task_log_driver` vs `docker run --log-driver none` and vs
///   `docker run` with the same driver (what Docker itself pays to keep a log).
///
/// The server's RSS is sampled every 100 ms while Gofer runs; the peak is printed.
struct LogsBenchmark {
    let megabytes: Int
    let rounds: Int
    let docker: Bool

    var bytes: Int { megabytes * 1_000_000 }
    /// 36 characters and a newline per line, like a chatty build tool.
    var command: String { "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c \(bytes)" }

    func pipeline(_ id: String) -> String {
        """
        id: \(id)
        tasks:
          - id: talk
            image: busybox:latest
            command: ["/bin/sh", "-c", "\(command)"]

        """
    }

    func run() async throws {
        print("gofer-bench logs: one task printing \(megabytes) MB (37-byte lines), end to end, \(rounds) rounds after one warm-up")
        try await measure(scheduler: "process", baselines: [("the command piped to a file", "\(command) > \(NSTemporaryDirectory())gofer-bench-log.out")])
        try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "gofer-bench-log.out")
        if docker {
            // Each driver against the engine alone with no log (the goal's yardstick) and with the same driver.
            for driver in TaskLogDriver.allCases {
                var baselines = [("docker run --log-driver none", "docker run --rm --log-driver none busybox:latest /bin/sh -c '\(command)'")]
                if driver != .none {
                    baselines.append(
                        ("docker run --log-driver \(driver.rawValue)",
                            "docker run --rm --log-driver \(driver.rawValue) busybox:latest /bin/sh -c '\(command)' >/dev/null"))
                }
                try await measure(scheduler: "docker", logDriver: driver, baselines: baselines)
            }
        }
    }

    func measure(scheduler: String, logDriver: TaskLogDriver? = nil, baselines: [(String, String)]) async throws {
        let bench = try await BenchServer.start {
            $0.scheduler = scheduler
            $0.maxLogBytes = (megabytes + 16) << 20
            $0.taskLogMaxSize = "\(megabytes * 2)m"
            if let logDriver { $0.taskLogDriver = logDriver }
        }
        return try await stopping({ await bench.stop() }) {
            let id = "bench-logs-\(scheduler)"
            try await bench.apply(pipeline(id))
            var gofer: [Double] = []
            var peakRSS = 0.0
            var base: [[Double]] = Array(repeating: [], count: baselines.count)
            _ = try await once(bench, id, peak: &peakRSS)
            for b in baselines { _ = try await timeShell(b.1) }
            for _ in 0..<rounds {
                for (i, b) in baselines.enumerated() { base[i].append(try await timeShell(b.1)) }
                gofer.append(try await once(bench, id, peak: &peakRSS))
            }
            let isDefault = logDriver == ServerSettings().taskLogDriver ? " (the default)" : ""
            print("  \(scheduler) scheduler\(logDriver.map { ", task_log_driver \($0.rawValue)\(isDefault)" } ?? ""):")
            for (i, b) in baselines.enumerated() {
                print(String(format: "    %-36@ %@ s", b.0 as NSString, Stats.spread(base[i]) as NSString))
            }
            print(String(format: "    %-36@ %@ s", "gofer run, log stored" as NSString, Stats.spread(gofer) as NSString))
            for (i, b) in baselines.enumerated() {
                print(String(format: "    ratio gofer / %@: %.2f×", b.0 as NSString, Stats.median(gofer) / Stats.median(base[i])))
            }
            print(String(format: "    server RSS peak during the runs: %.0f MiB (goal ≤ 100 MiB)", peakRSS))
        }
    }

    func once(_ bench: BenchServer, _ id: String, peak: inout Double) async throws -> Double {
        let start = ContinuousClock.now
        let (run, runPeak) = try await ProcessMeter.peakRSS { try await bench.run(id) }
        let seconds = Stats.seconds(ContinuousClock.now - start)
        peak = max(peak, runPeak)
        guard run.state == .succeeded else {
            throw ServerError("the log run did not succeed: \(run.state.rawValue) \(run.reason?.message ?? "")")
        }
        let path = LogFiles(root: bench.dir + "/logs").path(namespace: "default", pipeline: id, run: run.id, task: "talk")
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
        guard size == bytes else { throw ServerError("the stored log of run \(run.id) has \(size) bytes, expected \(bytes) (\(path))") }
        return seconds
    }
}
