import Foundation

/// Parses RFC 3339 timestamps as schedulers report them (`2026-11-29T12:00:00Z`,
/// `2026-11-29T12:00:00.123456789+01:00`) without a formatter: a formatter per call cost 9 % of
/// the server's CPU in a burst of task ends, and a shared one is not safe across threads.
/// Fractions are kept to the microsecond; nil for anything else.
public enum RFC3339 {
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
