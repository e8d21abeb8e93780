import Crypto

/// GitHub's `X-Hub-Signature-256`: `sha256=` and the hex HMAC-SHA256 of the raw body under the
/// webhook's secret.
public enum WebhookSignature {
    /// Whether `header` signs `body` under `secret`; compared in constant time.
    public static func isValid(_ header: String, body: [UInt8], secret: SymmetricKey) -> Bool {
        guard header.hasPrefix("sha256="), let given = hex(header.dropFirst("sha256=".count)) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: body, using: secret)
    }

    /// The header value GitHub would send for `body`.
    public static func header(for body: [UInt8], secret: SymmetricKey) -> String {
        "sha256=" + HMAC<SHA256>.authenticationCode(for: body, using: secret).map { String($0, radix: 16).leftPadded(2) }.joined()
    }

    /// 64 hex digits as 32 bytes; nil for anything else.
    static func hex(_ text: Substring) -> [UInt8]? {
        guard text.utf8.count == 64 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(32)
        var high: UInt8?
        for c in text.utf8 {
            let v: UInt8
            switch c {
            case 0x30...0x39: v = c - 0x30
            case 0x61...0x66: v = c - 0x61 + 10
            case 0x41...0x46: v = c - 0x41 + 10
            default: return nil
            }
            if let h = high {
                out.append(h << 4 | v)
                high = nil
            } else {
                high = v
            }
        }
        return out
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
