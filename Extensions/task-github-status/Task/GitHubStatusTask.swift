import ExtensionSDK
import Foundation
import GitHubStatusClient

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Sets a GitHub commit status on the commit a run is about. As a pipeline **hook** it posts
/// `pending` when the run starts and `success` / `failure` / `error` (cancelled) when it ends; as
/// a **step** it posts the `state` its settings name. Authenticates with a token or as a GitHub
/// App (a JWT signed RS256, exchanged for an installation token that is refreshed before it
/// expires). Works with GitHub Enterprise (`apiUrl`).
@main
struct GitHubStatusTask: CommonTask {
    static let manifest = Manifest(
        name: "github-status", version: "0.1.0", summary: "Sets GitHub commit statuses for runs (pending, then success/failure/error).",
        config: .object([
            "token": .string(description: "A token with commit-status write access (fine-grained: Commit statuses).", writeOnly: true),
            "appId": .string(description: "GitHub App id (with privateKey and installationId, instead of token).", pattern: "^[0-9]+$"),
            "privateKey": .string(description: "The App's private key (PEM).", writeOnly: true),
            "installationId": .string(description: "The App's installation id on the owner of the repositories.", pattern: "^[0-9]+$"),
            "apiUrl": .string(description: "API base URL (GitHub Enterprise: https://HOST/api/v3).", pattern: "^https?://"),
        ]),
        params: .object([
            "repository": .string(description: "owner/name; default: the run's GOFER_GIT_REPOSITORY.", pattern: "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"),
            "sha": .string(description: "The commit; default: the run's GOFER_GIT_SHA.", pattern: "^[0-9a-fA-F]{7,64}$"),
            "context": .string(description: "Names the status on the commit; default gofer/PIPELINE.", minLength: 1),
            "description": .string(description: "Replaces the description Gofer writes."),
            "targetUrl": .string(description: "Link of the status; default: the run's page (server setting public_url)."),
            "state": JSONSchema(["enum": ["pending", "success", "failure", "error"], "description": "As a step: the state to set."]),
        ]))

    struct Config: Decodable, Sendable {
        var token: String?
        var appId: String?
        var privateKey: String?
        var installationId: String?
        var apiUrl: String?
    }

    struct Params: Decodable, Sendable {
        var repository: String?
        var sha: String?
        var context: String?
        var description: String?
        var targetUrl: String?
        var state: String?
    }

    let client: GitHubClient

    init(config: Config, context: ExtensionContext) throws {
        let base = (config.apiUrl ?? "https://api.github.com").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        guard let url = URL(string: base), url.host != nil else {
            throw ProtocolError(
                .invalidConfig, "apiUrl \"\(base)\" is not a URL", diagnostics: [Diagnostic(path: "/config/admin/apiUrl", message: "not a URL")])
        }
        let auth: GitHubClient.Auth
        if let token = config.token, !token.isEmpty {
            auth = .token(token)
        } else if let app = config.appId, let key = config.privateKey, let installation = config.installationId {
            do {
                auth = .app(try GitHubAppJWT(appID: app, privateKeyPEM: key), installation: installation)
            } catch let e as GitHubError {
                throw ProtocolError(.invalidConfig, e.message, diagnostics: [Diagnostic(path: "/config/admin/privateKey", message: e.message)])
            }
        } else {
            throw ProtocolError(
                .invalidConfig, "give token, or appId with privateKey and installationId (a GitHub App)",
                diagnostics: [Diagnostic(path: "/config/admin/token", message: "required without appId, privateKey and installationId")])
        }
        client = GitHubClient(base: url, auth: auth)
    }

    func validate(_ params: Params) async throws -> [Diagnostic] {
        var problems: [Diagnostic] = []
        if let t = params.targetUrl, !(t.hasPrefix("https://") || t.hasPrefix("http://")) {
            problems.append(Diagnostic(path: "/targetUrl", message: "must be an http(s) URL"))
        }
        return problems
    }

    func run(_ params: Params, run: TaskRun) async throws -> TaskResult {
        let v = run.variables
        guard let repository = params.repository ?? v["GOFER_GIT_REPOSITORY"], let sha = params.sha ?? v["GOFER_GIT_SHA"] else {
            // A run nobody pushed (started by hand, by a timer): there is no commit to mark.
            if run.hook != nil {
                return TaskResult(status: .success, summary: "no commit to mark: the run has no GOFER_GIT_REPOSITORY / GOFER_GIT_SHA")
            }
            throw ProtocolError(
                .invalidParams, "no commit: set repository and sha, or run from a GitHub trigger (GOFER_GIT_REPOSITORY, GOFER_GIT_SHA)")
        }
        let state: CommitStatus.State
        let description: String
        if let hook = run.hook {
            state = CommitStatus.state(forRun: hook.run.state)
            let took = hook.run.startedAt.flatMap(RFC3339.parse).flatMap { s in
                hook.run.endedAt.flatMap(RFC3339.parse).map { Duration.milliseconds(Int64(exactly: ($0.timeIntervalSince(s) * 1000).rounded(.down)) ?? 0) }
            }
            description = params.description ?? CommitStatus.describe(run: hook.run.id, state: hook.run.state, reason: hook.run.reason, took: took)
        } else {
            guard let s = params.state.flatMap(CommitStatus.State.init) else {
                throw ProtocolError(
                    .invalidParams, "as a step, github-status needs state (pending, success, failure or error)",
                    diagnostics: [Diagnostic(path: "/params/state", message: "required for a step")])
            }
            state = s
            description = params.description ?? "Set by \(v["GOFER_PIPELINE"] ?? "gofer") run \(v["GOFER_RUN"] ?? "?")"
        }
        let status = CommitStatus(
            repository: repository, sha: sha, state: state, context: params.context ?? "gofer/\(v["GOFER_PIPELINE"] ?? "pipeline")",
            description: description, targetURL: params.targetUrl ?? run.hook?.run.url ?? v["GOFER_RUN_URL"])
        do {
            try await client.post(status)
        } catch let e as GitHubError {
            throw ProtocolError(e.retryable ? .unavailable : .failedPrecondition, e.message, retryable: e.retryable)
        }
        try await run.output.write("set \(state.rawValue) on \(repository)@\(sha.prefix(12)) (\(status.context))\n")
        return TaskResult(status: .success, summary: "\(status.context): \(state.rawValue)")
    }
}

