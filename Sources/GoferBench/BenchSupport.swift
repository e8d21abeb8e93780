import ArgumentParser
import ExtensionSDK
import Foundation
import GoferHost

#if canImport(Glibc)
    import Glibc
#endif

/// Medians, spreads and the other small things every benchmark prints.
enum Stats {
    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.isEmpty ? 0 : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// "median 1.23 (min 1.10, max 1.40)"
    static func spread(_ xs: [Double], _ format: String = "%.2f") -> String {
        let s = xs.sorted()
        return String(format: "median \(format) (min \(format), max \(format))", median(s), s.first ?? 0, s.last ?? 0)
    }

    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
}

/// This process's CPU time (user + system) and memory, from the kernel.
enum ProcessMeter {
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
            + Double(usage.ru_stime.tv_usec) / 1e6
    }

    /// CPU seconds (user and system) another process of ours has used so far, from
    /// `/proc/<pid>/stat` (its children not included); nil when it cannot be read.
    static func cpuSeconds(pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = text.lastIndex(of: ")")
        else { return nil }
        // After "pid (comm)": state is field 3, utime field 14, stime field 15.
        let fields = text[text.index(after: end)...].split(separator: " ")
        guard fields.count > 13, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return ticks > 0 ? (utime + stime) / ticks : nil
    }

    /// Resident set size now, in MiB (`VmRSS`).
    static func rssMiB() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let kb = line.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0
            return kb / 1024
        }
        return 0
    }
}

extension ProcessMeter {
    /// Runs `body` while sampling this process's RSS every 100 ms; returns its result and the peak (MiB).
    static func peakRSS<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> (T, Double) {
        try await withThrowingTaskGroup(of: (T?, Double).self) { group in
            group.addTask { (try await body(), 0) }
            group.addTask {
                var peak = 0.0
                while !Task.isCancelled {
                    peak = max(peak, ProcessMeter.rssMiB())
                    try? await Task.sleep(for: .milliseconds(100))
                }
                return (nil, peak)
            }
            var value: T?
            if let first = try await group.next() { value = first.0 }
            group.cancelAll()
            var peak = 0.0
            for try await r in group { peak = max(peak, r.1) }
            guard let value else { throw ServerError("the measured work ended without a result") }
            return (value, peak)
        }
    }
}

/// A Gofer server in this process on a fresh data directory, removed afterwards.
struct BenchServer {
    let server: GoferServer
    let dir: String

    static func start(_ adjust: (inout ServerSettings) -> Void = { _ in }) async throws -> BenchServer {
        let dir = NSTemporaryDirectory() + "gofer-bench-\(UUID().uuidString.prefix(8))"
        var settings = ServerSettings()
        settings.dataDir = dir
        settings.logLevel = "warning"
        adjust(&settings)
        return BenchServer(server: try await GoferServer(settings: settings), dir: dir)
    }

    /// `--database-url`, checked as the server checks `database_url` (exit 64 naming what is wrong).
    static func checkDatabaseURL(_ url: String?) throws {
        guard let url else { return }
        var settings = ServerSettings()
        do {
            try settings.set("database_url", url, source: "--database-url")
        } catch {
            throw ValidationError(ErrorText.describe(error))
        }
    }

    /// Where the server keeps its database, for a benchmark's first line.
    var database: String {
        server.settings.databaseURL == nil ? "embedded SQLite" : "PostgreSQL at \(server.settings.databaseLocation)"
    }

    func apply(_ yaml: String, file: String = "bench.yaml") async throws {
        let config = try server.api.loader.load(yaml, file: file)
        _ = try await server.store.apply(namespace: "default", config: config)
    }

    /// Starts a run and waits for it; returns it.
    func run(_ pipeline: String) async throws -> Run {
        let run = try await server.engine.startRun(namespace: "default", pipeline: pipeline, initiator: .system)
        return try await server.engine.waitForRun(namespace: "default", pipeline: pipeline, run: run.id)
    }

    func stop() async {
        await server.stop()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

/// Runs a shell command and returns its wall time; throws when it fails.
func timeShell(_ script: String) async throws -> Double {
    let start = ContinuousClock.now
    let result = try await ChildProcess.run("/bin/sh", arguments: ["-c", script])
    guard result.status == .exited(0) else {
        throw ServerError("baseline `\(script)` failed: \(result.status) \(String(decoding: result.stderr.prefix(300), as: UTF8.self))")
    }
    return Stats.seconds(ContinuousClock.now - start)
}
