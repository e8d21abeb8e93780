import Crypto
import ExtensionSDK
import Foundation
import GitHubWebhook
import Testing

/// What the GitHub trigger makes of a delivery: signatures, changes, branch and tag patterns.
struct GitHubWebhookTests {
    @Test func patternsMatchLikeGitHubsBranchFilters() throws {
        let cases: [(String, String, Bool)] = [
            ("main", "main", true), ("main", "mainline", false), ("release/*", "release/1.2", true), ("release/*", "release/1/2", false),
            ("release/**", "release/1/2", true), ("**", "a/b/c", true), ("feature-?", "feature-x", true), ("feature-?", "feature-/", false),
            ("*", "", true), ("v*.*", "v1.2", true), ("v*.*", "v12", false), ("**/fix", "a/b/fix", true), ("a**b", "a/x/b", true),
        ]
        for (pattern, value, expected) in cases {
            #expect(try #require(Glob(pattern)).matches(value) == expected, "\(pattern) ~ \(value)")
        }
        #expect(Glob("") == nil && Glob(String(repeating: "a", count: 257)) == nil && Glob("a\0b") == nil)
    }

    @Test(.timeLimit(.minutes(1))) func aPathologicalPatternCannotStallMatching() throws {
        // Backtracking would try about 2^40 ways here.
        let glob = try #require(Glob(String(repeating: "*a", count: 40) + "b"))
        #expect(!glob.matches(String(repeating: "a", count: 250)))
        let globstar = try #require(Glob(String(repeating: "**a", count: 40) + "b"))
        #expect(!globstar.matches(String(repeating: "a/", count: 120)))
    }

    @Test func signaturesAreCheckedAgainstTheRawBody() {
        let secret = SymmetricKey(data: Data("s3cret".utf8))
        let body = Array(#"{"zen": "ok"}"#.utf8)
        let header = WebhookSignature.header(for: body, secret: secret)
        #expect(header.hasPrefix("sha256=") && header.count == 71)
        #expect(WebhookSignature.isValid(header, body: body, secret: secret))
        #expect(!WebhookSignature.isValid(header, body: body + [0x20], secret: secret))
        #expect(!WebhookSignature.isValid(header.uppercased(), body: body, secret: secret), "the prefix is lower-case sha256=")
        #expect(!WebhookSignature.isValid("sha256=zz", body: body, secret: secret))
    }

    @Test func aPushBecomesAChangeWithItsVariables() throws {
        let payload = try JSONParser().parse(
            #"{"ref": "refs/heads/release/2.0", "after": "abc", "repository": {"full_name": "Acme/App"}, "sender": {"login": "bob"}}"#)
        let change = try #require(Change(event: "push", payload: payload))
        #expect(change.branch == "release/2.0" && change.kind == "push")
        #expect(change.matches(ChangeFilter(repository: "acme/app", branches: ["release/**"])))
        #expect(!change.matches(ChangeFilter(repository: "acme/app", events: ["tag"])))
        #expect(change.variables(delivery: "d")["GOFER_GIT_BRANCH"] == "release/2.0")
        #expect(Change(event: "push", payload: try JSONParser().parse(#"{"ref": "refs/heads/x", "deleted": true, "repository": {"full_name": "a/b"}}"#)) == nil)
    }
}
