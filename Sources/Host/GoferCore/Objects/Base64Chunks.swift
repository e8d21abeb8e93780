import Foundation
import GoferConfig
import GoferModel
import GoferStore
import NIOCore

/// Decodes a base64 upload as it streams in (`?encoding=base64`), for clients that cannot send
/// binary bodies — busybox `wget --post-file` stops at the first NUL byte. Whitespace and line
/// breaks (as `base64` writes them) are skipped; anything else outside the alphabet is an error.
package struct Base64Chunks<Upstream: AsyncSequence>: AsyncSequence where Upstream.Element == ByteBuffer {
    package typealias Element = ByteBuffer
    package let upstream: Upstream

    package init(upstream: Upstream) { self.upstream = upstream }

    static func invalid(offset: Int64, byte: UInt8) -> InvalidObjectBody {
        let shown = byte >= 0x20 && byte < 0x7f ? "'\(Character(Unicode.Scalar(byte)))'" : String(format: "byte 0x%02x", byte)
        return InvalidObjectBody(why: "it is not base64: \(shown) at offset \(offset) of the body")
    }

    static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return c - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return c - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"), UInt8(ascii: "-"): return 62
        case UInt8(ascii: "/"), UInt8(ascii: "_"): return 63
        default: return nil
        }
    }

    package struct Iterator: AsyncIteratorProtocol {
        var upstream: Upstream.AsyncIterator
        /// Up to three sextets carried to the next chunk.
        var pending: [UInt8] = []
        var offset: Int64 = 0
        var padded = false
        var done = false

        package mutating func next() async throws -> ByteBuffer? {
            while !done {
                guard let chunk = try await upstream.next() else {
                    done = true
                    // A final group without its padding: decode what it holds.
                    if pending.count == 1 { throw Base64Chunks.invalid(offset: offset, byte: UInt8(ascii: "=")) }
                    if pending.isEmpty { return nil }
                    var out: [UInt8] = []
                    flush(&out)
                    return ByteBuffer(bytes: out)
                }
                var out: [UInt8] = []
                out.reserveCapacity(chunk.readableBytes * 3 / 4 + 3)
                for c in chunk.readableBytesView {
                    defer { offset += 1 }
                    if c == UInt8(ascii: "\n") || c == UInt8(ascii: "\r") || c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") { continue }
                    if c == UInt8(ascii: "=") {
                        if !padded { flush(&out) }
                        padded = true
                        continue
                    }
                    guard !padded, let v = Base64Chunks.value(c) else { throw Base64Chunks.invalid(offset: offset, byte: c) }
                    pending.append(v)
                    if pending.count == 4 {
                        out.append(pending[0] << 2 | pending[1] >> 4)
                        out.append(pending[1] << 4 | pending[2] >> 2)
                        out.append(pending[2] << 6 | pending[3])
                        pending.removeAll(keepingCapacity: true)
                    }
                }
                if !out.isEmpty { return ByteBuffer(bytes: out) }
            }
            return nil
        }

        /// Decodes a group cut short by padding or the end: 2 sextets → 1 byte, 3 → 2.
        mutating func flush(_ out: inout [UInt8]) {
            if pending.count >= 2 { out.append(pending[0] << 2 | pending[1] >> 4) }
            if pending.count == 3 { out.append(pending[1] << 4 | pending[2] >> 2) }
            pending.removeAll()
        }
    }

    package func makeAsyncIterator() -> Iterator { Iterator(upstream: upstream.makeAsyncIterator()) }
}
