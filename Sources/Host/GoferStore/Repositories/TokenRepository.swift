import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel

/// API tokens, roles, identities and the other values authentication keeps.
package protocol TokenRepository: Sendable {
    /// Stores a new token (its hash only) with its event.
    func createToken(_ token: APIToken, hash: Data) async throws

    /// Finds the token with this hash. Run tokens of a run that has ended count as revoked, even
    /// if the revocation in the run's final transition had not happened.
    func token(hash: Data, now: Date) async throws -> TokenLookup

    /// The token `id` (revoked ones too), or ``StoreError/notFound(what:id:)``.
    func token(id: String) async throws -> APIToken

    /// Tokens made by people (not run tokens), newest first.
    func tokens(includeRevoked: Bool) async throws -> [APIToken]

    /// Revokes a token, with its event. Revoking a revoked token changes nothing.
    @discardableResult func revokeToken(id: String, by: Principal, reason: String) async throws -> APIToken

    /// Records when tokens were last used (batched by the caller).
    func touchTokens(_ uses: [String: Date]) async throws

    /// Stores a run's token unless the run has ended (a token for a finished run is never made).
    /// Returns false when the run has ended.
    func ensureRunToken(_ token: APIToken, hash: Data) async throws -> Bool

    /// Built-in roles, then the admins' own.
    func roles() async throws -> [Role]

    /// The role `id`, or ``StoreError/notFound(what:id:)``.
    func role(_ id: String) async throws -> Role

    /// The roles with these ids; unknown ids are left out (a deleted role grants nothing).
    func roles(_ ids: [String]) async throws -> [Role]

    /// Creates a custom role; an id already taken is ``StoreError/conflict(_:)``.
    func createRole(_ role: Role, by: Principal) async throws

    /// Deletes an admin's role. Refuses while a usable token has it (revoke those first).
    func deleteRole(_ id: String, by: Principal) async throws
}

/// The defaults callers leave out.
extension TokenRepository {
    package func token(hash: Data, now: Date = Date()) async throws -> TokenLookup {
        try await token(hash: hash, now: now)
    }
}

/// What a token lookup found: the token, or why it cannot be used.
public enum TokenLookup: Sendable {
    case valid(APIToken)
    case unknown
    case revoked(APIToken)
    case expired(APIToken)
}
