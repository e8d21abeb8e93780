import Crypto
import ExtensionSDK
import GitHubWebhook
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

        var filter: ChangeFilter {
            ChangeFilter(repository: repository, events: events, branches: branches, tags: tags, actions: actions)
        }
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

        func forget(_ delivery: String) { recent.withLock { r in _ = r.set.remove(delivery) } }
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
        guard WebhookSignature.isValid(header, body: request.body, secret: secret) else {
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
            return Self.answer(400, ["error": .string(ErrorText.wrapping("the body is not JSON (use content type application/json in GitHub)", error))])
        }
        guard let change = Change(event: event, payload: payload) else {
            return Self.answer(202, ["runs": 0, "ignored": .string("\(event) events do not start runs")])
        }
        if registry.seen(delivery) { return Self.answer(200, ["runs": 0, "duplicate": true, "delivery": .string(delivery)]) }
        let matching = registry.subscriptions.withLock { Array($0.values) }.filter { change.matches($0.params.filter) }
        var runs = 0
        do {
            for s in matching where try await s.emit(eventID: delivery, variables: change.variables(delivery: delivery)) { runs += 1 }
        } catch {
            // Not stored everywhere: let GitHub's redelivery (or a manual one) try again.
            registry.forget(delivery)
            return Self.answer(503, ["error": .string(ErrorText.wrapping("could not hand the event to Gofer", error))])
        }
        return Self.answer(202, ["runs": .int(Int64(runs)), "delivery": .string(delivery)])
    }
}
