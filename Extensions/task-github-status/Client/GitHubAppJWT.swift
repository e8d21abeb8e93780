import ExtensionSDK
import Crypto
import Foundation
import _CryptoExtras

/// The JWT a GitHub App signs to ask for an installation token: RS256 over
/// `{"iat": now-60, "exp": now+540, "iss": appId}` (GitHub allows at most 10 minutes, and
/// back-dating `iat` a minute absorbs clock drift).
public struct GitHubAppJWT: Sendable {
    public let appID: String
    let key: _RSA.Signing.PrivateKey

    /// `pem` is the private key GitHub gave for the App (PKCS#1 `RSA PRIVATE KEY` or PKCS#8).
    public init(appID: String, privateKeyPEM pem: String) throws {
        self.appID = appID
        do {
            key = try _RSA.Signing.PrivateKey(pemRepresentation: pem)
        } catch {
            throw GitHubError(
                status: nil, message: ErrorText.wrapping("privateKey is not a PEM RSA private key (download it from the App's settings page)", error),
                retryable: false)
        }
    }

    public func token(now: Date = Date()) throws -> String {
        let iat = Int(now.timeIntervalSince1970) - 60
        let header = Self.base64URL(Data(#"{"alg":"RS256","typ":"JWT"}"#.utf8))
        let claims = Self.base64URL(Data(#"{"iat":\#(iat),"exp":\#(iat + 600),"iss":"\#(appID)"}"#.utf8))
        let input = header + "." + claims
        let signature = try key.signature(for: Data(input.utf8), padding: .insecurePKCS1v1_5)
        return input + "." + Self.base64URL(signature.rawRepresentation)
    }

    public static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public static func fromBase64URL(_ text: Substring) -> Data? {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s)
    }
}

/// What GitHub answered, as something a person can act on.
public struct GitHubError: Error, Sendable, CustomStringConvertible {
    public var status: Int?
    public var message: String
    /// Worth trying again later (rate limits, 5xx, network).
    public var retryable: Bool
    public var description: String { message }

    public init(status: Int?, message: String, retryable: Bool) {
        self.status = status
        self.message = message
        self.retryable = retryable
    }
}
