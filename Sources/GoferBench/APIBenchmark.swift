import ExtensionSDK
import Foundation
import GoferHost
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Throughput and latency of the two busiest read routes — the first page of runs and one run —
/// against a Hummingbird route in the same process that sends the very same bytes (headers and
/// body, precomputed): the floor of the HTTP stack, so the ratio is what Gofer's own work costs.
struct APIBenchmark {
    let connections: Int
    let seconds: Double
    let rounds: Int
    let runs: Int
    /// The server's database on PostgreSQL instead of the embedded file.
    var databaseURL: String?

    func run() async throws {
        let bench = try await BenchServer.start {
            $0.databaseURL = databaseURL
            $0.scheduler = "process"
            $0.listen = "127.0.0.1:0"
            $0.rateLimitPublic = RateLimit(count: 100_000_000, per: .seconds(60))
            $0.maxConcurrentTasks = 64
        }
        return try await stopping({ await bench.stop() }) {
            let port = try await bench.server.startHTTP()
            let token = try String(contentsOfFile: AdminBootstrap.tokenFile(dataDir: bench.dir), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            try await bench.apply(
                """
                id: bench-api
                tasks:
                  - { id: build, image: none, command: ["/bin/true"] }
                  - { id: test, image: none, command: ["/bin/true"], depends_on: [build] }

                """)
            // A realistic history: many finished runs with variables.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<runs {
                    group.addTask {
                        let run = try await bench.server.engine.startRun(
                            namespace: "default", pipeline: "bench-api", initiator: .system,
                            variables: ["GOFER_GIT_SHA": String(format: "%040x", i), "GOFER_GIT_REF": "refs/heads/main"])
                        _ = try await bench.server.engine.waitForRun(namespace: "default", pipeline: "bench-api", run: run.id)
                    }
                    if i % 32 == 31 { try await group.next() }
                }
                try await group.waitForAll()
            }
            let routes = [
                ("first page of runs", "/api/namespaces/default/pipelines/bench-api/runs"),
                ("one run", "/api/namespaces/default/pipelines/bench-api/runs/\(runs / 2)"),
            ]
            let auth = "Bearer \(token)"
            print(
                "gofer-bench api: \(connections) keep-alive connections, \(Int(seconds)) s per measurement, \(rounds) rounds alternating with the floor; \(runs) runs stored; database: \(bench.database)"
            )
            for (name, path) in routes {
                // The floor: the same response bytes from a route that does nothing.
                let sample = try await Self.fetch(port: port, path: path, auth: auth)
                let floor = try await StaticServer.start(body: sample.body, contentType: sample.contentType)
                let nginx = try await NginxFloor.start(body: sample.body, contentType: sample.contentType)
                var gofer: [LoadResult] = []
                var busy: [LoadResult] = []
                var base: [LoadResult] = []
                var nginxBase: [LoadResult] = []
                _ = try await LoadGenerator.run(port: port, path: path, auth: auth, connections: connections, seconds: 1)
                _ = try await LoadGenerator.run(port: floor.port, path: "/", auth: auth, connections: connections, seconds: 1)
                if let nginx { _ = try await LoadGenerator.run(port: nginx.port, path: "/", auth: auth, connections: connections, seconds: 1) }
                for _ in 0..<rounds {
                    base.append(try await LoadGenerator.run(port: floor.port, path: "/", auth: auth, connections: connections, seconds: seconds))
                    if let nginx {
                        nginxBase.append(try await LoadGenerator.run(port: nginx.port, path: "/", auth: auth, connections: connections, seconds: seconds))
                    }
                    gofer.append(try await LoadGenerator.run(port: port, path: path, auth: auth, connections: connections, seconds: seconds))
                    busy.append(try await Self.whileRunsStart(bench, pipeline: "bench-api") {
                        try await LoadGenerator.run(port: port, path: path, auth: auth, connections: connections, seconds: seconds)
                    })
                }
                await floor.stop()
                await nginx?.stop()
                print("  \(name) — GET \(path) (\(sample.body.count) bytes)")
                if nginx == nil { print("    (nginx is not installed: only the Hummingbird floor)") }
                for (label, results) in [
                    ("floor (same bytes, no work)", base), ("nginx (same bytes, a file)", nginxBase), ("gofer, nothing changing", gofer),
                    ("gofer, \(Self.busyLabel)", busy),
                ] where !results.isEmpty {
                    let errors = results.map(\.errors).reduce(0, +)
                    print(
                        String(
                            format: "    %-28@ %@ req/s   p50 %.2f ms   p99 %.2f ms%@", label as NSString,
                            Stats.spread(results.map(\.rate), "%.0f") as NSString, Stats.median(results.map(\.p50)),
                            Stats.median(results.map(\.p99)), (errors > 0 ? "   \(errors) errors" : "") as NSString))
                }
                for (label, results) in [("nothing changing", gofer), (Self.busyLabel, busy)] {
                    print(
                        String(
                            format: "    gofer / floor throughput, %@: %.0f%% (goal ≥ 30%%); p99 %.2f ms (goal ≤ 10 ms)", label as NSString,
                            100 * Stats.median(results.map(\.rate)) / Stats.median(base.map(\.rate)), Stats.median(results.map(\.p99))))
                    if !nginxBase.isEmpty {
                        print(
                            String(
                                format: "    gofer / nginx throughput, %@: %.0f%% (goal ≥ 30%%)", label as NSString,
                                100 * Stats.median(results.map(\.rate)) / Stats.median(nginxBase.map(\.rate))))
                    }
                }
            }
        }
    }

    /// What the goal measures reads against: a run of the same pipeline starting every 10 ms
    /// (each run then writes its state, its two tasks' states and its end), as a busy server has.
    static let busyLabel = "a run starting every 10 ms"

    /// Runs `body` while runs of `pipeline` start every 10 ms; waits for those runs to end after.
    static func whileRunsStart<T: Sendable>(
        _ bench: BenchServer, pipeline: String, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let engine = bench.server.engine
        let (result, started) = try await withThrowingTaskGroup(of: (T?, [Int]).self) { group in
            group.addTask {
                var started: [Int] = []
                while !Task.isCancelled {
                    do {
                        let run = try await engine.startRun(namespace: "default", pipeline: pipeline, initiator: .system)
                        started.append(run.id)
                    } catch where Task.isCancelled {
                        // The measurement ended while a start was in flight: the end of this
                        // load, not a failure of the benchmark.
                        break
                    }
                    try? await Task.sleep(for: .milliseconds(10))
                }
                return (nil, started)
            }
            group.addTask { (try await body(), []) }
            var result: T?
            var started: [Int] = []
            while let next = try await group.next() {
                started += next.1
                if let value = next.0 {
                    result = value
                    group.cancelAll()
                }
            }
            guard let result else { throw ServerError("no result") }
            return (result, started)
        }
        for id in started { _ = try await engine.waitForRun(namespace: "default", pipeline: pipeline, run: id) }
        return result
    }

    static func fetch(port: Int, path: String, auth: String) async throws -> (body: [UInt8], contentType: String) {
        let response = try await SimpleHTTPClient(endpoint: .tcp(host: "127.0.0.1", port: port)).send(
            "GET", path: path, headers: ["Authorization": auth])
        guard response.status == 200 else { throw ServerError("GET \(path): HTTP \(response.status)") }
        return (response.body, response.headers["content-type"] ?? "application/json")
    }
}

