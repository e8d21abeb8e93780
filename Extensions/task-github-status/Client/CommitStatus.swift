import ExtensionSDK
import Foundation

/// A commit status to post (`POST /repos/{owner}/{repo}/statuses/{sha}`).
public struct CommitStatus: Sendable, Equatable {
    public enum State: String, Sendable, CaseIterable { case pending, success, failure, error }
    public var repository: String
    public var sha: String
    public var state: State
    public var context: String
    public var description: String
    public var targetURL: String?

    public init(repository: String, sha: String, state: State, context: String, description: String, targetURL: String?) {
        self.repository = repository
        self.sha = sha
        self.state = state
        self.context = context
        self.description = description
        self.targetURL = targetURL
    }

    /// GitHub keeps at most 140 characters of a description.
    public static let maxDescription = 140

    /// The request body, as GitHub's OpenAPI description defines it.
    public var body: JSONValue {
        var o: [String: JSONValue] = [
            "state": .string(state.rawValue), "context": .string(context),
            "description": .string(String(description.prefix(Self.maxDescription))),
        ]
        if let targetURL { o["target_url"] = .string(targetURL) }
        return .object(o)
    }

    /// `owner/name` → the request path.
    public var path: String {
        let segment: CharacterSet = {
            var s = CharacterSet.urlPathAllowed
            s.remove(charactersIn: "/?#")
            return s
        }()
        let encodedSHA = sha.addingPercentEncoding(withAllowedCharacters: segment) ?? sha
        return "/repos/\(repository)/statuses/\(encodedSHA)"
    }

    /// The status a hook posts for a run phase: pending at the start; success, failure or error
    /// (a cancelled run) at the end, with the reason.
    public static func state(forRun state: String) -> State {
        switch state {
        case "running", "pending": return .pending
        case "succeeded": return .success
        case "failed": return .failure
        default: return .error
        }
    }

    public static func describe(run id: Int, state: String, reason: String?, took duration: Duration?) -> String {
        let took = duration.map { " in \(DurationText.human($0))" } ?? ""
        switch state {
        case "running", "pending": return "Run \(id) is running"
        case "succeeded": return "Run \(id) succeeded\(took)"
        default: return "Run \(id) \(state)\(took)" + (reason.map { ": \($0)" } ?? "")
        }
    }
}

/// How to read GitHub's answer: rate limits, missing access, unknown commits.
public enum GitHubAnswer {
    /// How long GitHub asks to wait before retrying (`Retry-After`, or the rate-limit reset), if it does.
    public static func retryDelay(status: Int, headers: [String: String], now: Date = Date()) -> TimeInterval? {
        guard status == 403 || status == 429 else { return nil }
        if let after = headers["retry-after"].flatMap(Double.init) { return max(after, 0) }
        if headers["x-ratelimit-remaining"] == "0", let reset = headers["x-ratelimit-reset"].flatMap(Double.init) {
            return max(reset - now.timeIntervalSince1970, 0) + 1
        }
        return status == 429 ? 60 : nil
    }

    /// The error for a non-2xx answer, naming what to fix.
    public static func error(status: Int, body: String, repository: String, sha: String?) -> GitHubError {
        let message = (try? JSONParser().parse(body))?["message"]?.stringValue ?? String(body.prefix(300))
        switch status {
        case 401:
            return GitHubError(status: status, message: "GitHub refused the credentials (401): \(message); check token / the App's key", retryable: false)
        case 403:
            return GitHubError(
                status: status,
                message: "GitHub denied access to \(repository) (403): \(message); the token or App needs the commit statuses permission (write)",
                retryable: false)
        case 404:
            return GitHubError(
                status: status,
                message: "GitHub does not know \(repository) or the credentials cannot see it (404): \(message)", retryable: false)
        case 422:
            return GitHubError(
                status: status,
                message: "GitHub refused the status (422): \(message)" + (sha.map { "; is \($0) a commit of \(repository)?" } ?? ""),
                retryable: false)
        default:
            return GitHubError(status: status, message: "GitHub answered \(status): \(message)", retryable: status >= 500)
        }
    }
}
