import Crypto
import Foundation
import HTTPTypes
import Synchronization

/// Sessions of the web UI: a login exchanges an API token for a session cookie (HttpOnly,
/// SameSite=Strict), and every request with the cookie acts as that token — so revoking the token
/// ends its sessions at the next request. A state change also needs the session's CSRF token in
/// `X-Gofer-CSRF`. Sessions live in memory only: the token is never written anywhere, and a
/// server restart asks for a login again.
public final class WebSessions: Sendable {
    public static let cookieName = "gofer_session"
    public static let csrfHeader = HTTPField.Name("X-Gofer-CSRF")!
    /// How long a session lasts without being used.
    public static let idleLifetime: Duration = .seconds(12 * 3600)
    static let maxSessions = 10_000

    struct Session {
        let token: String
        let csrf: String
        var lastUsed: ContinuousClock.Instant
    }

    private let sessions = Mutex<[String: Session]>([:])
    /// Cookies get `Secure` when the server speaks TLS.
    let secureCookies: Bool

    public init(secureCookies: Bool) { self.secureCookies = secureCookies }

    /// A new session for a token that authenticated; returns its id and CSRF token.
    func create(token: String) -> (id: String, csrf: String) {
        let id = Self.random()
        let csrf = Self.random()
        let now = ContinuousClock.now
        sessions.withLock { all in
            if all.count >= Self.maxSessions { all = all.filter { now - $0.value.lastUsed < Self.idleLifetime } }
            if all.count >= Self.maxSessions, let oldest = all.min(by: { $0.value.lastUsed < $1.value.lastUsed })?.key { all[oldest] = nil }
            all[id] = Session(token: token, csrf: csrf, lastUsed: now)
        }
        return (id, csrf)
    }

    /// The live session a request's cookie names, touched.
    func session(_ headers: HTTPFields) -> (id: String, session: Session)? {
        guard let id = Self.cookie(Self.cookieName, in: headers) else { return nil }
        let now = ContinuousClock.now
        return sessions.withLock { all in
            guard var s = all[id] else { return nil }
            if now - s.lastUsed > Self.idleLifetime {
                all[id] = nil
                return nil
            }
            s.lastUsed = now
            all[id] = s
            return (id, s)
        }
    }

    func remove(_ id: String) { _ = sessions.withLock { $0.removeValue(forKey: id) } }

    /// The `Authorization` a request with a session cookie carries (`Bearer <token>`), or nil
    /// without one. A state change (anything but GET/HEAD) must bring the session's CSRF token.
    func authorization(_ headers: HTTPFields, method: HTTPRequest.Method) throws -> String? {
        guard let (_, s) = session(headers) else { return nil }
        if method != .get && method != .head {
            guard let sent = headers[Self.csrfHeader], Self.constantTimeEqual(sent, s.csrf) else {
                throw APIError(
                    status: 403, code: "csrf",
                    message: "a change made with the web UI's session needs its CSRF token in \(Self.csrfHeader.canonicalName); reload the page")
            }
        }
        return "Bearer " + s.token
    }

    /// `Set-Cookie` for a session, or to clear it.
    func setCookie(_ id: String?) -> String {
        let secure = secureCookies ? "; Secure" : ""
        guard let id else { return "\(Self.cookieName)=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0\(secure)" }
        return "\(Self.cookieName)=\(id); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(Int(Self.idleLifetime.components.seconds))\(secure)"
    }

    static func cookie(_ name: String, in headers: HTTPFields) -> String? {
        for field in headers[values: .cookie] {
            for pair in field.split(separator: ";") {
                let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0] == name { return String(parts[1]) }
            }
        }
        return nil
    }

    static func random() -> String {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        return bytes.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
