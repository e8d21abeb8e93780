import ExtensionSDK

/// Which changes a subscription wants: a repository, event kinds, branch/tag patterns, pull
/// request actions (nil: the defaults).
public struct ChangeFilter: Sendable, Equatable {
    public var repository: String
    public var events: [String]?
    public var branches: [String]?
    public var tags: [String]?
    public var actions: [String]?

    public init(repository: String, events: [String]? = nil, branches: [String]? = nil, tags: [String]? = nil, actions: [String]? = nil) {
        self.repository = repository
        self.events = events
        self.branches = branches
        self.tags = tags
        self.actions = actions
    }
}

/// What a delivery is about, reduced to what filters and variables need.
public struct Change: Sendable, Equatable {
    public var kind: String
    public var repository: String
    public var ref: String
    public var branch: String?
    public var tag: String?
    public var sha: String
    public var actor: String
    public var event: String
    public var action: String?
    public var pullRequest: Int64?

    /// The change a delivery describes; nil for events and refs that start no runs.
    public init?(event: String, payload p: JSONValue) {
        self.event = event
        repository = p["repository"]?["full_name"]?.stringValue ?? ""
        actor = p["sender"]?["login"]?.stringValue ?? ""
        action = p["action"]?.stringValue
        switch event {
        case "push":
            ref = p["ref"]?.stringValue ?? ""
            sha = p["after"]?.stringValue ?? ""
            if p["deleted"]?.boolValue == true { return nil }
            if ref.hasPrefix("refs/tags/") {
                kind = "tag"
                tag = String(ref.dropFirst("refs/tags/".count))
            } else if ref.hasPrefix("refs/heads/") {
                kind = "push"
                branch = String(ref.dropFirst("refs/heads/".count))
            } else {
                return nil
            }
        case "pull_request":
            kind = "pull_request"
            branch = p["pull_request"]?["base"]?["ref"]?.stringValue
            ref = p["pull_request"]?["head"]?["ref"]?.stringValue.map { "refs/heads/\($0)" } ?? ""
            sha = p["pull_request"]?["head"]?["sha"]?.stringValue ?? ""
            pullRequest = p["number"]?.intValue
        case "release":
            kind = "release"
            tag = p["release"]?["tag_name"]?.stringValue
            ref = tag.map { "refs/tags/\($0)" } ?? ""
            sha = p["release"]?["target_commitish"]?.stringValue ?? ""
        default:
            return nil
        }
        if repository.isEmpty { return nil }
    }

    /// Whether a subscription with this filter wants the change.
    public func matches(_ params: ChangeFilter) -> Bool {
        guard params.repository.lowercased() == repository.lowercased() else { return false }
        guard (params.events ?? ["push"]).contains(kind) else { return false }
        switch kind {
        case "pull_request":
            guard (params.actions ?? ["opened", "synchronize", "reopened"]).contains(action ?? "") else { return false }
            return Self.any(params.branches, branch)
        case "release":
            guard action == "published" else { return false }
            return Self.any(params.tags, tag)
        case "tag": return Self.any(params.tags, tag)
        default: return Self.any(params.branches, branch)
        }
    }

    static func any(_ patterns: [String]?, _ value: String?) -> Bool {
        guard let patterns, !patterns.isEmpty else { return true }
        guard let value else { return false }
        return patterns.contains { Glob($0)?.matches(value) == true }
    }

    /// The run variables (`GOFER_GIT_*`, `GOFER_GITHUB_*`).
    public func variables(delivery: String) -> [String: String] {
        var v = [
            "GOFER_GIT_REPOSITORY": repository, "GOFER_GIT_SHA": sha, "GOFER_GIT_REF": ref, "GOFER_GIT_ACTOR": actor,
            "GOFER_GITHUB_EVENT": event, "GOFER_GITHUB_DELIVERY": delivery,
        ]
        if let branch { v["GOFER_GIT_BRANCH"] = branch }
        if let tag { v["GOFER_GIT_TAG"] = tag }
        if let action { v["GOFER_GITHUB_ACTION"] = action }
        if let pullRequest { v["GOFER_GIT_PULL_REQUEST"] = String(pullRequest) }
        return v
    }
}

