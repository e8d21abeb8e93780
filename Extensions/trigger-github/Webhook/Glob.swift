/// A branch or tag pattern: `*` matches within one path segment, `**` across segments, `?` one
/// character other than `/`.
///
/// Matching is dynamic programming over (pattern position, text position): at most
/// pattern × text steps, whatever the pattern — a pattern like `*a*a*a*a*b` cannot make a webhook
/// with a long branch name take exponential time.
public struct Glob: Sendable {
    enum Token: Equatable {
        case char(Character)
        case any  // ?
        case star  // *
        case globstar  // **
    }

    let tokens: [Token]

    /// Nil for an empty pattern, one over 256 bytes, or one with NUL.
    public init?(_ text: String) {
        guard !text.isEmpty, text.utf8.count <= 256, !text.contains("\0") else { return nil }
        var out: [Token] = []
        let chars = Array(text)
        var i = 0
        while i < chars.count {
            if chars[i] == "*" {
                if i + 1 < chars.count && chars[i + 1] == "*" {
                    out.append(.globstar)
                    i += 2
                } else {
                    out.append(.star)
                    i += 1
                }
            } else {
                out.append(chars[i] == "?" ? .any : .char(chars[i]))
                i += 1
            }
        }
        tokens = out
    }

    public func matches(_ value: String) -> Bool {
        let s = Array(value)
        // can[j]: tokens[0..<i] match s[0..<j], for the current i.
        var can = [Bool](repeating: false, count: s.count + 1)
        can[0] = true
        for token in tokens {
            var next = [Bool](repeating: false, count: s.count + 1)
            switch token {
            case .char(let c):
                for j in 0..<s.count where can[j] && s[j] == c { next[j + 1] = true }
            case .any:
                for j in 0..<s.count where can[j] && s[j] != "/" { next[j + 1] = true }
            case .star:
                // Any run of characters without "/".
                for j in 0...s.count {
                    if can[j] { next[j] = true }
                    if j > 0 && next[j - 1] && s[j - 1] != "/" { next[j] = true }
                }
            case .globstar:
                var seen = false
                for j in 0...s.count {
                    seen = seen || can[j]
                    next[j] = seen
                }
            }
            can = next
        }
        return can[s.count]
    }
}
