import Crypto
import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GoferStore
import Synchronization

/// Turns an `Authorization` header into an ``Identity``, or a 401/429 that says why. Failed
/// attempts are limited per client address; a client over its limit is refused before any lookup.
public final class Authenticator: Sendable {
    let store: any Store
    let failures: RateLimiter
    /// When each token's last use was last written (at most once a minute per token).
    private let lastWritten = Mutex<[String: Date]>([:])
    /// Recently verified user tokens by hash, for `cacheFor`: a revocation through the API drops
    /// its entry at once (``forget(tokenID:)``). Run tokens are never cached: their run's end
    /// revokes them in the database, and that must hold from the next request on.
    private let cache = Mutex<[Data: (identity: Identity, until: ContinuousClock.Instant)]>([:])
    let cacheFor: Duration
    static let maxCached = 10_000

    package init(store: any Store, failureLimit: RateLimit, cacheFor: Duration = .seconds(5)) {
        self.store = store
        self.failures = RateLimiter(failureLimit)
        self.cacheFor = cacheFor
    }

    /// Drops a token from the cache (after it was revoked).
    public func forget(tokenID: String) {
        cache.withLock { all in all = all.filter { $0.value.identity.token.id != tokenID } }
    }

    /// The caller of a request, or a thrown ``AuthError`` (unauthenticated, or rate-limited with a retry delay).
    public func authenticate(authorization: String?, client: String) async throws -> Identity {
        if let wait = failures.check(client) { throw AuthError.rateLimited(retryAfter: wait, what: "failed authentications") }
        do {
            let secret = try parse(authorization)
            let hash = secret.hash
            let now = ContinuousClock.now
            if let hit = cache.withLock({ $0[hash] }), hit.until > now, hit.identity.token.expiresAt.map({ $0 > Date() }) ?? true {
                await noteUse(hit.identity.token.id)
                return hit.identity
            }
            let token = try await lookup(hash)
            let identity = Identity(token: token, roles: try await store.roles(token.roles))
            if token.kind == .user {
                cache.withLock { all in
                    if all.count >= Self.maxCached { all = all.filter { $0.value.until > now } }
                    if all.count < Self.maxCached { all[hash] = (identity, now + cacheFor) }
                }
            }
            await noteUse(token.id)
            return identity
        } catch let error as AuthError {
            _ = failures.take(client)
            throw error
        }
    }

    /// The token in an `Authorization` header, checked for form.
    func parse(_ authorization: String?) throws -> TokenSecret {
        guard let authorization, !authorization.isEmpty else {
            throw AuthError.unauthenticated(
                "this endpoint needs a token: send Authorization: Bearer <token> (gofer login stores one for the CLI)")
        }
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw AuthError.unauthenticated("the Authorization header must be \"Bearer <token>\"")
        }
        do {
            return try TokenSecret(parsing: parts[1].trimmingCharacters(in: .whitespaces))
        } catch {
            throw AuthError.unauthenticated(ErrorText.wrapping("the token is malformed", error))
        }
    }

    /// The stored token with this hash, or a 401 saying why it cannot be used.
    func lookup(_ hash: Data) async throws -> APIToken {
        switch try await store.token(hash: hash) {
        case .valid(let t): return t
        case .unknown:
            throw AuthError.unauthenticated("the token is not known to this server (mistyped, deleted, or made by another Gofer server)")
        case .revoked(let t):
            throw AuthError.unauthenticated(
                "token \(t.name) (\(t.id)) was revoked\(t.revokedAt.map { " at \($0.formatted(.iso8601))" } ?? "")\(t.revokedReason.map { ": \($0)" } ?? "")"
            )
        case .expired(let t):
            throw AuthError.unauthenticated(
                "token \(t.name) (\(t.id)) expired at \(t.expiresAt?.formatted(.iso8601) ?? "?"); ask an admin for a new one")
        }
    }

    /// Remembers that a token was used; writes at most once a minute per token.
    func noteUse(_ id: String) async {
        let now = Date()
        let due = lastWritten.withLock { written -> Bool in
            if let last = written[id], now.timeIntervalSince(last) < 60 { return false }
            written[id] = now
            return true
        }
        if due { try? await store.touchTokens([id: now]) }
    }
}
