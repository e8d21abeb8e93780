import ExtensionSDK
import Foundation
import GoferHost
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Clients that hold connections without finishing requests (slowloris) cannot starve the server.
///
/// Runs on its own (`.ci/run` runs it after the suite, with GOFER_SLOW_CLIENTS=1): inside the full
/// suite — 300 tests sharing this process's event loops and threads — the server under test
/// stopped accepting the last of its connections for minutes, so the test measured the suite, not
/// the server. `GOFER_SLOW_CLIENTS=1 swift test --filter SlowClientTests`.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["GOFER_SLOW_CLIENTS"] == "1"))
struct SlowClientTests {
    /// A TCP connection to 127.0.0.1:`port` from `source` (another loopback address: the
    /// per-address cap counts it apart from the health checks).
    static func connect(port: Int, from source: String) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, source, &local.sin_addr)
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr)
        let ok = withUnsafePointer(to: &local) { l in
            l.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        && withUnsafePointer(to: &remote) { r in
            r.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        if !ok {
            close(fd)
            return nil
        }
        return fd
    }

    /// Whether the server has closed `fd` (a read returns end of file or an error) within `seconds`.
    static func closedByServer(_ fd: Int32, within seconds: Int32) -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, seconds * 1000) > 0 else { return false }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_DONTWAIT)) <= 0
    }

    /// The median and the longest of 20 health checks.
    static func healthLatencies(_ client: APIClient) async throws -> (median: Duration, max: Duration) {
        var latencies: [Duration] = []
        for _ in 0..<20 {
            let start = ContinuousClock.now
            _ = try await client.raw("GET", "/api/health")
            latencies.append(ContinuousClock.now - start)
        }
        latencies.sort()
        return (latencies[10], latencies[19])
    }

    /// Connections one address may hold; the test opens twice as many. All of them fit the
    /// listen backlog (256): past it the kernel leaves connections the client thinks are open
    /// waiting unaccepted, and on a loaded machine they sat there past any deadline (the test
    /// then measured the kernel, not the server). The 20,000-connection case is measured by hand
    /// (docs/security.md).
    static let cap = 60

    @Test(.timeLimit(.minutes(4))) func slowlorisConnectionsAreCappedAndClosedAndHealthKeepsAnswering() async throws {
        let h = try await ServerHarness {
            $0.connectionLimits.headerTimeout = .seconds(20)
            $0.connectionLimits.maxPerAddress = Self.cap
        }
        return try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            let baseline = try await Self.healthLatencies(try h.client(port: port))
            // Twice the cap of connections from one address that each send half a request head and stop.
            var held: [Int32] = []
            defer { for fd in held { close(fd) } }
            let partial = Array("GET /api/health HTTP/1.1\r\nHost: gofer\r\nX-Slow: ".utf8)
            for _ in 0..<(2 * Self.cap) {
                guard let fd = Self.connect(port: port, from: "127.0.0.2") else { continue }
                _ = partial.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                held.append(fd)
            }
            #expect(held.count == 2 * Self.cap)
            // The ones over the cap are closed at once; the cap's worth stay open until the head timeout.
            // (Read well before the 20 s head timeout could close any of the others; a loaded server
            // accepts the last of them late.)
            var closedEarly = 0
            for _ in 0..<200 {
                closedEarly = held.filter { Self.closedByServer($0, within: 0) }.count
                if closedEarly >= Self.cap { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(closedEarly >= Self.cap - Self.cap / 20 && closedEarly <= Self.cap + Self.cap / 20, "closed over the cap: \(closedEarly)")
            // Meanwhile health answers another client as fast as it did before (the baseline is
            // measured in the same run, so a machine busy with other tests slows both alike).
            let client = try h.client(port: port)
            let during = try await Self.healthLatencies(client)
            print(
                "slowloris: /api/health median \(during.median), max \(during.max) with \(2 * Self.cap - closedEarly) half-open connections held; before: median \(baseline.median)"
            )
            // What this rules out is health not answering at all (the server out of descriptors):
            // every check is answered, and the median stays within 5 s of the baseline (a loaded
            // machine measured 0.8 s; the failure it rules out never answers).
            #expect(during.median < baseline.median + .seconds(5), "health as fast as before: median \(during.median), before \(baseline.median)")
            #expect(during.max < .seconds(30), "every health check answered: max \(during.max)")
            // After the head timeout every half-sent request's connection is closed.
            // (One deadline for all, timed from the last accept: on a loaded machine the last are
            // accepted late.)
            var open = held.filter { !Self.closedByServer($0, within: 0) }
            let deadline = ContinuousClock.now + .seconds(90)
            while !open.isEmpty && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(250))
                open = open.filter { !Self.closedByServer($0, within: 0) }
            }
            #expect(open.isEmpty, "\(open.count) half-sent requests still open 90 s after they were sent (head timeout 20 s)")
            // The server counts a connection out once it has seen it close (just after the client does).
            for _ in 0..<1200 where h.server.connections.count("127.0.0.2") > 0 { try await Task.sleep(for: .milliseconds(50)) }
            #expect(h.server.connections.count("127.0.0.2") == 0)
        }
    }
}
