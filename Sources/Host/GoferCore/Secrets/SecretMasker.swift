import Foundation
import GoferConfig
import GoferModel
import GoferStore

/// Replaces secret values in a byte stream with `********`, also when a value is split across
/// chunks: the last (longest value − 1) bytes are held back until more output or the end.
///
/// A multi-line secret is masked line by line, since tools print it that way too. Values (and
/// lines) shorter than ``minimumLength`` are not masked: masking "on" or "1" would garble
/// ordinary output everywhere and hide nothing worth hiding.
struct SecretMasker: Sendable {
    static let minimumLength = 4
    static let replacement = Array("********".utf8)

    let patterns: [[UInt8]]
    let longest: Int
    private var carry: [UInt8] = []

    init(values: [[UInt8]]) {
        var set: Set<[UInt8]> = []
        for v in values {
            if v.count >= Self.minimumLength { set.insert(v) }
            for line in v.split(separator: 0x0A) {
                var l = Array(line)
                if l.last == 0x0D { l.removeLast() }
                if l.count >= Self.minimumLength { set.insert(l) }
            }
        }
        // Longest first, so a whole value wins over one of its lines.
        patterns = set.sorted { $0.count > $1.count }
        longest = patterns.first?.count ?? 0
    }

    var isEmpty: Bool { patterns.isEmpty }

    /// Masks what can be decided now and returns it.
    mutating func feed(_ bytes: [UInt8]) -> [UInt8] {
        guard !patterns.isEmpty else { return bytes }
        carry += bytes
        let masked = Self.mask(carry, patterns)
        let keep = min(masked.count, longest - 1)
        carry = Array(masked.suffix(keep))
        return Array(masked.prefix(masked.count - keep))
    }

    /// The held-back rest, at the end of the stream.
    mutating func flush() -> [UInt8] {
        defer { carry = [] }
        return patterns.isEmpty ? carry : Self.mask(carry, patterns)
    }

    /// The mask for `value`: each line's bytes become ``replacement`` and its line breaks stay,
    /// so masking a value that ends in (or holds) a newline never joins two log lines.
    static func replacement(for value: [UInt8]) -> [UInt8] {
        guard value.contains(0x0A) || value.contains(0x0D) else { return replacement }
        var out: [UInt8] = []
        var inLine = false
        for byte in value {
            if byte == 0x0A || byte == 0x0D {
                out.append(byte)
                inLine = false
            } else if !inLine {
                out += replacement
                inLine = true
            }
        }
        return out
    }

    static func mask(_ input: [UInt8], _ patterns: [[UInt8]]) -> [UInt8] {
        var text = input
        for p in patterns {
            guard let first = p.first, text.count >= p.count else { continue }
            let replacement = Self.replacement(for: p)
            var out: [UInt8] = []
            var copied = 0
            var i = 0
            var changed = false
            let last = text.count - p.count
            while i <= last {
                // Jump to the next occurrence of the first byte, then compare the rest.
                guard let hit = text[i...last].firstIndex(of: first) else { break }
                if text[hit..<(hit + p.count)].elementsEqual(p) {
                    out += text[copied..<hit]
                    out += replacement
                    copied = hit + p.count
                    i = copied
                    changed = true
                } else {
                    i = hit + 1
                }
            }
            if changed {
                out += text[copied...]
                text = out
            }
        }
        return text
    }
}
