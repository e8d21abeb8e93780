/// Durations written the way people write them in config: `90s`, `5m`, `1h30m`, `250ms`.
public enum DurationText {
    /// Parses a duration; `nil` when the text is not one. A bare number is not accepted (is it
    /// seconds or minutes?).
    public static func parse(_ text: String) -> Duration? {
        var total = Duration.zero
        var number = ""
        var unit = ""
        var sawAny = false
        func flush() -> Bool {
            guard let value = Double(number), value >= 0 else { return false }
            let scale: Double
            switch unit {
            case "ms": scale = 0.001
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            case "d": scale = 86400
            default: return false
            }
            let ms = (value * scale * 1000).rounded()
            // Beyond ~292 million years an Int64 of milliseconds overflows: not a duration anyone means.
            guard ms.isFinite, ms < 9e18, Duration.milliseconds(Int64(9e18)) - total > .milliseconds(Int64(ms)) else { return false }
            total += .milliseconds(Int64(ms))
            number = ""
            unit = ""
            sawAny = true
            return true
        }
        for ch in text.trimmingCharacters(in: " ") {
            if ch.isNumber || ch == "." {
                if !unit.isEmpty { guard flush() else { return nil } }
                number.append(ch)
            } else if ch.isLetter {
                guard !number.isEmpty else { return nil }
                unit.append(ch)
            } else {
                return nil
            }
        }
        guard !number.isEmpty || sawAny else { return nil }
        if !number.isEmpty { guard flush() else { return nil } }
        return total
    }

    /// Formats a duration compactly (`1h30m`, `45s`, `250ms`).
    public static func format(_ d: Duration) -> String {
        var ms = milliseconds(d)
        if ms < 1000 { return "\(ms)ms" }
        var out = ""
        for (unit, size) in [("h", Int64(3_600_000)), ("m", 60_000), ("s", 1000)] where ms >= size {
            out += "\(ms / size)\(unit)"
            ms %= size
        }
        if ms > 0 { out += "\(ms)ms" }
        return out
    }

    /// A duration for people, as precise as is useful: `340ms`, `1.25s`, `12.3s`, `4m05s`, `2h03m`;
    /// under a millisecond (a task whose process ran `echo`) is `<1ms`, never a misleading `0ms`.
    ///
    /// ```swift
    /// DurationText.human(.milliseconds(1250))  // "1.25s"
    /// ```
    public static func human(_ d: Duration) -> String {
        let ms = max(0, milliseconds(d))
        switch ms {
        case ..<1: return "<1ms"
        case ..<1000: return "\(ms)ms"
        case ..<10_000: return "\(ms / 1000).\(two(ms % 1000 / 10))s"
        case ..<60_000: return "\(ms / 1000).\(ms % 1000 / 100)s"
        case ..<3_600_000: return "\(ms / 60_000)m\(two(ms / 1000 % 60))s"
        default: return "\(ms / 3_600_000)h\(two(ms / 60_000 % 60))m"
        }
    }

    private static func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }

    /// Whole milliseconds, saturating instead of overflowing for durations past ~292 million years.
    static func milliseconds(_ d: Duration) -> Int64 {
        let (whole, overflow) = d.components.seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return d.components.seconds < 0 ? Int64.min : Int64.max }
        let (sum, overflow2) = whole.addingReportingOverflow(d.components.attoseconds / 1_000_000_000_000_000)
        return overflow2 ? Int64.max : sum
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Character) -> Substring {
        var s = Substring(self)
        while s.first == set { s.removeFirst() }
        while s.last == set { s.removeLast() }
        return s
    }
}
