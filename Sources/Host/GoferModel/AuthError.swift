import Foundation

/// Why a caller may not go on: no usable token, a token without the permission, or too many
/// attempts. Domain code throws this; the HTTP layer turns it into 401, 403 or 429.
public enum AuthError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No token, a malformed one, or one that is unknown, revoked or expired: `message` says which.
    case unauthenticated(String)
    /// The token is valid but lacks `permission` on `target`.
    case forbidden(permission: Permission, target: Target, message: String)
    /// Too many attempts from one client; retry after `retryAfter`.
    case rateLimited(retryAfter: Duration, what: String)

    /// The permission a token lacks, named with the token's roles and scope.
    public static func forbidden(_ permission: Permission, _ target: Target, token: APIToken) -> AuthError {
        var scope = ""
        if let p = token.pipeline {
            scope = "; it is limited to pipeline \(p.namespace)/\(p.pipeline)"
        } else if !token.isUnrestricted {
            scope = "; it is limited to namespaces \(token.namespaces.joined(separator: ", "))"
        }
        return .forbidden(
            permission: permission, target: target,
            message: "token \(token.name) (\(token.id)) lacks \(permission) on \(target) (roles: \(token.roles.joined(separator: ", "))\(scope))")
    }

    /// Whole seconds to wait, rounded up, at least 1.
    public var retryAfterSeconds: Int? {
        guard case .rateLimited(let wait, _) = self else { return nil }
        let seconds = (Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18).rounded(.up)
        return seconds.isFinite && seconds < 86_400 ? max(1, Int(seconds)) : 86_400
    }

    public var description: String {
        switch self {
        case .unauthenticated(let message): return message
        case .forbidden(_, _, let message): return message
        case .rateLimited(_, let what): return "too many \(what) from this address; retry in \(retryAfterSeconds ?? 1) s"
        }
    }
}