/// Debian's nginx serving the same bytes as a static file (the issue's yardstick), when nginx is
/// installed: two workers, keep-alive without a request limit, no access log.
struct NginxFloor {
    let port: Int
    let process: ChildProcess
    let dir: TemporaryDirectory

    static var executable: String? {
        ["/usr/sbin/nginx", "/usr/bin/nginx"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func start(body: [UInt8], contentType: String) async throws -> NginxFloor? {
        guard let nginx = executable else { return nil }
        let dir = try TemporaryDirectory()
        let port = FreePort.next()
        try FileManager.default.createDirectory(atPath: dir.path + "/www", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.path + "/tmp", withIntermediateDirectories: true)
        try Data(body).write(to: URL(fileURLWithPath: dir.path + "/www/body"))
        let config = """
            daemon off;
            \(geteuid() == 0 ? "user root;" : "")
            worker_processes 2;
            pid \(dir.path)/nginx.pid;
            error_log \(dir.path)/error.log warn;
            events { worker_connections 1024; }
            http {
                access_log off;
                keepalive_requests 1000000000;
                keepalive_timeout 300s;
                types { }
                default_type \(contentType);
                client_body_temp_path \(dir.path)/tmp; proxy_temp_path \(dir.path)/tmp; fastcgi_temp_path \(dir.path)/tmp;
                uwsgi_temp_path \(dir.path)/tmp; scgi_temp_path \(dir.path)/tmp;
                server { listen 127.0.0.1:\(port); root \(dir.path)/www; location / { try_files /body =404; } }
            }

            """
        try Data(config.utf8).write(to: URL(fileURLWithPath: dir.path + "/nginx.conf"))
        let process = try ChildProcess.spawn(nginx, arguments: ["-c", dir.path + "/nginx.conf", "-p", dir.path, "-e", dir.path + "/error.log"])
        process.closeStdin()
        let floor = NginxFloor(port: port, process: process, dir: dir)
        for _ in 0..<100 {
            if let r = try? await SimpleHTTPClient(endpoint: .tcp(host: "127.0.0.1", port: port)).send("GET", path: "/", headers: [:]),
                r.status == 200, r.body == body
            {
                return floor
            }
            if process.exitStatus != nil { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        await floor.stop()
        let log = (try? String(contentsOfFile: dir.path + "/error.log", encoding: .utf8)) ?? ""
        throw ServerError("nginx did not serve the body: \(log.suffix(500))")
    }

    func stop() async {
        _ = await process.terminate(grace: .seconds(5))
    }
}

/// A Hummingbird server answering every GET with one precomputed body.
struct StaticServer {
    let port: Int
    let group: ServiceGroup
    let task: Task<Void, any Error>

    static func start(body: [UInt8], contentType: String) async throws -> StaticServer {
        let router = Router()
        let buffer = ByteBuffer(bytes: body)
        let type = contentType
        router.get("/") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: type], body: ResponseBody(byteBuffer: buffer))
        }
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "floor")
        logger.logLevel = .warning
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(services: [app], logger: logger)
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw ServerError("the floor server did not start") }
        return StaticServer(port: port, group: group, task: task)
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
}

