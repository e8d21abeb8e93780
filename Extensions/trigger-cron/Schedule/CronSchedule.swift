import Foundation

/// A cron schedule: five fields (minute hour day-of-month month day-of-week) or an alias
/// (`@hourly`, `@daily`/`@midnight`, `@weekly`, `@monthly`, `@yearly`/`@annually`), evaluated in a
/// time zone.
///
/// Fields take `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, and lists `a,b`; months and
/// weekdays also take names (`JAN`, `MON`); weekday 7 is Sunday like 0. As in Vixie cron, when both
/// day-of-month and day-of-week are restricted, a day matching either fires.
public struct CronSchedule: Sendable, Equatable {
    public let expression: String
    public let timeZone: TimeZone
    let minutes: Set<Int>
    let hours: Set<Int>
    let days: Set<Int>
    let months: Set<Int>
    let weekdays: Set<Int>
    let daysRestricted: Bool
    let weekdaysRestricted: Bool

    /// A schedule problem, naming the field and what is wrong.
    public struct ParseError: Error, Sendable, CustomStringConvertible, Equatable {
        public var field: String
        public var message: String
        public var description: String { field.isEmpty ? message : "\(field): \(message)" }
    }

    static let aliases = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0", "@daily": "0 0 * * *",
        "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]
    static let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    static let dayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

    public init(_ expression: String, timeZone name: String = "UTC") throws(ParseError) {
        guard let zone = TimeZone(identifier: name) else {
            throw ParseError(field: "timezone", message: "unknown time zone \"\(name)\"; use an IANA name such as UTC or Europe/Berlin")
        }
        let trimmed = expression.trimmingCharacters(in: .whitespaces)
        var text = trimmed
        if trimmed.hasPrefix("@") {
            guard let expanded = Self.aliases[trimmed.lowercased()] else {
                throw ParseError(
                    field: "schedule",
                    message: "unknown alias \"\(trimmed)\"; use @hourly, @daily, @midnight, @weekly, @monthly, @yearly or @annually")
            }
            text = expanded
        }
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw ParseError(
                field: "schedule",
                message:
                    "\"\(expression)\" has \(fields.count) field\(fields.count == 1 ? "" : "s"); cron needs 5: minute hour day-of-month month day-of-week"
            )
        }
        self.expression = trimmed
        self.timeZone = zone
        minutes = try Self.field(fields[0], "minute", 0...59, names: [])
        hours = try Self.field(fields[1], "hour", 0...23, names: [])
        days = try Self.field(fields[2], "day-of-month", 1...31, names: [])
        months = try Self.field(fields[3], "month", 1...12, names: Self.monthNames, nameBase: 1)
        var wd = try Self.field(fields[4], "day-of-week", 0...7, names: Self.dayNames)
        if wd.remove(7) != nil { wd.insert(0) }
        weekdays = wd
        daysRestricted = fields[2] != "*" && !fields[2].hasPrefix("*/")
        weekdaysRestricted = fields[4] != "*" && !fields[4].hasPrefix("*/")
        if next(after: Date(timeIntervalSince1970: 0), limitYears: 30) == nil {
            throw ParseError(field: "schedule", message: "\"\(expression)\" never fires (no such date)")
        }
    }

    static func field(_ text: String, _ name: String, _ range: ClosedRange<Int>, names: [String], nameBase: Int = 0) throws(ParseError)
        -> Set<Int>
    {
        func number(_ s: Substring) throws(ParseError) -> Int {
            if let n = Int(s) {
                guard range.contains(n) else {
                    throw ParseError(field: name, message: "\(n) is out of range \(range.lowerBound)-\(range.upperBound)")
                }
                return n
            }
            if let i = names.firstIndex(of: s.uppercased()) { return i + nameBase }
            throw ParseError(
                field: name,
                message: "\"\(s)\" is not a number\(names.isEmpty ? "" : " or a name (\(names.joined(separator: ", ")))") in \"\(text)\"")
        }
        var out: Set<Int> = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            if part.isEmpty { throw ParseError(field: name, message: "empty list item in \"\(text)\"") }
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw ParseError(field: name, message: "\"\(part)\" has more than one '/'") }
            var step = 1
            if pieces.count == 2 {
                guard let s = Int(pieces[1]), s > 0 else {
                    throw ParseError(field: name, message: "step \"\(pieces[1])\" must be a whole number ≥ 1")
                }
                step = s
            }
            let base = pieces[0]
            var low = range.lowerBound
            var high = range.upperBound
            if base == "*" {
            } else if let dash = base.firstIndex(of: "-") {
                low = try number(base[..<dash])
                high = try number(base[base.index(after: dash)...])
                guard low <= high else { throw ParseError(field: name, message: "range \"\(base)\" runs backwards") }
            } else {
                low = try number(base)
                high = pieces.count == 2 ? range.upperBound : low
            }
            for v in stride(from: low, through: high, by: step) { out.insert(v) }
        }
        return out
    }

    func dayMatches(_ c: DateComponents) -> Bool {
        let dom = days.contains(c.day ?? 0)
        let dow = weekdays.contains((c.weekday ?? 1) - 1)
        if daysRestricted && weekdaysRestricted { return dom || dow }
        return dom && dow
    }

    /// The first time strictly after `date` that the schedule fires, or nil if none within `limitYears`.
    public func next(after date: Date, limitYears: Int = 5) -> Date? {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = timeZone
        // Start at the next whole minute.
        var t = Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 60).rounded(.down) * 60 + 60)
        let end = date.addingTimeInterval(Double(limitYears) * 366 * 86400)
        while t < end {
            let c = cal.dateComponents([.year, .month, .day, .hour, .minute, .weekday], from: t)
            if !months.contains(c.month ?? 0) {
                guard let first = cal.date(from: DateComponents(year: c.year, month: (c.month ?? 1) + 1, day: 1)) else { return nil }
                t = first
                continue
            }
            if !dayMatches(c) {
                guard let d = cal.date(byAdding: .day, value: 1, to: cal.startOfDay(for: t)) else { return nil }
                t = d
                continue
            }
            if !hours.contains(c.hour ?? 0) {
                // To the start of the next hour.
                t = t.addingTimeInterval(Double(60 - (c.minute ?? 0)) * 60)
                continue
            }
            if !minutes.contains(c.minute ?? 0) {
                t = t.addingTimeInterval(60)
                continue
            }
            return t
        }
        return nil
    }
}
