import ExtensionSDK
import Foundation
import GoferHost
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// OpenTelemetry as an operator turns it on: a real `gofer service start` with `GOFER_OTLP_ENDPOINT`
/// exports to a local OTLP/HTTP receiver (Tests/otel/receiver.py, decoding the protobuf with the
/// opentelemetry-proto package). A run makes one trace: the run span, a span per task under it,
/// and the task's scheduler calls under each task.
struct OTelExportTests {
    @Test func aRunIsOneTraceWithItsTasksAndTheirSchedulerCalls() async throws {
        let dir = try TemporaryDirectory()
        let out = dir.path + "/otlp.jsonl"
        let receiver = try ChildProcess.spawn(
            "/usr/bin/env", arguments: ["python3", BuiltProducts.repositoryRoot.appendingPathComponent("Tests/otel/receiver.py").path, "--out", out])
        receiver.closeStdin()
        defer { kill(receiver.pid, SIGKILL) }
        let firstLine = Mutex<String?>(nil)
        let fd = receiver.stdoutFD
        Thread { LineReader.readLoop(fd: fd, maxLineBytes: 1024) { if case .line(let b) = $0 { firstLine.withLock { $0 = $0 ?? String(decoding: b, as: UTF8.self) } } } }.start()
        var port: Int?
        for _ in 0..<200 where port == nil {
            port = firstLine.withLock { $0 }.flatMap(Int.init)
            if port == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let receiverPort = try #require(port, "the OTLP receiver did not start (pip install opentelemetry-proto)")

        let server = try await RecoveryTests.ServerProcess(
            dataDir: dir.path + "/data", port: FreePort.next(),
            environment: [
                "GOFER_SCHEDULER": "process", "GOFER_OTLP_ENDPOINT": "http://127.0.0.1:\(receiverPort)",
                "OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_METRIC_EXPORT_INTERVAL": "500",
            ])
        let yaml = "id: traced\ntasks:\n  - { id: build, image: none, command: [\"echo\", \"built\"] }\n  - { id: test, image: none, depends_on: [build], command: [\"sh\", \"-c\", \"exit 2\"] }\n"
        let _: ApplyResult = try await server.client.call("POST", "/api/namespaces/default/pipelines", body: ["config": .string(yaml)])
        let run: Run = try await server.client.call("POST", "/api/namespaces/default/pipelines/traced/runs", body: [:])
        var detail: RunDetail = try await server.client.call("GET", "/api/namespaces/default/pipelines/traced/runs/\(run.id)")
        for _ in 0..<600 where !detail.run.state.isTerminal {
            try await Task.sleep(for: .milliseconds(100))
            detail = try await server.client.call("GET", "/api/namespaces/default/pipelines/traced/runs/\(run.id)")
        }
        #expect(detail.run.state == .failed)

        func records() -> [JSONValue] {
            let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { try? JSONParser().parse(Array($0.utf8)) }
        }
        func spans() -> [JSONValue] { records().filter { $0["signal"]?.stringValue == "span" } }
        // Spans go out in batches; the run span ends last.
        for _ in 0..<300 where !spans().contains(where: { $0["name"]?.stringValue == "run default/traced" }) {
            try await Task.sleep(for: .milliseconds(100))
        }
        for _ in 0..<600 where !records().contains(where: { $0["name"]?.stringValue == "gofer_runs_finished_total" }) {
            try await Task.sleep(for: .milliseconds(100))
        }
        // The same process's /metrics (Prometheus) at the same time: its extensions are up.
        let scraped = String(decoding: try await server.client.raw("GET", "/metrics"), as: UTF8.self)
        #expect(MetricsTests.sample(scraped, "gofer_extension_up", ["extension": "process"]) == 1, "\(scraped)")
        #expect(MetricsTests.sample(scraped, "gofer_runs_finished_total", ["pipeline": "traced", "state": "failed"]) == 1)
        await server.stop()

        let all = spans()
        let root = try #require(all.first { $0["name"]?.stringValue == "run default/traced" }, "\(all)")
        let trace = root["trace_id"]?.stringValue ?? ""
        #expect(root["parent_span_id"]?.stringValue == "" && root["service"]?.stringValue == "gofer", "a trace of its own: \(root)")
        #expect(root["attributes"]?["gofer.run"]?.intValue == Int64(run.id) && root["attributes"]?["gofer.run.state"]?.stringValue == "failed")
        #expect(root["status"]?.intValue == 2, "a failed run is an error span: \(root)")
        #expect(all.filter { $0["name"]?.stringValue?.hasPrefix("run ") == true }.count == 1, "one trace per run")
        let inTrace = all.filter { $0["trace_id"]?.stringValue == trace }
        var taskSpans: [String: JSONValue] = [:]
        for task in ["build", "test"] {
            let span = inTrace.first { $0["name"]?.stringValue == "task \(task)" }
            #expect(span?["parent_span_id"]?.stringValue == root["span_id"]?.stringValue, "task \(task) under the run: \(inTrace)")
            taskSpans[task] = span
        }
        #expect(taskSpans["test"]?["attributes"]?["gofer.task.state"]?.stringValue == "failed" && taskSpans["test"]?["status"]?.intValue == 2)
        for (task, span) in taskSpans {
            let calls = inTrace.filter { $0["parent_span_id"]?.stringValue == span["span_id"]?.stringValue }.compactMap { $0["name"]?.stringValue }
            #expect(calls.contains("extension process scheduler/start") && calls.contains("extension process scheduler/wait"), "task \(task)'s scheduler calls: \(calls)")
        }
        let metrics = Set(records().filter { $0["signal"]?.stringValue == "metric" }.compactMap { $0["name"]?.stringValue })
        #expect(metrics.isSuperset(of: ["gofer_runs_started_total", "gofer_runs_finished_total", "gofer_task_duration_seconds"]), "\(metrics.sorted())")
    }
}
