import CronSchedule
import Foundation
import Testing

/// The cron trigger's schedule arithmetic, against dates worked out by hand.
struct CronScheduleTests {
    static func date(_ text: String) -> Date {
        let f = ISO8601DateFormatter()
        return f.date(from: text) ?? Date(timeIntervalSince1970: 0)
    }

    func next(_ expr: String, _ tz: String = "UTC", after: String) throws -> String {
        let s = try CronSchedule(expr, timeZone: tz)
        let d = try #require(s.next(after: Self.date(after)))
        return ISO8601DateFormatter().string(from: d)
    }

    @Test func fieldsStepsRangesAndLists() throws {
        #expect(try next("*/15 * * * *", after: "2026-11-29T10:07:30Z") == "2026-11-29T10:15:00Z")
        #expect(try next("*/15 * * * *", after: "2026-11-29T10:15:00Z") == "2026-11-29T10:30:00Z", "strictly after")
        #expect(try next("0 3 * * *", after: "2026-11-29T10:00:00Z") == "2026-11-30T03:00:00Z")
        #expect(try next("5,35 9-17/4 * * *", after: "2026-11-29T09:40:00Z") == "2026-11-29T13:05:00Z")
        #expect(try next("0 0 1 JAN *", after: "2026-11-29T00:00:00Z") == "2027-01-01T00:00:00Z")
        #expect(try next("0 12 * * MON-FRI", after: "2026-11-28T13:00:00Z") == "2026-11-30T12:00:00Z", "Saturday → Monday")
        #expect(try next("0 12 * * 7", after: "2026-11-28T13:00:00Z") == "2026-11-29T12:00:00Z", "7 is Sunday")
        #expect(try next("0 0 29 2 *", after: "2026-03-01T00:00:00Z") == "2028-02-29T00:00:00Z", "leap day")
    }

    @Test func dayOfMonthOrDayOfWeekWhenBothAreRestricted() throws {
        // The 1st of the month or any Friday: Tuesday 12-01, then Friday 12-04.
        #expect(try next("0 0 1 * FRI", after: "2026-11-30T00:00:00Z") == "2026-12-01T00:00:00Z")
        #expect(try next("0 0 1 * FRI", after: "2026-12-01T00:00:00Z") == "2026-12-04T00:00:00Z")
    }

    @Test func aliasesAndTimeZones() throws {
        #expect(try next("@hourly", after: "2026-11-29T10:00:00Z") == "2026-11-29T11:00:00Z")
        #expect(try next("@daily", after: "2026-11-29T10:00:00Z") == "2026-11-30T00:00:00Z")
        #expect(try next("@weekly", after: "2026-11-29T10:00:00Z") == "2026-12-06T00:00:00Z")
        #expect(try next("@monthly", after: "2026-11-29T10:00:00Z") == "2026-12-01T00:00:00Z")
        #expect(try next("@yearly", after: "2026-11-29T10:00:00Z") == "2027-01-01T00:00:00Z")
        // 03:00 in Berlin is 02:00 UTC in winter.
        #expect(try next("0 3 * * *", "Europe/Berlin", after: "2026-11-29T10:00:00Z") == "2026-11-30T02:00:00Z")
        // Across the spring-forward gap: 02:30 does not exist on 2027-03-28 in Berlin, the next one is the 29th.
        #expect(try next("30 2 * * *", "Europe/Berlin", after: "2027-03-27T02:00:00Z") == "2027-03-29T00:30:00Z")
    }

    @Test func badExpressionsSayWhatAndWhere() {
        func problem(_ expr: String, _ tz: String = "UTC") -> String {
            do {
                _ = try CronSchedule(expr, timeZone: tz)
                return ""
            } catch { return error.description }
        }
        #expect(problem("61 * * * *") == "minute: 61 is out of range 0-59")
        #expect(problem("* 24 * * *") == "hour: 24 is out of range 0-23")
        #expect(problem("* * * FOO *").hasPrefix("month: \"FOO\" is not a number or a name"))
        #expect(problem("*/0 * * * *") == "minute: step \"0\" must be a whole number ≥ 1")
        #expect(problem("5-1 * * * *") == "minute: range \"5-1\" runs backwards")
        #expect(problem("* * *").contains("cron needs 5"))
        #expect(problem("@reboot").contains("unknown alias"))
        #expect(problem("0 0 31 2 *").contains("never fires"))
        #expect(problem("@daily", "Nowhere/City").hasPrefix("timezone: unknown time zone"))
        #expect(problem("1,,2 * * * *").contains("empty list item"))
    }
}
