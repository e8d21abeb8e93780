import Crypto
import Foundation
import GoferConfig
import GoferModel
import GoferStore

/// The text of an API token: `gofer_` + 43 base62 characters (256 bits from the system CSPRNG) +
/// 6 base62 characters of CRC-32 over the random part. The prefix lets secret scanners find leaked
/// tokens; the checksum lets the server refuse a mistyped or truncated token without a lookup.
/// Only the SHA-256 of the whole text is stored.
public struct TokenSecret: Sendable, Equatable, CustomStringConvertible {
    public static let prefix = "gofer_"
    static let randomLength = 43  // 43 × log2(62) ≈ 256.03 bits
    static let checksumLength = 6
    public static let length = prefix.count + randomLength + checksumLength
    static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    public let text: String

    /// A new random token.
    public static func generate() -> TokenSecret {
        var rng = SystemRandomNumberGenerator()
        var body: [UInt8] = []
        body.reserveCapacity(randomLength)
        while body.count < randomLength {
            // 248 = 4 × 62: rejecting larger bytes keeps every character equally likely.
            let byte = UInt8.random(in: 0...255, using: &rng)
            if byte < 248 { body.append(alphabet[Int(byte % 62)]) }
        }
        return TokenSecret(body: body)
    }

    /// A token derived from a key and a label (run tokens: the server can give a task the same
    /// token again after a restart without ever storing it).
    public static func derive(key: SymmetricKey, label: String) -> TokenSecret {
        var body: [UInt8] = []
        var counter: UInt8 = 0
        while body.count < randomLength {
            let mac = HMAC<SHA256>.authenticationCode(for: Array(label.utf8) + [counter], using: key)
            for byte in mac where byte < 248 && body.count < randomLength { body.append(alphabet[Int(byte % 62)]) }
            counter &+= 1
        }
        return TokenSecret(body: body)
    }

    private init(body: [UInt8]) {
        text = Self.prefix + String(decoding: body, as: UTF8.self) + Self.checksum(body)
    }

    static func checksum(_ body: [UInt8]) -> String {
        var n = UInt64(CRC32.of(body))
        var out = [UInt8](repeating: alphabet[0], count: checksumLength)
        for i in stride(from: checksumLength - 1, through: 0, by: -1) {
            out[i] = alphabet[Int(n % 62)]
            n /= 62
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Why a presented token was refused before any lookup.
    public enum Malformed: Error, Sendable, CustomStringConvertible {
        case prefix, length(Int), characters, checksum
        public var description: String {
            switch self {
            case .prefix: return "it does not start with \(TokenSecret.prefix) (Gofer tokens do)"
            case .length(let n): return "it is \(n) characters long; Gofer tokens have \(TokenSecret.length)"
            case .characters: return "it contains characters Gofer tokens never have"
            case .checksum: return "its checksum does not match (mistyped or cut off?)"
            }
        }
    }

    /// Checks the form of a presented token.
    public init(parsing text: String) throws(Malformed) {
        guard text.hasPrefix(Self.prefix) else { throw .prefix }
        let bytes = Array(text.utf8)
        guard bytes.count == Self.length else { throw .length(bytes.count) }
        let rest = bytes[Self.prefix.count...]
        guard rest.allSatisfy({ Self.alphabet.contains($0) }) else { throw .characters }
        let body = Array(rest.prefix(Self.randomLength))
        guard Self.checksum(body) == String(decoding: rest.suffix(Self.checksumLength), as: UTF8.self) else { throw .checksum }
        self.text = text
    }

    /// What is stored and looked up: SHA-256 of the token. An attacker cannot steer the lookup
    /// towards a partial match, so it leaks nothing through timing.
    public var hash: Data { Data(SHA256.hash(data: Array(text.utf8))) }

    /// Never prints the token itself.
    public var description: String { "gofer_…(\(Self.length) characters)" }
}

/// CRC-32 (IEEE), for token checksums.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func of(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes { crc = table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