/// The two calls this task makes, with authentication and GitHub's rate limits.
actor GitHubClient {
    enum Auth: Sendable {
        case token(String)
        case app(GitHubAppJWT, installation: String)
    }

    let base: URL
    let auth: Auth
    let session: URLSession
    private var installationToken: (token: String, expires: Date)?
    /// Longest wait for a rate limit inside one call; beyond it the call fails as retryable and
    /// the host retries later.
    static let maxRateLimitWait: TimeInterval = 30

    init(base: URL, auth: Auth) {
        self.base = base
        self.auth = auth
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = 20
        session = URLSession(configuration: config)
    }

    func post(_ status: CommitStatus) async throws {
        var waited: TimeInterval = 0
        while true {
            let (code, headers, body) = try await send("POST", status.path, body: status.body, bearer: try await credential())
            if (200..<300).contains(code) { return }
            if code == 401, case .app = auth, installationToken != nil {
                installationToken = nil  // revoked or expired early: get a fresh one once
                continue
            }
            if let delay = GitHubAnswer.retryDelay(status: code, headers: headers) {
                guard waited + delay <= Self.maxRateLimitWait else {
                    throw GitHubError(
                        status: code, message: "GitHub rate-limited the request (\(code)); it may be retried in \(Int(delay)) s",
                        retryable: true)
                }
                try await Task.sleep(for: .milliseconds(Int64(delay * 1000)))
                waited += delay
                continue
            }
            throw GitHubAnswer.error(status: code, body: body, repository: status.repository, sha: status.sha)
        }
    }

    /// The token to send: the configured one, or an installation token (fetched with the App's
    /// JWT, and fetched again 5 minutes before it expires).
    func credential() async throws -> String {
        switch auth {
        case .token(let t): return t
        case .app(let jwt, let installation):
            if let cached = installationToken, cached.expires.timeIntervalSinceNow > 300 { return cached.token }
            let (code, _, body) = try await send(
                "POST", "/app/installations/\(installation)/access_tokens", body: nil, bearer: try jwt.token())
            guard code == 201, let answer = try? JSONParser().parse(body), let token = answer["token"]?.stringValue else {
                if (200..<300).contains(code) {
                    throw GitHubError(status: code, message: "GitHub's installation token answer had no token", retryable: true)
                }
                var e = GitHubAnswer.error(status: code, body: body, repository: "installation \(installation)", sha: nil)
                e.message = "cannot get an installation token for App \(jwt.appID): " + e.message
                throw e
            }
            let expires = answer["expires_at"]?.stringValue.flatMap(RFC3339.parse) ?? Date().addingTimeInterval(3600)
            installationToken = (token, expires)
            return token
        }
    }

    func send(_ method: String, _ path: String, body: JSONValue?, bearer: String) async throws -> (Int, [String: String], String) {
        guard let url = URL(string: base.absoluteString + path) else {
            throw GitHubError(status: nil, message: "cannot build a GitHub URL for \(path)", retryable: false)
        }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.setValue("Bearer \(bearer)", forHTTPHeaderField: "Authorization")
        request.setValue("application/vnd.github+json", forHTTPHeaderField: "Accept")
        request.setValue("2022-11-28", forHTTPHeaderField: "X-GitHub-Api-Version")
        request.setValue("gofer-task-github-status", forHTTPHeaderField: "User-Agent")
        if let body {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(body.description.utf8)
        }
        do {
            let (data, response) = try await session.data(for: request)
            guard let http = response as? HTTPURLResponse else {
                throw GitHubError(status: nil, message: "GitHub's answer was not HTTP", retryable: true)
            }
            var headers: [String: String] = [:]
            for (k, v) in http.allHeaderFields { headers[String(describing: k).lowercased()] = String(describing: v) }
            return (http.statusCode, headers, String(decoding: data, as: UTF8.self))
        } catch let e as GitHubError {
            throw e
        } catch {
            throw GitHubError(status: nil, message: ErrorText.wrapping("cannot reach GitHub at \(base.absoluteString)", error), retryable: true)
        }
    }
}
