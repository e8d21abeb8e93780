import CronSchedule
import Foundation

/// Cron expressions (first line) in a time zone (second line): parsing never crashes, and the
/// next fire times of an accepted schedule move forward.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let lines = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
    let zone = lines.count > 1 ? String(lines[1].prefix(64)) : "UTC"
    guard let schedule = try? CronSchedule(lines.first ?? "", timeZone: zone) else { return 0 }
    var date = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01
    for _ in 0..<5 {
        guard let next = schedule.next(after: date, limitYears: 2) else { break }
        if next <= date { fatalError("\(schedule.expression) went back: \(date) → \(next)") }
        date = next
    }
    return 0
}