struct LoadResult: Sendable {
    var rate: Double
    var p50: Double
    var p99: Double
    var errors: Int
}

/// A closed-loop HTTP/1.1 load generator: `connections` threads, each on its own keep-alive
/// connection, sending the next request as soon as the previous answer is read.
enum LoadGenerator {
    static func run(port: Int, path: String, auth: String, connections: Int, seconds: Double) async throws -> LoadResult {
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: \(auth)\r\n\r\n".utf8)
        let collected = Mutex<(latencies: [Double], errors: Int, done: Int)>(([], 0, 0))
        let start = ContinuousClock.now
        let deadline = start + .milliseconds(Int(seconds * 1000))
        await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
            for _ in 0..<connections {
                Thread {
                    var latencies: [Double] = []
                    var errors = 0
                    let fd = connectTCP(port)
                    if fd < 0 {
                        errors += 1
                    } else {
                        var buffer = [UInt8](repeating: 0, count: 1 << 20)
                        while ContinuousClock.now < deadline {
                            let t = ContinuousClock.now
                            guard sendAll(fd, request), let status = readResponse(fd, &buffer) else {
                                errors += 1
                                break
                            }
                            if status != 200 { errors += 1 }
                            latencies.append(Stats.seconds(ContinuousClock.now - t) * 1000)
                        }
                        close(fd)
                    }
                    let last = collected.withLock { c -> Bool in
                        c.latencies += latencies
                        c.errors += errors
                        c.done += 1
                        return c.done == connections
                    }
                    if last { finished.resume() }
                }.start()
            }
        }
        let elapsed = Stats.seconds(ContinuousClock.now - start)
        let (latencies, errors, _) = collected.withLock { $0 }
        let sorted = latencies.sorted()
        return LoadResult(rate: Double(sorted.count) / elapsed, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), errors: errors)
    }

    static func connectTCP(_ port: Int) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if ok != 0 {
            close(fd)
            return -1
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }

    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress.unsafelyUnwrapped + off, bytes.count - off, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            off += n
        }
        return true
    }

    /// Reads one response with a Content-Length body; returns its status.
    static func readResponse(_ fd: Int32, _ buffer: inout [UInt8]) -> Int? {
        var have = 0
        var headEnd = -1
        while headEnd < 0 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress.unsafelyUnwrapped + have, $0.count - have, 0) }
            if n <= 0 { return nil }
            have += n
            if have >= 4 {
                for i in 0...(have - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
                    headEnd = i + 4
                    break
                }
            }
            if have == buffer.count { return nil }
        }
        let head = String(decoding: buffer[0..<headEnd], as: UTF8.self).lowercased()
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        var length = 0
        if let range = head.range(of: "content-length:") {
            let rest = head[range.upperBound...].prefix { $0 != "\r" }
            length = Int(rest.trimmingCharacters(in: .whitespaces)) ?? 0
        }
        var body = have - headEnd
        while body < length {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress.unsafelyUnwrapped, $0.count, 0) }
            if n <= 0 { return nil }
            body += n
        }
        return status
    }
}
