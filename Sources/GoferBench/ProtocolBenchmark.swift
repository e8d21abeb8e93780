import ExtensionClient
import ExtensionSDK
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

func micros(_ d: Duration) -> Double {
    Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12
}

func selfPath() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}

func sibling(_ name: String) -> String {
    URL(fileURLWithPath: selfPath()).deletingLastPathComponent().appendingPathComponent(name).path
}

/// Raw pipe ping-pong: 1 byte there and back through a child process, no framing, no JSON.
func rawPipeRoundTrips(_ n: Int) throws -> [Double] {
    let child = try ChildProcess.spawn(selfPath(), arguments: ["raw-echo"])
    defer { child.signalGroup(SIGKILL) }
    let writer = child.stdin
    var samples: [Double] = []
    samples.reserveCapacity(n)
    var byte: UInt8 = 0
    for i in 0..<(n + 200) {
        let t = ContinuousClock.now
        writer.write([UInt8(i & 0x7F)])
        guard read(child.stdoutFD, &byte, 1) == 1 else { break }
        if i >= 200 { samples.append(micros(ContinuousClock.now - t)) }
    }
    return samples.sorted()
}

func protocolRoundTrips(_ connection: ExtensionConnection, method: String, _ n: Int) async throws -> [Double] {
    var samples: [Double] = []
    samples.reserveCapacity(n)
    for i in 0..<(n + 200) {
        let t = ContinuousClock.now
        _ = try await connection.request(method)
        if i >= 200 { samples.append(micros(ContinuousClock.now - t)) }
    }
    return samples.sorted()
}

func pipelined(_ connection: ExtensionConnection, total: Int, inFlight: Int) async throws -> Double {
    let start = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for w in 0..<inFlight {
            group.addTask {
                var i = w
                while i < total {
                    _ = try await connection.request("$/ping")
                    i += inFlight
                }
            }
        }
        try await group.waitForAll()
    }
    return Double(total) / (micros(ContinuousClock.now - start) / 1e6)
}

func streaming(_ connection: ExtensionConnection, megabytes: Int) async throws -> Double {
    let chunk = String(repeating: "x", count: 64 * 1024 - 1)  // + "\n" = 64 KiB per write
    let start = ContinuousClock.now
    let (chunks, result) = connection.requestStream(
        "task/run", ["params": ["message": .string(chunk), "repeat": .int(Int64(megabytes * 16))]], windowBytes: 1 << 20)
    var total = 0
    for await c in chunks { total += c.bytes.count }
    _ = try await result.value
    let seconds = micros(ContinuousClock.now - start) / 1e6
    return Double(total) / 1_048_576 / seconds
}

func protocolBenchmark(iterations: Int) async throws {
    print("gofer-bench protocol: \(iterations) round trips each, after 200 warm-up; 2 cores")
    let raw = try rawPipeRoundTrips(iterations)
    let p50raw = percentile(raw, 0.5)
    print(String(format: "  raw pipe ping-pong (1 byte)         p50 %7.1f µs   p99 %7.1f µs", p50raw, percentile(raw, 0.99)))

    let connection = try ExtensionConnection.spawn(ExtensionLaunch(executable: sibling("gofer-task-echo")))
    defer { connection.kill() }
    _ = try await connection.initialize(InitializeOptions(kind: .task))
    let ping = try await protocolRoundTrips(connection, method: "$/ping", iterations)
    print(
        String(
            format: "  protocol $/ping round trip          p50 %7.1f µs   p99 %7.1f µs   ratio p50 %.2f× raw (target ≤ 2×)",
            percentile(ping, 0.5),
            percentile(ping, 0.99), percentile(ping, 0.5) / p50raw))
    let health = try await protocolRoundTrips(connection, method: "health", iterations)
    print(
        String(
            format: "  protocol health (handler) round trip p50 %7.1f µs   p99 %7.1f µs   ratio p50 %.2f× raw", percentile(health, 0.5),
            percentile(health, 0.99), percentile(health, 0.5) / p50raw))
    let rate = try await pipelined(connection, total: iterations * 5, inFlight: 32)
    print(String(format: "  pipelined $/ping, 32 in flight      %9.0f requests/s", rate))
    let mib = try await streaming(connection, megabytes: 256)
    print(String(format: "  streaming 64 KiB chunks, 1 MiB window %7.0f MiB/s (target ≥ 300 MiB/s)", mib))
}
