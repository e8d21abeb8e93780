import Crypto
import ExtensionSDK
import Foundation
import GitHubStatusClient
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import TestSupport
import _CryptoExtras

/// A FAKE GitHub REST API: the two endpoints Gofer's github-status task calls, answering as
/// GitHub's documentation says (status codes, `{"message": …}` error bodies, rate-limit headers).
/// Every request body is validated against the request schema of that operation in GitHub's
/// published OpenAPI description (a trimmed copy in Tests/fakes/github/openapi-trimmed.json), so
/// the fake cannot drift from what GitHub accepts: a request it would refuse fails the test.
final class FakeGitHub: Sendable {
    struct Status: Sendable, Equatable {
        var repository: String
        var sha: String
        var state: String
        var context: String?
        var description: String?
        var targetURL: String?
    }

    struct State: Sendable {
        var statuses: [Status] = []
        /// Requests whose body GitHub's schema refuses (a test failure).
        var schemaViolations: [String] = []
        /// The next N status requests are answered 403 with an exhausted rate limit.
        var rateLimited = 0
        var installationTokens = 0
        var requests = 0
    }

    let token: String
    /// Repositories that exist, with the commits they know.
    let repositories: [String: Set<String>]
    /// A GitHub App: its id, installation and public key (JWTs are verified with it).
    let app: (id: String, installation: String, key: _RSA.Signing.PublicKey)?
    let server: LocalHTTPServer

    var url: String { server.url }
    var statuses: [Status] { shared.state.withLock { $0.statuses } }

    static func schemas() throws -> JSONValue {
        let path = BuiltProducts.repositoryRoot.appendingPathComponent("Tests/fakes/github/openapi-trimmed.json")
        return try JSONParser().parse(try Data(contentsOf: path))
    }

