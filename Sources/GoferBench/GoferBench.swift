import ArgumentParser
import ExtensionSDK
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// gofer-bench: benchmarks that print figures, each against a baseline measured in the same run
/// (build with `-c release`; debug builds are much slower).
@main
struct GoferBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gofer-bench",
        abstract: "Gofer's benchmarks: each prints its figures against a baseline measured in the same run (use a release build).",
        subcommands: [
            DAG.self, API.self, Tasks.self, Logs.self, ProtocolBench.self, Webhook.self, Auth.self, Objects.self, Memory.self, RawEcho.self,
        ])

    /// Runs a benchmark, printing a failure as one line on stderr (exit 1).
    static func running(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch {
            FileHandle.standardError.write(Data("gofer-bench: \(ErrorText.describe(error))\n".utf8))
            throw ExitCode(1)
        }
    }

    struct DAG: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dag",
            abstract: "10 busybox tasks in waves 4-4-2 through Gofer, against a shell script of docker run (and the Swarm CLI with swarm).")
        @Option(help: "Measured rounds, alternating, after one warm-up.") var rounds = 5
        @Option(help: "Schedulers to measure, comma-separated (docker, swarm).") var schedulers = "docker"
        func validate() throws {
            try OptionBounds.check([("rounds", rounds, 1...1000)])
        }
        func run() async throws {
            try await GoferBench.running {
                try await DAGBenchmark(rounds: rounds, schedulers: schedulers.split(separator: ",").map(String.init)).run()
            }
        }
    }

    struct API: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "api", abstract: "The run list and one run, read with keep-alive connections, against a server sending the same bytes.")
        @Option(help: "Keep-alive connections.") var connections = 32
        @Option(help: "Seconds per measurement.") var seconds = 5
        @Option(help: "Measured rounds, alternating with the floor.") var rounds = 3
        @Option(help: "Runs stored before measuring.") var runs = 300
        @Option(help: "The server's database on PostgreSQL (postgres://…, an empty database) instead of the embedded file.") var databaseURL: String?
        func validate() throws {
            try OptionBounds.check([
                ("connections", connections, 1...1024), ("seconds", seconds, 1...3600), ("rounds", rounds, 1...1000),
                ("runs", runs, 1...1_000_000),
            ])
            try BenchServer.checkDatabaseURL(databaseURL)
        }
        func run() async throws {
            try await GoferBench.running {
                try await APIBenchmark(connections: connections, seconds: Double(seconds), rounds: rounds, runs: runs, databaseURL: databaseURL).run()
            }
        }
    }

    struct Tasks: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tasks", abstract: "One run of many /bin/true tasks on the process scheduler, against a shell running them in sequence.")
        @Option(help: "Tasks in the run.") var tasks = 500
        @Option(help: "max_concurrent_tasks of the server.") var concurrency = 256
        @Option(help: "Measured rounds after one warm-up.") var rounds = 3
        @Option(help: "The server's database on PostgreSQL (postgres://…, an empty database) instead of the embedded file.") var databaseURL: String?
        func validate() throws {
            try OptionBounds.check([("tasks", tasks, 1...100_000), ("concurrency", concurrency, 1...4096), ("rounds", rounds, 1...1000)])
            try BenchServer.checkDatabaseURL(databaseURL)
        }
        func run() async throws {
            try await GoferBench.running {
                try await TasksBenchmark(count: tasks, concurrency: concurrency, rounds: rounds, databaseURL: databaseURL).run()
            }
        }
    }

    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "logs", abstract: "One task printing a large log, end to end, against docker run and the command piped to a file.")
        @Option(help: "Megabytes of output.") var megabytes = 200
        @Option(help: "Measured rounds after one warm-up.") var rounds = 3
        @Flag(help: "Only the process scheduler (no Docker).") var noDocker = false
        func validate() throws {
            try OptionBounds.check([("megabytes", megabytes, 1...100_000), ("rounds", rounds, 1...1000)])
        }
        func run() async throws {
            try await GoferBench.running { try await LogsBenchmark(megabytes: megabytes, rounds: rounds, docker: !noDocker).run() }
        }
    }

    struct ProtocolBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "protocol", abstract: "Extension protocol round trips, pipelining and streaming, against a raw pipe ping-pong.")
        @Option(help: "Round trips per measurement, after 200 warm-up.") var iterations = 5000
        func validate() throws {
            try OptionBounds.check([("iterations", iterations, 1...100_000_000)])
        }
        func run() async throws {
            try await GoferBench.running { try await protocolBenchmark(iterations: iterations) }
        }
    }

    struct Webhook: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "webhook", abstract: "Signed GitHub pushes through the webhook route, against GET /api/health and GitHub's 10 s budget.")
        @Option(help: "Deliveries measured, after 20 warm-up.") var deliveries = 500
        func validate() throws {
            try OptionBounds.check([("deliveries", deliveries, 1...1_000_000)])
        }
        func run() async throws {
            try await GoferBench.running { try await WebhookBenchmark(deliveries: deliveries).run() }
        }
    }

    struct Auth: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "auth", abstract: "What authenticating a request costs: GET /api/whoami against the open GET /api/health, and the authenticator alone.")
        @Option(help: "Requests per measurement (at least 10).") var requests = 2000
        func validate() throws {
            try OptionBounds.check([("requests", requests, 10...100_000_000)])
        }
        func run() async throws {
            try await GoferBench.running { try await AuthBenchmark(requests: requests).run() }
        }
    }

    struct Objects: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "objects", abstract: "A large object up and down through the CLI, against moving the same bytes through a file with cat; with the server's RSS.")
        @Option(help: "Size of the object in MiB.") var megabytes = 2048
        @Option(help: "Measured rounds after one warm-up.") var rounds = 3
        func validate() throws {
            try OptionBounds.check([("megabytes", megabytes, 1...1_048_576), ("rounds", rounds, 1...1000)])
        }
        func run() async throws {
            try await GoferBench.running { try await ObjectsBenchmark(megabytes: megabytes, rounds: rounds).run() }
        }
    }

    struct Memory: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "memory", abstract: "The server's RSS, idle, after the first runs and every step more: what is kept per run.")
        @Option(help: "Runs in all.") var runs = 20_000
        @Option(help: "Runs before the first reading.") var baseline = 1000
        @Option(help: "Runs between readings.") var step = 5000
        @Option(help: "Runs at a time.") var concurrency = 16
        func validate() throws {
            // Checkpoints add --step to a count up to --runs: bounded, they never overflow.
            try OptionBounds.check([
                ("runs", runs, 1...10_000_000), ("baseline", baseline, 1...max(1, runs)), ("step", step, 1...max(1, runs)), ("concurrency", concurrency, 1...1024),
            ])
        }
        func run() async throws {
            try await GoferBench.running {
                try await MemoryBenchmark(runs: runs, baseline: baseline, step: step, concurrency: concurrency).run()
            }
        }
    }

    /// The raw pipe baseline's child: echoes each byte back, blocking reads and writes.
    struct RawEcho: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "raw-echo", shouldDisplay: false)
        func run() {
            var byte: UInt8 = 0
            while read(0, &byte, 1) == 1 { _ = write(1, &byte, 1) }
        }
    }
}

/// Every numeric option of a benchmark has a range, checked before anything runs: beyond it a
/// count would overflow arithmetic, a duration a conversion, or the machine's threads or disk.
enum OptionBounds {
    static func check(_ options: [(name: String, value: Int, range: ClosedRange<Int>)]) throws {
        for o in options where !o.range.contains(o.value) {
            throw ValidationError("--\(o.name) must be between \(o.range.lowerBound) and \(o.range.upperBound) (got \(o.value))")
        }
    }
}
