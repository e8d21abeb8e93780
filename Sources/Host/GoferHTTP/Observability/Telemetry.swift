import CoreMetrics
import Foundation
import Instrumentation
import Logging
import Metrics
import OTel
import Prometheus
import ServiceLifecycle
import Synchronization
import Tracing

/// The process's observability backends, set up once by the process that serves (`gofer service
/// start`, `gofer demo`): swift-metrics goes to Prometheus (`/metrics`) and, with an OTLP endpoint,
/// to OpenTelemetry too; swift-distributed-tracing goes to OpenTelemetry. A server embedded without
/// it (tests) records into no-op backends.
public final class Telemetry: Sendable {
    /// What `/metrics` shows.
    public static let prometheus = PrometheusCollectorRegistry()
    private static let bootstrapped = Mutex(false)

    /// The OTLP exporters' background work, while it runs.
    private let exporters: Task<Void, any Error>?
    private let group: ServiceGroup?
    /// Where traces and metrics go, if anywhere.
    public let otlpEndpoint: String?

    private init(group: ServiceGroup?, otlpEndpoint: String?) {
        self.group = group
        self.otlpEndpoint = otlpEndpoint
        exporters = group.map { g in Task { try await g.run() } }
    }

    /// Bootstraps the process-wide metrics and tracing systems. Only the first call in a process
    /// bootstraps (swift-metrics and swift-distributed-tracing allow one); later ones return a
    /// telemetry that exports nothing.
    public static func bootstrap(otlpEndpoint: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Telemetry {
        guard bootstrapped.withLock({ done in defer { done = true }; return !done }) else { return Telemetry(group: nil, otlpEndpoint: nil) }
        var prometheus = PrometheusMetricsFactory(registry: Self.prometheus)
        for (name, buckets) in GoferMetrics.buckets { prometheus.durationHistogramBuckets[name.rawValue] = buckets }
        let endpoint = otlpEndpoint ?? environment["OTEL_EXPORTER_OTLP_ENDPOINT"]
        guard let endpoint else {
            MetricsSystem.bootstrap(prometheus)
            return Telemetry(group: nil, otlpEndpoint: nil)
        }
        var config = OTel.Configuration.default
        config.serviceName = "gofer"
        config.resourceAttributes = ["service.version": goferVersion]
        config.diagnosticLogger = .custom(Logger(label: "gofer.otel"))
        config.diagnosticLogLevel = .warning
        config.logs.enabled = false
        // The collector's base URL; the exporters post to its per-signal paths (as
        // OTEL_EXPORTER_OTLP_ENDPOINT means; set in code, an endpoint is the signal's full URL).
        let base = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        config.traces.otlpExporter.endpoint = base + "/v1/traces"
        config.metrics.otlpExporter.endpoint = base + "/v1/metrics"
        for (name, buckets) in GoferMetrics.buckets { config.metrics.durationHistogramBuckets[name.rawValue] = buckets }
        let metrics = try OTel.makeMetricsBackend(configuration: config)
        let tracing = try OTel.makeTracingBackend(configuration: config)
        MetricsSystem.bootstrap(MultiplexMetricsHandler(factories: [prometheus, metrics.factory]))
        InstrumentationSystem.bootstrap(tracing.factory)
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: metrics.service), .init(service: tracing.service)], logger: Logger(label: "gofer.otel")))
        return Telemetry(group: group, otlpEndpoint: endpoint)
    }

    /// Exports what is still buffered and stops the exporters.
    public func shutdown() async {
        await group?.triggerGracefulShutdown()
        _ = await exporters?.result
    }
}
