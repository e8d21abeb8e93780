import Crypto
import ExtensionSDK
import Foundation

/// Builds GitHub webhook deliveries the way GitHub does: JSON body, `X-Hub-Signature-256` =
/// `sha256=` + hex HMAC-SHA256 of the raw body under the webhook secret.
public enum GitHubWebhook {
    public static func signature(_ body: [UInt8], secret: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    /// A push of `sha` to `branch` of `repository` by `actor`.
    public static func push(repository: String, branch: String, sha: String, actor: String = "octocat") -> [UInt8] {
        let body: JSONValue = [
            "ref": .string("refs/heads/\(branch)"), "before": "0000000000000000000000000000000000000000", "after": .string(sha),
            "deleted": false, "repository": ["full_name": .string(repository), "name": .string(repository)],
            "sender": ["login": .string(actor)], "head_commit": ["id": .string(sha), "message": "change"],
        ]
        return Array(body.description.utf8)
    }

    /// The headers GitHub sends with a delivery.
    public static func headers(event: String, delivery: String, body: [UInt8], secret: String?) -> [String: String] {
        var h = [
            "Content-Type": "application/json", "X-GitHub-Event": event, "X-GitHub-Delivery": delivery,
            "User-Agent": "GitHub-Hookshot/test",
        ]
        if let secret { h["X-Hub-Signature-256"] = signature(body, secret: secret) }
        return h
    }

    /// A `trigger/external` request as the host forwards it.
    public static func forwarded(event: String, delivery: String, body: [UInt8], secret: String?) -> JSONValue {
        [
            "headers": .object(headers(event: event, delivery: delivery, body: body, secret: secret).mapValues(JSONValue.string)),
            "bodyB64": .string(Data(body).base64EncodedString()),
        ]
    }
}
