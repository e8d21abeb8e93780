import Foundation

/// Gofer's timestamps on the wire: RFC 3339 in UTC with milliseconds (`2026-11-29T12:00:00.250Z`),
/// written and read without a formatter (a formatter per call cost 9 % of the server's CPU in a
/// burst of task ends, and a shared one is not safe across threads).
///
/// Everything Gofer sends — API answers, hook payloads, job statuses from the SDK — uses
/// ``format(_:)``; ``parse(_:)`` accepts any RFC 3339 time, with or without a fraction or an offset.
public enum RFC3339 {
    /// `date` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, to the nearest millisecond). Dates outside the
    /// years 0–9999 are clamped to them.
    public static func format(_ date: Date) -> String {
        // Milliseconds since 1970, within years 0000–9999 (no conversion can trap).
        let limit = 253_402_300_799_999.0
        let raw = (date.timeIntervalSince1970 * 1000).rounded()
        let ms = Int64(raw.isNaN ? 0 : min(max(raw, -62_167_219_200_000), limit))
        var seconds = ms / 1000
        var milli = ms % 1000
        if milli < 0 {
            milli += 1000
            seconds -= 1
        }
        var days = seconds / 86400
        var secs = seconds % 86400
        if secs < 0 {
            secs += 86400
            days -= 1
        }
        // Howard Hinnant's civil_from_days.
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        var out = [UInt8]()
        out.reserveCapacity(24)
        func put(_ n: Int64, _ width: Int) {
            var digits = [UInt8](repeating: 0x30, count: width)
            var v = n
            for k in stride(from: width - 1, through: 0, by: -1) {
                digits[k] = 0x30 + UInt8(v % 10)
                v /= 10
            }
            out += digits
        }
        put(year, 4)
        out.append(0x2D)
        put(month, 2)
        out.append(0x2D)
        put(day, 2)
        out.append(0x54)
        put(secs / 3600, 2)
        out.append(0x3A)
        put(secs / 60 % 60, 2)
        out.append(0x3A)
        put(secs % 60, 2)
        out.append(0x2E)
        put(milli, 3)
        out.append(0x5A)
        return String(decoding: out, as: UTF8.self)
    }

    /// A date from an RFC 3339 time (`2026-11-29T12:00:00Z`, `2026-11-29T12:00:00.123456789+01:00`),
    /// the fraction kept to the microsecond; nil for anything else.
    public static func parse(_ text: String) -> Date? {
        var utf8 = Array(text.utf8)
        // Lowercase separators are allowed by RFC 3339.
        for i in utf8.indices where utf8[i] == UInt8(ascii: "t") || utf8[i] == UInt8(ascii: "z") { utf8[i] &-= 32 }
        var i = 0
        func digits(_ n: Int) -> Int? {
            guard i + n <= utf8.count else { return nil }
            var v = 0
            for k in 0..<n {
                let c = utf8[i + k]
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int(c - 0x30)
            }
            i += n
            return v
        }
        func expect(_ c: Character) -> Bool {
            guard i < utf8.count, utf8[i] == c.asciiValue else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect("-"), let month = digits(2), expect("-"), let day = digits(2),
            expect("T") || expect(" "), let hour = digits(2), expect(":"), let minute = digits(2), expect(":"), let second = digits(2),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var fraction = 0.0
        if i < utf8.count, utf8[i] == UInt8(ascii: ".") {
            i += 1
            var scale = 0.1
            let start = i
            while i < utf8.count, utf8[i] >= 0x30 && utf8[i] <= 0x39 {
                if scale >= 1e-6 { fraction += Double(utf8[i] - 0x30) * scale }
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        var offset = 0
        if expect("Z") {
        } else if i < utf8.count, utf8[i] == UInt8(ascii: "+") || utf8[i] == UInt8(ascii: "-") {
            let sign = utf8[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            guard let h = digits(2), expect(":"), let m = digits(2), h < 24, m < 60 else { return nil }
            offset = sign * (h * 3600 + m * 60)
        } else {
            return nil
        }
        guard i == utf8.count else { return nil }
        // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        let seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }
}

extension JSONEncoder.DateEncodingStrategy {
    /// Dates as ``RFC3339/format(_:)`` writes them: UTC with milliseconds.
    public static var rfc3339Milliseconds: Self {
        .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(RFC3339.format(date))
        }
    }
}

extension JSONDecoder.DateDecodingStrategy {
    /// Any RFC 3339 time (``RFC3339/parse(_:)``); anything else is a decoding error naming the text.
    public static var rfc3339: Self {
        .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = RFC3339.parse(text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "\"\(text.prefix(64))\" is not an RFC 3339 time (write e.g. 2026-11-29T12:00:00.250Z)")
            }
            return date
        }
    }
}
