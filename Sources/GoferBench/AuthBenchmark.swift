import ExtensionSDK
import Foundation
import GoferHost
import TestSupport

/// What authentication costs a request: an authenticated `GET /api/whoami` against the open
/// `GET /api/health` on the same server in the same run, and the authenticator alone, in process,
/// for a good token, an unknown one and a revoked one (which must not differ in a way that tells
/// an attacker anything).
struct AuthBenchmark {
    let requests: Int

    func run() async throws {
        let dir = NSTemporaryDirectory() + "gofer-bench-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var settings = ServerSettings()
        settings.dataDir = dir
        settings.scheduler = "process"
        settings.logLevel = "warning"
        settings.listen = "127.0.0.1:0"
        settings.rateLimitPublic = RateLimit(count: 100_000_000, per: .seconds(60))
        settings.rateLimitAuthFailures = RateLimit(count: 100_000_000, per: .seconds(60))
        let server = try await GoferServer(settings: settings)
        return try await stopping({ await server.stop() }) {
            let port = try await server.startHTTP()
            let admin = try String(contentsOfFile: AdminBootstrap.tokenFile(dataDir: dir), encoding: .utf8).trimmingCharacters(
                in: .whitespacesAndNewlines)
            let http = SimpleHTTPClient(endpoint: .tcp(host: "127.0.0.1", port: port))

            func sample(_ n: Int, _ body: () async throws -> Void) async throws -> [Double] {
                var out: [Double] = []
                out.reserveCapacity(n)
                for _ in 0..<n {
                    let t = ContinuousClock.now
                    try await body()
                    out.append(micros(ContinuousClock.now - t))
                }
                return out.sorted()
            }
            func line(_ name: String, _ s: [Double]) {
                print(
                    String(
                        format: "  %-44@ p50 %8.1f µs  p99 %8.1f µs  (min %.1f, max %.1f)", name as NSString, percentile(s, 0.5),
                        percentile(s, 0.99), s.first ?? 0, s.last ?? 0))
            }

            print("authentication cost, \(requests) requests each, interleaved rounds (debug builds are slower; use -c release)")
            // Interleaved rounds so both sides see the same machine load.
            var health: [Double] = []
            var whoami: [Double] = []
            _ = try await sample(50) { _ = try await http.send("GET", path: "/api/health") }
            for _ in 0..<10 {
                health += try await sample(requests / 10) {
                    guard try await http.send("GET", path: "/api/health").status == 200 else { throw ServerError("health failed") }
                }
                whoami += try await sample(requests / 10) {
                    guard try await http.send("GET", path: "/api/whoami", headers: ["Authorization": "Bearer \(admin)"]).status == 200 else {
                        throw ServerError("whoami failed")
                    }
                }
            }
            health.sort()
            whoami.sort()
            line("GET /api/health (open, no token)", health)
            line("GET /api/whoami (Bearer token)", whoami)
            print(
                String(
                    format: "  → authentication adds p50 %+.1f µs, p99 %+.1f µs per request over HTTP", percentile(whoami, 0.5) - percentile(health, 0.5),
                    percentile(whoami, 0.99) - percentile(health, 0.99)))

            // In process: the authenticator alone.
            let auth = server.api.auth
            let revoked = TokenSecret.generate()
            try await server.store.createToken(
                APIToken(id: "tok_benchrevoked", name: "revoked", kind: .user, roles: ["user"], namespaces: ["*"], createdAt: Date()),
                hash: revoked.hash)
            try await server.store.revokeToken(id: "tok_benchrevoked", by: .system, reason: "bench")
            let stranger = TokenSecret.generate().text
            var good: [Double] = []
            var unknown: [Double] = []
            var gone: [Double] = []
            for _ in 0..<10 {
                good += try await sample(requests / 10) { _ = try await auth.authenticate(authorization: "Bearer \(admin)", client: "bench") }
                unknown += try await sample(requests / 10) {
                    _ = try? await auth.authenticate(authorization: "Bearer \(stranger)", client: "bench")
                }
                gone += try await sample(requests / 10) { _ = try? await auth.authenticate(authorization: "Bearer \(revoked.text)", client: "bench") }
            }
            good.sort()
            unknown.sort()
            gone.sort()
            line("authenticate(), good token", good)
            line("authenticate(), unknown token (401)", unknown)
            line("authenticate(), revoked token (401)", gone)
        }
    }
}
