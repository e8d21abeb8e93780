import ExtensionSDK
import Foundation
import TestSupport
import Testing

/// `gofer-bench` is a command line like `gofer`: every benchmark explains itself with `--help`
/// (instead of starting to measure), and a bad option is refused naming it, before anything runs.
struct BenchCLITests {
    static func bench(_ arguments: [String]) async throws -> (code: Int32, output: String) {
        let done = try await ChildProcess.run(BuiltProducts.path("gofer-bench"), arguments: arguments, timeout: .seconds(60))
        let code: Int32 = if case .exited(let c) = done.status { c } else { -1 }
        return (code, String(decoding: done.stdout + done.stderr, as: UTF8.self))
    }

    @Test(arguments: ["dag", "api", "tasks", "logs", "protocol", "webhook", "auth", "objects", "memory"])
    func everyBenchmarkPrintsItsHelpInsteadOfRunning(_ name: String) async throws {
        let (code, output) = try await Self.bench([name, "--help"])
        #expect(code == 0, "gofer-bench \(name) --help exited \(code): \(output.prefix(300))")
        #expect(output.contains("USAGE: gofer-bench \(name)"), "gofer-bench \(name) --help: \(output.prefix(300))")
        #expect(!output.contains("gofer-bench \(name):"), "gofer-bench \(name) --help started the benchmark: \(output.prefix(300))")
    }

    @Test func aBadOptionIsRefusedNamingItAndTheListNamesEveryBenchmark() async throws {
        let (code, output) = try await Self.bench(["api", "--rounds", "0"])
        #expect(code == 64, "exit \(code): \(output.prefix(300))")
        #expect(output.contains("--rounds must be between 1 and 1000 (got 0)"), "\(output)")
        // Too large is refused as clearly (it overflowed a duration's conversion, or a count's arithmetic).
        for arguments in [["api", "--seconds", "9223372036854775807"], ["logs", "--megabytes", "9223372036854775807"], ["memory", "--runs", "0"]] {
            let (code, output) = try await Self.bench(arguments)
            #expect(code == 64 && output.contains("--\(arguments[1].dropFirst(2)) must be between"), "\(arguments): exit \(code): \(output.prefix(300))")
        }
        // A database URL is checked as the server checks database_url, its password never echoed.
        let (urlCode, urlOutput) = try await Self.bench(["tasks", "--database-url", "postgres://gofer:hunter2@db.example.com/ci?sslmode=often"])
        #expect(urlCode == 64 && urlOutput.contains("--database-url") && urlOutput.contains("sslmode \"often\""), "exit \(urlCode): \(urlOutput)")
        #expect(!urlOutput.contains("hunter2"), "\(urlOutput)")
        let (listCode, list) = try await Self.bench(["--help"])
        #expect(listCode == 0)
        for name in ["dag", "api", "tasks", "logs", "protocol", "webhook", "auth", "objects", "memory"] {
            #expect(list.contains(name), "gofer-bench --help does not list \(name): \(list)")
        }
        #expect(!list.contains("raw-echo"), "the raw pipe baseline's child is not a benchmark")
    }

    /// What a server holds per run, in its own process (`gofer-bench memory`): its heap in use over
    /// 3,000 one-task runs after the first 1,000 (not RSS, which moves with the machine's load).
    /// Every timeout that did not fire used to hold its task for hours (several KiB per run,
    /// linear); now what is left is the database's caches filling up.
    @Test func theServerKeepsAlmostNothingPerRun() async throws {
        let done = try await ChildProcess.run(
            BuiltProducts.path("gofer-bench"), arguments: ["memory", "--runs", "4000", "--baseline", "1000", "--step", "3000", "--concurrency", "4"],
            timeout: .seconds(600))
        let output = String(decoding: done.stdout + done.stderr, as: UTF8.self)
        #expect(done.status == .exited(0), "\(output)")
        let perRun = output.split(separator: "\n").first { $0.contains("KiB per run held") }.flatMap { line -> Double? in
            guard let end = line.range(of: " KiB per run held") else { return nil }
            return Double(line[..<end.lowerBound].split(separator: " ").last ?? "")
        }
        #expect(perRun.map { $0 < 1.5 } == true, "the server holds too much per run: \(output)")
    }
}
