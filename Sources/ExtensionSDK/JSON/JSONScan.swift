/// Finds the first byte in `buf[from..<to]` that JSON strings treat specially: `"`, `\` or a
/// control character (< 0x20). Returns `to` when there is none.
///
/// Log chunks are long runs of ordinary bytes, so this tests eight bytes at a time (SWAR) and
/// only looks at single bytes in a word that holds a candidate. This is the hot loop of both
/// the parser and the serializer on the streaming path.
@inline(__always)
func firstJSONSpecialByte(_ buf: UnsafeBufferPointer<UInt8>, from: Int, to: Int) -> Int {
    var i = from
    if let base = buf.baseAddress {
        let raw = UnsafeRawPointer(base)
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        while i + 8 <= to {
            let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let control = (w &- ones &* 0x20) & ~w & highs
            let q = w ^ (ones &* 0x22)
            let quote = (q &- ones) & ~q & highs
            let b = w ^ (ones &* 0x5C)
            let backslash = (b &- ones) & ~b & highs
            if control | quote | backslash != 0 { break }
            i += 8
        }
    }
    while i < to {
        let c = buf[i]
        if c < 0x20 || c == 0x22 || c == 0x5C { return i }
        i += 1
    }
    return to
}
