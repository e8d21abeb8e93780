import CoreMetrics
import Foundation
import GoferConfig
import GoferModel
import GoferStore

/// Every metric the server records: names, labels and meaning in one place (docs/observability.md
/// lists them from here). Recorded through swift-metrics, so whichever backend the process
/// bootstrapped — Prometheus for `/metrics`, OpenTelemetry for OTLP, both — receives them.
public enum GoferMetrics {
    /// The metric names, as Prometheus shows them.
    public enum Name: String, CaseIterable, Sendable {
        case runsStarted = "gofer_runs_started_total"
        case runsFinished = "gofer_runs_finished_total"
        case runDuration = "gofer_run_duration_seconds"
        case tasksFinished = "gofer_tasks_finished_total"
        case taskDuration = "gofer_task_duration_seconds"
        case runsQueued = "gofer_runs_queued"
        case tasksRunning = "gofer_tasks_running"
        case extensionRestarts = "gofer_extension_restarts_total"
        case extensionUp = "gofer_extension_up"
        case triggerEvents = "gofer_trigger_events_total"
        case webhookDeliveries = "gofer_webhook_deliveries_total"
        case httpRequests = "gofer_http_requests_total"
        case httpRequestDuration = "gofer_http_request_duration_seconds"

        /// What it counts or measures, and its labels.
        public var help: String {
            switch self {
            case .runsStarted: "Runs that began running (labels: namespace, pipeline)."
            case .runsFinished: "Runs that ended (labels: namespace, pipeline, state)."
            case .runDuration: "Seconds from a run's start to its end (histogram; labels: namespace, pipeline, state)."
            case .tasksFinished: "Task executions that ended (labels: namespace, pipeline, state, reason)."
            case .taskDuration: "Seconds a task execution ran (histogram; labels: namespace, pipeline, state)."
            case .runsQueued: "Runs waiting for their pipeline's parallelism limit (gauge)."
            case .tasksRunning: "Task executions starting or running on the scheduler (gauge)."
            case .extensionRestarts: "Times the server restarted an extension after it died (label: extension)."
            case .extensionUp: "1 while an extension runs and answers, 0 otherwise (gauge; label: extension)."
            case .triggerEvents: "Events triggers delivered (labels: trigger, outcome: run — it started a run, pipeline_disabled — kept, no run, duplicate — delivered before)."
            case .webhookDeliveries: "Webhook requests received (labels: trigger, status)."
            case .httpRequests: "API requests answered (labels: method, route, status)."
            case .httpRequestDuration: "Seconds to answer an API request, to the response head (histogram; labels: method, route)."
            }
        }
    }

    /// Histogram buckets of the duration metrics: CI work lasts seconds to an hour, API answers milliseconds.
    public static let buckets: [Name: [Duration]] = [
        .runDuration: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600].map { .seconds($0) },
        .taskDuration: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600].map { .seconds($0) },
        .httpRequestDuration: [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500].map { .milliseconds($0) },
    ]

    package static func count(_ name: Name, _ labels: [(String, String)], by amount: Int = 1) {
        Counter(label: name.rawValue, dimensions: labels).increment(by: amount)
    }

    static func gauge(_ name: Name, _ value: Int, _ labels: [(String, String)] = []) {
        Gauge(label: name.rawValue, dimensions: labels).record(value)
    }

    package static func duration(_ name: Name, _ labels: [(String, String)], _ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        Timer(label: name.rawValue, dimensions: labels).recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    static func duration(_ name: Name, _ labels: [(String, String)], since start: Date?) {
        guard let start else { return }
        duration(name, labels, .milliseconds(Int64(max(0, Date().timeIntervalSince(start)) * 1000)))
    }
}
