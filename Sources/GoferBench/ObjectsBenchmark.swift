import ExtensionSDK
import Foundation
import GoferHost
import TestSupport

/// A `megabytes` MB object uploaded with `gofer object pipeline put` from a pipe and downloaded
/// with `gofer object pipeline get` into `sha256sum`, against moving the same bytes through a
/// file with `cat` in the same run. The CLI runs as its own process, so this process's RSS is the
/// server's: sampled every 100 ms during the round trip, against its RSS when idle just before.
struct ObjectsBenchmark {
    let megabytes: Int
    let rounds: Int

    var bytes: Int64 { Int64(megabytes) << 20 }

    func run() async throws {
        print("gofer-bench objects: a \(megabytes) MiB object up and down through the CLI, \(rounds) rounds after one warm-up")
        let bench = try await BenchServer.start {
            $0.listen = "127.0.0.1:0"
            $0.objectLimits.maxObjectBytes = bytes + 1
            $0.objectLimits.pipelineMaxBytes = bytes * 2
        }
        return try await stopping({ await bench.stop() }) {
            let port = try await bench.server.startHTTP()
            try await bench.apply("id: bench-objects\ntasks:\n  - { id: t, image: none, command: [\"true\"] }\n")
            let token = try String(contentsOfFile: AdminBootstrap.tokenFile(dataDir: bench.dir), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let env = "GOFER_HOST=127.0.0.1:\(port) GOFER_TOKEN=\(token) GOFER_CLI_CONFIG=\(bench.dir)/cli.json"
            let cli = sibling("gofer")
            let source = "head -c \(bytes) /dev/zero"
            let up = "\(source) | \(env) \(cli) object pipeline put bench-objects big"
            let down = "\(env) \(cli) object pipeline get bench-objects big | sha256sum > /dev/null"
            let file = NSTemporaryDirectory() + "gofer-bench-object.bin"
            let baseline = "\(source) > \(file) && cat \(file) | sha256sum > /dev/null"
            defer { try? FileManager.default.removeItem(atPath: file) }

            var gofer: [Double] = []
            var base: [Double] = []
            var idle: [Double] = []
            var peaks: [Double] = []
            for round in 0...rounds {
                let rssIdle = ProcessMeter.rssMiB()
                let (seconds, peak) = try await ProcessMeter.peakRSS { try await timeShell(up) + (try await timeShell(down)) }
                let b = try await timeShell(baseline)
                guard round > 0 else { continue }
                gofer.append(seconds)
                base.append(b)
                idle.append(rssIdle)
                peaks.append(peak)
            }
            let mb = Double(megabytes)
            print(String(format: "  cat through a file (write + read)     %@ s", Stats.spread(base) as NSString))
            print(String(format: "  gofer object put + get (CLI, HTTP)    %@ s", Stats.spread(gofer) as NSString))
            print(String(format: "  throughput (bytes up + down per second): gofer %.0f MiB/s, baseline %.0f MiB/s; ratio of times gofer / baseline %.2f×",
                2 * mb / Stats.median(gofer), 2 * mb / Stats.median(base), Stats.median(gofer) / Stats.median(base)))
            print(String(format: "  server RSS idle %@ MiB, peak during the round trip %@ MiB",
                Stats.spread(idle, "%.0f") as NSString, Stats.spread(peaks, "%.0f") as NSString))
            let over = zip(peaks, idle).map { $0 - $1 }
            print(String(format: "  peak over idle: %@ MiB (goal < 100 MiB)", Stats.spread(over, "%.0f") as NSString))
        }
    }
}
