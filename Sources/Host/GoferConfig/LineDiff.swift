/// A unified diff of two texts, line by line (`---`/`+++` headers, `@@` hunks with three lines
/// of context), for showing what changed between two pipeline versions.
public enum LineDiff {
    /// Past this many line pairs the texts are too big to compare line by line (the table the
    /// comparison needs would be too large); the diff then says so.
    public static let maxCells = 4_000_000

    public static func unified(_ old: String, _ new: String, oldName: String, newName: String, context: Int = 3) -> String {
        let a = lines(old)
        let b = lines(new)
        if a == b { return "" }
        guard a.count * b.count <= maxCells else {
            return "--- \(oldName)\n+++ \(newName)\n(the versions have \(a.count) and \(b.count) lines: too many to compare line by line)\n"
        }
        let ops = script(a, b)
        var out = "--- \(oldName)\n+++ \(newName)\n"
        // Group the edit script into hunks: changes with up to `context` unchanged lines around.
        var i = 0
        while i < ops.count {
            guard let firstChange = ops[i...].firstIndex(where: { $0.kind != .same }) else { break }
            let start = max(i, firstChange - context)
            var end = firstChange
            var lastChange = firstChange
            while end < ops.count {
                if ops[end].kind != .same { lastChange = end }
                if end - lastChange > context * 2 { break }
                end += 1
            }
            let stop = min(ops.count, lastChange + context + 1)
            let hunk = ops[start..<stop]
            let oldStart = (hunk.first?.oldLine ?? 0) + 1
            let newStart = (hunk.first?.newLine ?? 0) + 1
            let oldCount = hunk.filter { $0.kind != .insert }.count
            let newCount = hunk.filter { $0.kind != .delete }.count
            out += "@@ -\(oldStart),\(oldCount) +\(newStart),\(newCount) @@\n"
            for op in hunk {
                switch op.kind {
                case .same: out += " \(a[op.oldLine])\n"
                case .delete: out += "-\(a[op.oldLine])\n"
                case .insert: out += "+\(b[op.newLine])\n"
                }
            }
            i = stop
        }
        return out
    }

    static func lines(_ text: String) -> [Substring] {
        var parts = text.split(separator: "\n", omittingEmptySubsequences: false)
        if parts.last == "" { parts.removeLast() }
        return parts
    }

    struct Op {
        enum Kind { case same, delete, insert }
        var kind: Kind
        /// Index in the old text (for insert: where it goes).
        var oldLine: Int
        var newLine: Int
    }

    /// The shortest edit script, from a longest-common-subsequence table.
    static func script(_ a: [Substring], _ b: [Substring]) -> [Op] {
        let n = a.count
        let m = b.count
        var table = [Int32](repeating: 0, count: (n + 1) * (m + 1))
        for i in stride(from: n - 1, through: 0, by: -1) {
            for j in stride(from: m - 1, through: 0, by: -1) {
                table[i * (m + 1) + j] =
                    a[i] == b[j] ? table[(i + 1) * (m + 1) + j + 1] + 1 : max(table[(i + 1) * (m + 1) + j], table[i * (m + 1) + j + 1])
            }
        }
        var ops: [Op] = []
        var i = 0
        var j = 0
        while i < n || j < m {
            if i < n && j < m && a[i] == b[j] {
                ops.append(Op(kind: .same, oldLine: i, newLine: j))
                i += 1
                j += 1
            } else if i < n && (j == m || table[(i + 1) * (m + 1) + j] >= table[i * (m + 1) + j + 1]) {
                ops.append(Op(kind: .delete, oldLine: i, newLine: j))
                i += 1
            } else {
                ops.append(Op(kind: .insert, oldLine: i, newLine: j))
                j += 1
            }
        }
        return ops
    }
}
