import Crypto
import ExtensionSDK
import Foundation
import Synchronization

/// Starts runs from GitHub webhooks that the host forwards from `POST /api/external/github`.
///
/// Every delivery is authenticated before anything in it is read: `X-Hub-Signature-256` must be
/// the HMAC-SHA256 of the raw body under the admin's webhook secret (compared in constant time).
/// A delivery id (`X-GitHub-Delivery`) starts at most one run per subscription, also when GitHub
/// redelivers it: it is the event id the host deduplicates on.
@main
struct GitHubTrigger: Trigger {
    static let manifest = Manifest(
        name: "github", version: "0.1.0", summary: "Starts runs from GitHub webhooks (push, tag, pull_request, release).",
        config: .object([
            "webhookSecret": .string(description: "The webhook's secret, as set in GitHub.", writeOnly: true),
            "maxBodyBytes": .integer(description: "Largest delivery accepted (GitHub sends at most 25 MB).", minimum: 1024),
        ]),
        params: .object(
            [
                "repository": .string(description: "owner/name of the repository.", pattern: "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"),
                "events": .array(
                    of: JSONSchema(["enum": ["push", "tag", "pull_request", "release"]]),
                    description: "Which events start runs (default: push)."),
                "branches": .array(of: .string(minLength: 1), description: "Branch patterns (* and **); default: all."),
                "tags": .array(of: .string(minLength: 1), description: "Tag patterns for tag and release events; default: all."),
                "actions": .array(
                    of: .string(minLength: 1), description: "pull_request actions (default: opened, synchronize, reopened)."),
            ], required: ["repository"]),
        capabilities: ["external": .emptyObject])

    struct Config: Decodable, Sendable {
        var webhookSecret: String?
        var maxBodyBytes: Int?
    }

    struct Params: Decodable, Sendable {
        var repository: String
        var events: [String]?
        var branches: [String]?
        var tags: [String]?
        var actions: [String]?
    }

    /// Live subscriptions, by id.
    final class Registry: Sendable {
        let subscriptions = Mutex<[String: Subscription<Params>]>([:])
        /// Recently handled delivery ids: a redelivery is answered without asking the host.
        let recent = Mutex<(order: [String], set: Set<String>)>(([], []))

        func seen(_ delivery: String) -> Bool {
            recent.withLock { r in
                if r.set.contains(delivery) { return true }
                r.set.insert(delivery)
                r.order.append(delivery)
                if r.order.count > 10_000 { r.set.remove(r.order.removeFirst()) }
                return false
            }
        }

        func forget(_ delivery: String) { recent.withLock { r in r.set.remove(delivery) } }
    }

    let secret: SymmetricKey?
    let maxBody: Int
    let registry = Registry()

    init(config: Config, context: ExtensionContext) throws {
        secret = config.webhookSecret.flatMap { $0.isEmpty ? nil : SymmetricKey(data: Data($0.utf8)) }
        maxBody = config.maxBodyBytes ?? 25 << 20
    }

    func validate(_ params: Params) async throws -> [Diagnostic] {
        var problems: [Diagnostic] = []
        for (i, p) in (params.branches ?? []).enumerated() where Glob(p) == nil {
            problems.append(Diagnostic(path: "/branches/\(i)", message: "\"\(p)\" is not a valid pattern"))
        }
        for (i, p) in (params.tags ?? []).enumerated() where Glob(p) == nil {
            problems.append(Diagnostic(path: "/tags/\(i)", message: "\"\(p)\" is not a valid pattern"))
        }
        return problems
    }

    func subscribe(_ subscription: Subscription<Params>) async throws {
        registry.subscriptions.withLock { $0[subscription.id] = subscription }
        // Held until unsubscribed (this task is cancelled then).
        await withTaskCancellationHandler {
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
        } onCancel: { [registry] in
            _ = registry.subscriptions.withLock { $0.removeValue(forKey: subscription.id) }
        }
    }

    static func answer(_ status: Int, _ fields: [String: JSONValue]) -> ExternalResponse {
        ExternalResponse(status: status, body: JSONValue.object(fields).description)
    }

