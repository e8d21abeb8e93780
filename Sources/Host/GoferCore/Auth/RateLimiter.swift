import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GoferStore
import Synchronization

/// A rate as settings write it: `300/1m` is 300 requests a minute, in bursts of up to 300.
public struct RateLimit: Sendable, Equatable, CustomStringConvertible {
    public var count: Int
    public var per: Duration

    public init(count: Int, per: Duration) {
        self.count = count
        self.per = per
    }

    /// Parses `N/DURATION` (`300/1m`, `10/1s`).
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, let n = Int(parts[0]), n >= 1, let d = DurationText.parse(parts[1]), d > .zero else { return nil }
        self.init(count: n, per: d)
    }

    public var description: String { "\(count)/\(DurationText.format(per))" }
}

/// Token buckets per client address. Memory is bounded: past `maxClients` the buckets that have
/// refilled completely (they hold nothing worth remembering) are dropped, and if that is not
/// enough the oldest are.
public final class RateLimiter: Sendable {
    struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    let limit: RateLimit
    let maxClients: Int
    private let buckets = Mutex<[String: Bucket]>([:])

    public init(_ limit: RateLimit, maxClients: Int = 10_000) {
        self.limit = limit
        self.maxClients = maxClients
    }

    var perSecond: Double {
        let c = limit.per.components
        return Double(limit.count) / (Double(c.seconds) + Double(c.attoseconds) / 1e18)
    }

    /// Takes one token for `client`; returns nil when allowed, else how long until one is back.
    public func take(_ client: String, now: ContinuousClock.Instant = .now) -> Duration? {
        buckets.withLock { all in
            var b = refilled(all[client], now)
            if b.tokens >= 1 {
                b.tokens -= 1
                all[client] = b
                trim(&all, now)
                return nil
            }
            all[client] = b
            return wait(b)
        }
    }

    /// Whether `client` has a token left, without taking it; nil when so, else the wait.
    public func check(_ client: String, now: ContinuousClock.Instant = .now) -> Duration? {
        buckets.withLock { all in
            let b = refilled(all[client], now)
            return b.tokens >= 1 ? nil : wait(b)
        }
    }

    private func refilled(_ bucket: Bucket?, _ now: ContinuousClock.Instant) -> Bucket {
        guard var b = bucket else { return Bucket(tokens: Double(limit.count), updated: now) }
        let elapsed = now - b.updated
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        b.tokens = min(Double(limit.count), b.tokens + seconds * perSecond)
        b.updated = now
        return b
    }

    private func wait(_ b: Bucket) -> Duration {
        .milliseconds(Int64(((1 - b.tokens) / perSecond * 1000).rounded(.up)))
    }

    private func trim(_ all: inout [String: Bucket], _ now: ContinuousClock.Instant) {
        guard all.count > maxClients else { return }
        for (k, b) in all where refilled(b, now).tokens >= Double(limit.count) { all[k] = nil }
        if all.count > maxClients {
            for (k, _) in all.sorted(by: { $0.value.updated < $1.value.updated }).prefix(all.count - maxClients) { all[k] = nil }
        }
    }
}

/// The address a request came from: the peer, or — when the peer is a trusted proxy — the
/// right-most address in `X-Forwarded-For` that is not a trusted proxy itself.
public struct ClientAddressResolver: Sendable {
    let trusted: [CIDR]

    public init(trustedProxies: [CIDR]) { trusted = trustedProxies }

    public func client(peer: String?, forwardedFor: String?) -> String {
        guard let peer else { return "unknown" }
        guard isTrusted(peer), let forwardedFor else { return peer }
        let hops = forwardedFor.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for hop in hops.reversed() where !isTrusted(hop) { return CIDR(hop) == nil ? peer : hop }
        return hops.first ?? peer
    }

    func isTrusted(_ address: String) -> Bool { trusted.contains { $0.contains(address) } }
}

/// An IPv4 or IPv6 network: `10.0.0.0/8`, `::1/128`, or one address.
public struct CIDR: Sendable, Equatable, CustomStringConvertible {
    let bytes: [UInt8]
    let prefix: Int
    public let description: String

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        guard let first = parts.first, let bytes = CIDR.parse(first) else { return nil }
        let prefix: Int
        if parts.count == 2 {
            guard let p = Int(parts[1]), p >= 0, p <= bytes.count * 8 else { return nil }
            prefix = p
        } else {
            prefix = bytes.count * 8
        }
        self.bytes = bytes
        self.prefix = prefix
        description = text
    }

    static func parse(_ address: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, address, &v6) == 1 {
            let b = withUnsafeBytes(of: &v6) { Array($0) }
            // IPv4-mapped (::ffff:a.b.c.d) compares as IPv4.
            if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF { return Array(b[12...]) }
            return b
        }
        return nil
    }

    public func contains(_ address: String) -> Bool {
        guard let other = CIDR.parse(address), other.count == bytes.count else { return false }
        var bits = prefix
        for i in 0..<bytes.count where bits > 0 {
            let mask: UInt8 = bits >= 8 ? 0xFF : ~(0xFF >> UInt8(bits))
            if bytes[i] & mask != other[i] & mask { return false }
            bits -= 8
        }
        return true
    }
}
