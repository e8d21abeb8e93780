import ExtensionSDK

/// Starts runs every `every` (for example `5m`). After each (re)subscribe it waits a random delay
/// within `jitter` (default 2m-5m) before counting, so a restart does not fire every pipeline at
/// the same instant.
@main
struct IntervalTrigger: Trigger {
    static let manifest = Manifest(
        name: "interval", version: "0.1.0", summary: "Starts runs on a fixed interval.",
        config: .object([
            "minimumInterval": .string(description: "Shortest interval a pipeline may ask for.", default: "1m"),
            "jitter": .string(
                description: "Random delay before a subscription starts counting: a range such as 2m-5m, or one duration (0s: none).",
                default: "2m-5m"),
        ]),
        params: .object(["every": .string(description: "How often to fire, e.g. 5m or 1h30m.", minLength: 1)], required: ["every"]))

    struct Config: Decodable, Sendable {
        var minimumInterval: String?
        var jitter: String?
    }

    struct Params: Decodable, Sendable { var every: String }

    let minimum: Duration
    let jitter: ClosedRange<Duration>

    init(config: Config, context: ExtensionContext) throws {
        func duration(_ text: String?, _ fallback: Duration, _ field: String) throws -> Duration {
            guard let text else { return fallback }
            guard let d = DurationText.parse(text) else {
                throw ProtocolError(
                    .invalidConfig, "\(field): \"\(text)\" is not a duration (use e.g. 30s, 5m, 1h)",
                    diagnostics: [Diagnostic(path: "/config/admin/\(field)", message: "not a duration; use e.g. 30s, 5m, 1h")])
            }
            return d
        }
        minimum = try duration(config.minimumInterval, .seconds(60), "minimumInterval")
        let parts = (config.jitter ?? "2m-5m").split(separator: "-", maxSplits: 1).map(String.init)
        let low = try duration(parts.first, .seconds(120), "jitter")
        let high = try duration(parts.count > 1 ? parts[1] : parts.first, .seconds(300), "jitter")
        guard low <= high else {
            throw ProtocolError(
                .invalidConfig, "jitter: \"\(config.jitter ?? "")\" runs backwards; write the shorter delay first, e.g. 2m-5m",
                diagnostics: [Diagnostic(path: "/config/admin/jitter", message: "range runs backwards")])
        }
        jitter = low...high
    }

    func validate(_ params: Params) async throws -> [Diagnostic] {
        guard let every = DurationText.parse(params.every) else {
            return [Diagnostic(path: "/every", message: "\"\(params.every)\" is not a duration; use e.g. 30s, 5m, 1h")]
        }
        if every <= .zero { return [Diagnostic(path: "/every", message: "must be longer than 0s")] }
        if every < minimum {
            return [Diagnostic(path: "/every", message: "must be at least \(DurationText.format(minimum)) (the admin's minimum interval)")]
        }
        return []
    }

    func subscribe(_ subscription: Subscription<Params>) async throws {
        guard let every = DurationText.parse(subscription.params.every) else { return }
        var count = Int(subscription.cursor ?? "") ?? 0
        let low = jitter.lowerBound.components.seconds * 1000
        let high = jitter.upperBound.components.seconds * 1000
        if high > 0 { try await Task.sleep(for: .milliseconds(Int64.random(in: low...high))) }
        while true {
            try await Task.sleep(for: every)
            count += 1
            try await subscription.emit(
                eventID: "\(subscription.id)/\(count)", cursor: String(count),
                variables: ["GOFER_TRIGGER_INTERVAL": subscription.params.every])
        }
    }
}