    func external(_ request: ExternalRequest) async throws -> ExternalResponse {
        guard request.body.count <= maxBody else {
            return Self.answer(413, ["error": .string("the delivery is \(request.body.count) bytes; the limit is \(maxBody)")])
        }
        guard let secret else {
            return Self.answer(
                503, ["error": "no webhook secret is configured; set github_webhook_secret on the server and the same secret in GitHub"])
        }
        // Authenticate before reading anything else.
        guard let header = request.headers["x-hub-signature-256"] else {
            return Self.answer(401, ["error": "missing X-Hub-Signature-256; set a secret on the webhook in GitHub"])
        }
        guard header.hasPrefix("sha256="), let given = Self.hex(header.dropFirst("sha256=".count)),
            HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: request.body, using: secret)
        else {
            return Self.answer(401, ["error": "X-Hub-Signature-256 does not match the body; check the webhook secret"])
        }
        guard let delivery = request.headers["x-github-delivery"], !delivery.isEmpty, delivery.utf8.count <= 128 else {
            return Self.answer(400, ["error": "missing X-GitHub-Delivery"])
        }
        guard let event = request.headers["x-github-event"], !event.isEmpty else {
            return Self.answer(400, ["error": "missing X-GitHub-Event"])
        }
        if event == "ping" { return Self.answer(200, ["ok": "pong"]) }
        let payload: JSONValue
        do {
            payload = try JSONParser().parse(request.body)
        } catch {
            return Self.answer(400, ["error": .string("the body is not JSON (use content type application/json in GitHub): \(error)")])
        }
        guard let change = Change(event: event, payload: payload) else {
            return Self.answer(202, ["runs": 0, "ignored": .string("\(event) events do not start runs")])
        }
        if registry.seen(delivery) { return Self.answer(200, ["runs": 0, "duplicate": true, "delivery": .string(delivery)]) }
        let matching = registry.subscriptions.withLock { Array($0.values) }.filter { change.matches($0.params) }
        var runs = 0
        do {
            for s in matching where try await s.emit(eventID: delivery, variables: change.variables(delivery: delivery)) { runs += 1 }
        } catch {
            // Not stored everywhere: let GitHub's redelivery (or a manual one) try again.
            registry.forget(delivery)
            return Self.answer(503, ["error": .string("could not hand the event to Gofer: \(error)")])
        }
        return Self.answer(202, ["runs": .int(Int64(runs)), "delivery": .string(delivery)])
    }

    static func hex(_ text: Substring) -> [UInt8]? {
        guard text.utf8.count == 64 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(32)
        var high: UInt8?
        for c in text.utf8 {
            let v: UInt8
            switch c {
            case 0x30...0x39: v = c - 0x30
            case 0x61...0x66: v = c - 0x61 + 10
            case 0x41...0x46: v = c - 0x41 + 10
            default: return nil
            }
            if let h = high {
                out.append(h << 4 | v)
                high = nil
            } else {
                high = v
            }
        }
        return out
    }
}

/// What a delivery is about, reduced to what filters and variables need.
struct Change {
    var kind: String
    var repository: String
    var ref: String
    var branch: String?
    var tag: String?
    var sha: String
    var actor: String
    var event: String
    var action: String?
    var pullRequest: Int64?

    init?(event: String, payload p: JSONValue) {
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

    func matches(_ params: GitHubTrigger.Params) -> Bool {
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

    func variables(delivery: String) -> [String: String] {
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

/// A branch or tag pattern: `*` matches within one path segment, `**` across segments, `?` one character.
struct Glob {
    let pattern: [Character]

    init?(_ text: String) {
        guard !text.isEmpty, text.utf8.count <= 256, !text.contains("\0") else { return nil }
        pattern = Array(text)
    }

    func matches(_ value: String) -> Bool { Self.match(pattern[...], Array(value)[...]) }

    static func match(_ p: ArraySlice<Character>, _ s: ArraySlice<Character>) -> Bool {
        guard let first = p.first else { return s.isEmpty }
        if first == "*" {
            let rest = p.dropFirst()
            if rest.first == "*" {
                let after = rest.dropFirst()
                for i in s.indices + [s.endIndex] where match(after, s[i...]) { return true }
                return false
            }
            for i in s.indices + [s.endIndex] {
                if match(rest, s[i...]) { return true }
                if i < s.endIndex && s[i] == "/" { return false }
            }
            return false
        }
        guard let c = s.first else { return false }
        if first == "?" ? c != "/" : first == c { return match(p.dropFirst(), s.dropFirst()) }
        return false
    }
}
