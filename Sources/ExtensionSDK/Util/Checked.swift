/// Conversions from untrusted numbers that never trap.
///
/// `Int(someDouble)` traps when the value is not finite or out of range, and `Int64(x) * k`
/// traps on overflow; a value from a config, a request or a protocol frame must never take the
/// process down that way. Each function here answers `nil` instead, so the caller can refuse the
/// value with a message naming it:
///
/// ```swift
/// guard let nanoCPUs = Checked.int64(job.cpus ?? 1, times: 1e9) else {
///     throw ProtocolError(.invalidParams, "cpus \(job.cpus ?? 1) is more than this scheduler can express")
/// }
/// ```
public enum Checked {
    /// `value × scale`, rounded to the nearest whole number, or nil when it is not finite or does
    /// not fit an `Int64`.
    public static func int64(_ value: Double, times scale: Double = 1) -> Int64? {
        let product = (value * scale).rounded()
        // 2^63 is exactly representable; anything at or above it does not fit.
        guard product.isFinite, product >= -9_223_372_036_854_775_808.0, product < 9_223_372_036_854_775_808.0 else { return nil }
        return Int64(product)
    }

    /// `value × scale` as an `Int`, rounded, or nil when it does not fit (see ``int64(_:times:)``).
    public static func int(_ value: Double, times scale: Double = 1) -> Int? {
        int64(value, times: scale).flatMap { Int(exactly: $0) }
    }

    /// `a × b`, or nil when the product overflows.
    public static func multiply<T: FixedWidthInteger>(_ a: T, _ b: T) -> T? {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? nil : product
    }

    /// `a + b`, or nil when the sum overflows.
    public static func add<T: FixedWidthInteger>(_ a: T, _ b: T) -> T? {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? nil : sum
    }
}
