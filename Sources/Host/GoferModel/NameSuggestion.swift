/// "Did you mean …?": the names closest to a mistyped one, for the CLI's commands and the
/// server's pipeline names alike.
public enum NameSuggestion {
    /// Up to two names within a small edit distance of `word` (or starting with it, for 3+
    /// characters), nearest first.
    public static func closest(to word: String, in names: [String]) -> [String] {
        let lower = word.lowercased()
        let limit = max(1, min(3, word.count / 3))
        let near = names.map { ($0, distance(lower, $0.lowercased())) }.filter { name, d in
            d <= limit || (word.count >= 3 && name.lowercased().hasPrefix(lower))
        }
        return near.sorted { $0.1 == $1.1 ? $0.0 < $1.0 : $0.1 < $1.1 }.prefix(2).map(\.0)
    }

    /// `did you mean "a" or "b"?`, or nil when nothing is close.
    public static func hint(for word: String, in names: [String]) -> String? {
        let close = closest(to: word, in: names)
        return close.isEmpty ? nil : "did you mean " + close.map { "\"\($0)\"" }.joined(separator: " or ") + "?"
    }

    /// Edit distance: insertions, deletions, substitutions and transpositions count one each.
    public static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[a.count][b.count]
    }
}