    init(token: String, repositories: [String: Set<String>], app: (id: String, installation: String, key: _RSA.Signing.PublicKey)? = nil)
        async throws
    {
        self.token = token
        self.repositories = repositories
        self.app = app
        let ops = try Self.schemas()["operations"] ?? .null
        let statusSchema = JSONSchema(ops["repos/create-commit-status"]?["requestBody"]?["schema"] ?? .null)
        let tokenSchema = JSONSchema(ops["apps/create-installation-access-token"]?["requestBody"]?["schema"] ?? .null)
        let router = Router()
        let fake = Shared(token: token, repositories: repositories, app: app)
        router.post("/repos/:owner/:repo/statuses/:sha") { req, ctx -> Response in
            fake.state.withLock { $0.requests += 1 }
            let repo = "\(ctx.parameters.get("owner") ?? "")/\(ctx.parameters.get("repo") ?? "")"
            let sha = ctx.parameters.get("sha") ?? ""
            let auth = req.headers[.authorization] ?? ""
            let issued = fake.state.withLock { $0.installationTokens }
            let accepted = auth == "Bearer \(fake.token)" || (fake.app != nil && issued > 0 && auth == "Bearer ghs_installation\(issued)")
            guard accepted else {
                return Self.error(401, "Bad credentials")
            }
            let limited = fake.state.withLock { s -> Bool in
                if s.rateLimited > 0 {
                    s.rateLimited -= 1
                    return true
                }
                return false
            }
            if limited {
                return Response(
                    status: .forbidden,
                    headers: [
                        .contentType: "application/json", HTTPField.Name("x-ratelimit-remaining")!: "0",
                        HTTPField.Name("x-ratelimit-reset")!: String(Int(Date().timeIntervalSince1970) + 1),
                    ],
                    body: .init(byteBuffer: ByteBuffer(string: #"{"message":"API rate limit exceeded"}"#)))
            }
            guard let commits = fake.repositories[repo] else { return Self.error(404, "Not Found") }
            let body = try await req.body.collect(upTo: 1 << 20)
            guard let value = try? JSONParser().parse(Array(body.readableBytesView)) else { return Self.error(400, "Problems parsing JSON") }
            let problems = statusSchema.validate(value)
            if !problems.isEmpty {
                fake.state.withLock { $0.schemaViolations.append("\(problems)") }
                return Self.error(422, "Invalid request.")
            }
            guard commits.contains(sha) else { return Self.error(422, "No commit found for SHA: \(sha)") }
            let status = Status(
                repository: repo, sha: sha, state: value["state"]?.stringValue ?? "", context: value["context"]?.stringValue,
                description: value["description"]?.stringValue, targetURL: value["target_url"]?.stringValue)
            fake.state.withLock { $0.statuses.append(status) }
            let answer: JSONValue = [
                "id": .int(Int64(fake.state.withLock { $0.statuses.count })), "state": .string(status.state), "context": .string(status.context ?? "default"),
                "description": .string(status.description ?? ""), "created_at": .string(ISO8601DateFormatter().string(from: Date())),
            ]
            return Response(status: .created, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: answer.description)))
        }
        router.post("/app/installations/:installation/access_tokens") { req, ctx -> Response in
            guard let app = fake.app, ctx.parameters.get("installation") == app.installation else { return Self.error(404, "Not Found") }
            guard let jwt = (req.headers[.authorization] ?? "").split(separator: " ").last, Self.verify(jwt, app: app.id, key: app.key)
            else { return Self.error(401, "A JSON web token could not be decoded") }
            let body = try await req.body.collect(upTo: 1 << 20)
            if body.readableBytes > 0 {
                guard let value = try? JSONParser().parse(Array(body.readableBytesView)), tokenSchema.validate(value).isEmpty else {
                    fake.state.withLock { $0.schemaViolations.append("access_tokens body") }
                    return Self.error(422, "Invalid request.")
                }
            }
            let n = fake.state.withLock { s -> Int in
                s.installationTokens += 1
                return s.installationTokens
            }
            let expires = ISO8601DateFormatter().string(from: Date().addingTimeInterval(3600))
            return Response(
                status: .created, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"token":"ghs_installation\#(n)","expires_at":"\#(expires)"}"#)))
        }
        server = try await LocalHTTPServer(router: router)
        shared = fake
    }

    private let shared: Shared
    var recorded: State { shared.state.withLock { $0 } }

    /// What the routes share: the fake's settings and what it recorded.
    final class Shared: Sendable {
        let token: String
        let repositories: [String: Set<String>]
        let app: (id: String, installation: String, key: _RSA.Signing.PublicKey)?
        let state = Mutex(State())

        init(token: String, repositories: [String: Set<String>], app: (id: String, installation: String, key: _RSA.Signing.PublicKey)?) {
            self.token = token
            self.repositories = repositories
            self.app = app
        }
    }

    /// The next `n` status requests are refused with an exhausted rate limit.
    func rateLimitNext(_ n: Int) { shared.state.withLock { $0.rateLimited = n } }

    /// A JWT GitHub would take: RS256 by the App's key, `iss` the App id, at most 10 minutes long, not expired.
    static func verify(_ jwt: Substring, app: String, key: _RSA.Signing.PublicKey) -> Bool {
        let parts = jwt.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let header = GitHubAppJWT.fromBase64URL(parts[0]), let claims = GitHubAppJWT.fromBase64URL(parts[1]),
            let sig = GitHubAppJWT.fromBase64URL(parts[2]),
            let h = try? JSONParser().parse(Array(header)), h["alg"] == "RS256",
            let c = try? JSONParser().parse(Array(claims)),
            let iat = c["iat"]?.intValue, let exp = c["exp"]?.intValue, c["iss"]?.stringValue == app
        else { return false }
        let now = Int64(Date().timeIntervalSince1970)
        guard exp > now, exp - iat <= 600, iat <= now + 60 else { return false }
        let signed = Data((parts[0] + "." + parts[1]).utf8)
        return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: sig), for: signed, padding: .insecurePKCS1v1_5)
    }

    static func error(_ status: Int, _ message: String) -> Response {
        Response(
            status: HTTPResponse.Status(code: status), headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: #"{"message":"\#(message)","documentation_url":"https://docs.github.com/rest"}"#)))
    }

    func stop() async { await server.stop() }
}
