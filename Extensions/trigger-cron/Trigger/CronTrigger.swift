import CronSchedule
import ExtensionSDK
import Foundation

/// Starts runs on a cron schedule in a time zone. After a restart it catches up the most recent
/// fire time it missed (at most one), so a schedule is never silently skipped and never floods.
@main
struct CronTrigger: Trigger {
    static let manifest = Manifest(
        name: "cron", version: "0.1.0", summary: "Starts runs on a cron schedule (5 fields or @daily-style aliases) in a time zone.",
        params: .object(
            [
                "schedule": .string(description: "e.g. \"*/15 * * * *\", \"0 3 * * MON-FRI\" or \"@daily\".", minLength: 1),
                "timezone": .string(description: "IANA time zone, e.g. Europe/Berlin.", default: "UTC"),
            ], required: ["schedule"]))

    struct Params: Decodable, Sendable {
        var schedule: String
        var timezone: String?
    }

    init(config: NoConfig, context: ExtensionContext) {}

    func validate(_ params: Params) async throws -> [Diagnostic] {
        do {
            _ = try CronSchedule(params.schedule, timeZone: params.timezone ?? "UTC")
            return []
        } catch {
            return [Diagnostic(path: error.field == "timezone" ? "/timezone" : "/schedule", message: error.description)]
        }
    }

    func subscribe(_ subscription: Subscription<Params>) async throws {
        let schedule = try CronSchedule(subscription.params.schedule, timeZone: subscription.params.timezone ?? "UTC")
        var last = subscription.cursor.flatMap(Double.init).map(Date.init(timeIntervalSince1970:))
        if let since = last {
            // The latest fire time missed while nobody listened, once.
            var missed: Date?
            var t = since
            while let n = schedule.next(after: t), n <= Date() {
                missed = n
                t = n
            }
            if let missed {
                try await fire(subscription, at: missed, schedule)
                last = missed
            }
        }
        var from = max(last ?? Date(), Date())
        while true {
            guard let next = schedule.next(after: from) else { return }
            // Sleep in short steps so a wall-clock jump is noticed.
            while Date() < next { try await Task.sleep(for: .milliseconds(Int64(min(30_000, next.timeIntervalSinceNow * 1000) + 5))) }
            try await fire(subscription, at: next, schedule)
            from = next
        }
    }

    func fire(_ subscription: Subscription<Params>, at time: Date, _ schedule: CronSchedule) async throws {
        let epoch = String(Int(time.timeIntervalSince1970))
        try await subscription.emit(
            eventID: "\(subscription.id)/\(epoch)", cursor: epoch,
            variables: ["GOFER_CRON_SCHEDULE": schedule.expression, "GOFER_CRON_TIME": RFC3339.format(time)])
    }
}
