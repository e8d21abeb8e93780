import Crypto
import ExtensionSDK
import Foundation
import GoferHost
import TestSupport

/// Signed GitHub pushes through `POST /api/external/github` on a real server: verify, filter,
/// emit, store event + run in one transaction, answer. Against `GET /api/health` on the same
/// server in the same run (the HTTP floor), and against GitHub's 10 s delivery timeout.
struct WebhookBenchmark {
    let deliveries: Int

    func run() async throws {
        let dir = NSTemporaryDirectory() + "gofer-bench-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let secret = "bench-secret"
        var settings = ServerSettings()
        settings.dataDir = dir
        settings.scheduler = "process"
        settings.logLevel = "warning"
        settings.listen = "127.0.0.1:0"
        settings.githubWebhookSecret = secret
        settings.firstStartExtensions = ["github"]
        settings.maxConcurrentTasks = 64
        // Every delivery comes from this one address: the default public limit (300 a minute per
        // address) would answer 429 to most of them. The benchmark measures the route, not the limit.
        settings.rateLimitPublic = RateLimit(count: 1_000_000, per: .seconds(60))
        let server = try await GoferServer(settings: settings)
        return try await stopping({ await server.stop() }) {
            let config = try server.api.loader.load(
                """
                id: hooks
                triggers:
                  - { trigger: github, settings: { repository: acme/app, branches: ["main"] } }
                tasks:
                  - { id: t, image: none, command: ["true"], logging: false }
                """, file: "hooks.yaml")
            _ = try await server.pipelines.apply(namespace: "default", config: config)
            let port = try await server.startHTTP()
            let http = SimpleHTTPClient(endpoint: .tcp(host: "127.0.0.1", port: port))

            func delivery(_ i: Int, sign: Bool = true) -> (headers: [String: String], body: [UInt8]) {
                let sha = String(format: "%040x", i)
                let body: JSONValue = [
                    "ref": "refs/heads/main", "after": .string(sha), "repository": ["full_name": "acme/app"], "sender": ["login": "bench"],
                ]
                let bytes = Array(body.description.utf8)
                let mac = HMAC<SHA256>.authenticationCode(for: bytes, using: SymmetricKey(data: Data((sign ? secret : "wrong").utf8)))
                return (
                    [
                        "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": "bench-\(i)-\(UUID().uuidString)",
                        "X-Hub-Signature-256": "sha256=" + mac.map { String(format: "%02x", $0) }.joined(),
                    ], bytes
                )
            }
            func time(_ body: () async throws -> Void) async throws -> Double {
                let start = ContinuousClock.now
                try await body()
                return micros(ContinuousClock.now - start) / 1000
            }
            // Warm-up.
            for i in 0..<20 {
                let d = delivery(i)
                _ = try await http.send("POST", path: "/api/external/github", headers: d.headers, body: d.body)
                _ = try await http.send("GET", path: "/api/health")
            }
            var health: [Double] = []
            var accepted: [Double] = []
            var refused: [Double] = []
            for i in 0..<deliveries {
                health.append(try await time { _ = try await http.send("GET", path: "/api/health") })
                let d = delivery(1000 + i)
                accepted.append(
                    try await time {
                        let r = try await http.send("POST", path: "/api/external/github", headers: d.headers, body: d.body)
                        guard r.status == 202, r.text.contains("\"runs\":1") else {
                            throw ServerError("unexpected answer \(r.status) \(r.text)")
                        }
                    })
                let bad = delivery(1_000_000 + i, sign: false)
                refused.append(
                    try await time {
                        let r = try await http.send("POST", path: "/api/external/github", headers: bad.headers, body: bad.body)
                        guard r.status == 401 else { throw ServerError("a forged delivery got \(r.status)") }
                    })
            }
            let runs = try await server.store.runs(namespace: "default", pipeline: "hooks", limit: 100_000).items.count
            func line(_ name: String, _ xs: [Double]) -> String {
                let s = xs.sorted()
                return "  " + name.padding(toLength: 42, withPad: " ", startingAt: 0)
                    + String(format: " p50 %7.2f ms   p99 %7.2f ms   max %7.2f ms", percentile(s, 0.5), percentile(s, 0.99), s.last ?? 0)
            }
            print("gofer-bench webhook: \(deliveries) signed pushes, one at a time, real server + github trigger + SQLite")
            print(line("GET /api/health (HTTP floor)", health))
            print(line("signed push → event + run stored → 202", accepted))
            print(line("forged signature → 401", refused))
            print(
                String(
                    format:
                        "  accepted p99 is %.4f%% of GitHub's 10 s budget; p50 %.1f× the HTTP floor; %d runs for %d deliveries (+20 warm-up)",
                    percentile(accepted.sorted(), 0.99) / 100,
                    percentile(accepted.sorted(), 0.5) / max(0.001, percentile(health.sorted(), 0.5)),
                    runs, deliveries))
        }
    }
}
