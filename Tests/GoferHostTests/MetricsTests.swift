import ExtensionSDK
import Foundation
import GoferHost
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `GET /metrics` as Prometheus scrapes it: only with a token that may, in the text format, with
/// every series docs/observability.md lists. The test process bootstraps the same Prometheus
/// backend `gofer service start` does; series are told apart by a pipeline name of their own.
@Suite(.serialized)
struct MetricsTests {
    /// The value of one sample line `name{labels} value`, if present.
    static func sample(_ text: String, _ name: String, _ labels: [String: String] = [:]) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            let rest = line.dropFirst(name.count)
            if !labels.allSatisfy({ rest.contains("\($0.key)=\"\($0.value)\"") }) { continue }
            if let value = line.split(separator: " ").last.flatMap({ Double($0) }) { return value }
        }
        return nil
    }

    @Test func prometheusScrapesEveryListedSeriesWithAMetricsToken() async throws {
        _ = try Telemetry.bootstrap(otlpEndpoint: nil)
        let h = try await ServerHarness {
            $0.triggerIntervalMin = .seconds(1)
            $0.triggerIntervalJitter = "0s"
        }
        return try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            let p = "metrics-\(UUID().uuidString.prefix(8).lowercased())"
            _ = try await h.apply(
                "id: \(p)\ntasks:\n  - { id: ok, image: none, command: [\"true\"] }\n  - { id: bad, image: none, command: [\"sh\", \"-c\", \"exit 3\"] }\n")
            _ = try await h.runToEnd(p)
            // A trigger event: an interval subscription that fires once a second.
            let ticking = "\(p)-tick"
            let config = try h.server.api.loader.load(
                "id: \(ticking)\ntasks:\n  - { id: t, image: none, command: [\"true\"] }\ntriggers:\n  - { trigger: interval, settings: { every: 1s } }\n",
                file: "tick.yaml")
            _ = try await h.server.pipelines.apply(namespace: "default", config: config)
            for _ in 0..<300 where try await h.server.store.runs(namespace: "default", pipeline: ticking).items.isEmpty {
                try await Task.sleep(for: .milliseconds(50))
            }
            // An extension restart: the scheduler extension killed, and brought back by its supervisor.
            guard case .running(let pid) = await h.server.supervisor.status else {
                Issue.record("the scheduler extension is not running")
                return
            }
            kill(pid, SIGKILL)
            for _ in 0..<600 {
                if case .running(let now) = await h.server.supervisor.status, now != pid { break }
                try await Task.sleep(for: .milliseconds(50))
            }

            let admin = try h.client(port: port)
            _ = try await admin.raw("POST", "/api/namespaces/default/pipelines/\(ticking)/disable")
            // A webhook delivery, answered 404 by a trigger that takes none.
            _ = try? await admin.raw("POST", "/api/external/interval", body: [:])

            // Who may scrape: no token 401, a namespace user 403, the metrics role 200.
            let anonymous = try APIClient(address: "127.0.0.1:\(port)")
            await #expect(throws: APIError.self) { _ = try await anonymous.raw("GET", "/metrics") }
            let user = try h.client(port: port, token: try await h.makeToken("dev", roles: ["user"], namespaces: ["default"]))
            do {
                _ = try await user.raw("GET", "/metrics")
                Issue.record("a user token scraped /metrics")
            } catch let e as APIError {
                #expect(e.status == 403, "\(e)")
            }
            let scraper = try h.client(port: port, token: try await h.makeToken("prometheus", roles: ["metrics"]))
            let text = String(decoding: try await scraper.raw("GET", "/metrics"), as: UTF8.self)

            let run = ["namespace": "default", "pipeline": p]
            #expect(Self.sample(text, "gofer_runs_started_total", run) == 1, "\(text)")
            #expect(Self.sample(text, "gofer_runs_finished_total", run.merging(["state": "failed"]) { a, _ in a }) == 1)
            #expect(Self.sample(text, "gofer_run_duration_seconds_count", run.merging(["state": "failed"]) { a, _ in a }) == 1)
            #expect(Self.sample(text, "gofer_run_duration_seconds_bucket", run.merging(["le": "+Inf"]) { a, _ in a }) == 1)
            #expect(Self.sample(text, "gofer_tasks_finished_total", run.merging(["state": "failed", "reason": "exit_code"]) { a, _ in a }) == 1)
            #expect(Self.sample(text, "gofer_tasks_finished_total", run.merging(["state": "succeeded"]) { a, _ in a }) == 1)
            #expect(Self.sample(text, "gofer_task_duration_seconds_count", run.merging(["state": "succeeded"]) { a, _ in a }) == 1)
            #expect(Self.sample(text, "gofer_runs_queued") != nil && Self.sample(text, "gofer_tasks_running") != nil)
            // Gauges are per process; other tests' servers in this process start and stop extensions of
            // the same names, so only the series is checked here (its value: OTelExportTests, own process).
            #expect(Self.sample(text, "gofer_extension_up", ["extension": "process"]) != nil, "\(text)")
            #expect(Self.sample(text, "gofer_extension_up", ["extension": "interval"]) != nil)
            #expect((Self.sample(text, "gofer_extension_restarts_total", ["extension": "process"]) ?? 0) >= 1, "\(text)")
            #expect((Self.sample(text, "gofer_trigger_events_total", ["trigger": "interval", "outcome": "run"]) ?? 0) >= 1, "\(text)")
            #expect((Self.sample(text, "gofer_webhook_deliveries_total", ["trigger": "interval", "status": "404"]) ?? 0) >= 1)
            // By the route's template, with the status.
            #expect(
                (Self.sample(
                    text, "gofer_http_requests_total", ["method": "GET", "route": "/metrics", "status": "403"]) ?? 0) >= 1, "\(text)")
            #expect((Self.sample(text, "gofer_http_request_duration_seconds_count", ["method": "POST", "route": "/api/external/{trigger}"]) ?? 0) >= 1)
            #expect(text.contains("# TYPE gofer_run_duration_seconds histogram"))
        }
    }

    @Test func everyMetricIsDocumented() throws {
        let doc = try String(contentsOf: BuiltProducts.repositoryRoot.appendingPathComponent("docs/observability.md"), encoding: .utf8)
        for name in GoferMetrics.Name.allCases {
            #expect(doc.contains("`\(name.rawValue)`"), "docs/observability.md does not list \(name.rawValue)")
        }
    }
}
