import ExtensionSDK
import Foundation
import GoferHost
import Testing

/// Task start and end times come from schedulers as RFC 3339 text; a wrong parse shows up as
/// wrong durations in every run view.
struct RFC3339Tests {
    @Test(arguments: [
        "2026-11-29T12:00:00Z", "1970-01-01T00:00:00Z", "2000-02-29T23:59:59Z", "2026-11-29T12:00:00+01:00", "2026-11-29T12:00:00-05:30",
        "1999-12-31T23:59:59.5Z", "2024-03-01T00:00:00.000001Z",
    ])
    func agreesWithFoundation(_ text: String) throws {
        let f = ISO8601DateFormatter()
        f.formatOptions = text.contains(".") ? [.withInternetDateTime, .withFractionalSeconds] : [.withInternetDateTime]
        let foundation = try #require(f.date(from: text.contains(".") ? Self.millis(text) : text))
        let ours = try #require(RFC3339.parse(text))
        #expect(abs(ours.timeIntervalSince1970 - foundation.timeIntervalSince1970) < 0.001, "\(text): \(ours) vs \(foundation)")
    }

    /// Foundation's parser takes at most three fraction digits.
    static func millis(_ text: String) -> String {
        guard let dot = text.firstIndex(of: "."), let end = text[dot...].firstIndex(where: { !$0.isNumber && $0 != "." }) else { return text }
        return String(text[...dot]) + String(text[text.index(after: dot)..<end].prefix(3)) + String(text[end...])
    }

    @Test func dockerNanosecondsKeepMicroseconds() throws {
        let d = try #require(RFC3339.parse("2026-11-29T12:00:00.123456789Z"))
        let whole = try #require(RFC3339.parse("2026-11-29T12:00:00Z"))
        #expect(abs(d.timeIntervalSince(whole) - 0.123456) < 1e-6)
    }

    @Test(arguments: [
        "", "2026-11-29", "2026-11-29T12:00:00", "2026-13-01T00:00:00Z", "2026-11-29T25:00:00Z", "2026-11-29T12:00:00.Z",
        "2026-11-29T12:00:00Zjunk", "2026-11-29T12:00:00+0100", "0001-01-01T00:00:00Q",
    ])
    func refusesWhatIsNotRFC3339(_ text: String) {
        #expect(RFC3339.parse(text) == nil, "\(text)")
    }

    /// What Gofer writes: UTC with milliseconds, as Foundation writes it with fractional seconds.
    @Test(arguments: [0.0, 1.5, 1_764_417_600.25, 1_764_417_600.999, -1.001, 951_868_799.0, 253_402_300_799.0])
    func formatsWithMillisecondsAsFoundationDoes(_ seconds: Double) throws {
        let date = Date(timeIntervalSince1970: seconds)
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        #expect(RFC3339.format(date) == f.string(from: date), "\(seconds)")
        let back = try #require(RFC3339.parse(RFC3339.format(date)))
        #expect(abs(back.timeIntervalSince1970 - seconds) <= 0.0005 + 1e-9, "to the nearest millisecond")
    }

    @Test func datesPastTheYearsItCanWriteAreClampedNotTrapped() {
        #expect(RFC3339.format(Date(timeIntervalSince1970: 1e300)) == "9999-12-31T23:59:59.999Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: -1e300)) == "0000-01-01T00:00:00.000Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: .nan)) == "1970-01-01T00:00:00.000Z")
    }

    @Test func durationsForPeopleAreAsPreciseAsIsUseful() {
        #expect(DurationText.human(.zero) == "<1ms")  // a process that ran `echo`: not "0ms"
        #expect(DurationText.human(.milliseconds(1)) == "1ms")
        #expect(DurationText.human(.milliseconds(340)) == "340ms")
        #expect(DurationText.human(.milliseconds(1250)) == "1.25s")
        #expect(DurationText.human(.milliseconds(12_345)) == "12.3s")
        #expect(DurationText.human(.seconds(245)) == "4m05s")
        #expect(DurationText.human(.seconds(7380)) == "2h03m")
        #expect(DurationText.human(.seconds(Int64.max)).hasSuffix("m"), "no overflow")
        #expect(DurationText.format(.seconds(Int64.max)).hasSuffix("s"), "no overflow")
    }
}
