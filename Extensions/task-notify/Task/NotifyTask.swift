import Crypto
import ExtensionSDK
import Foundation
import NotifyConditions
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Sends alerts when a run's outcome meets a condition — to a generic webhook (JSON, signed with
/// HMAC-SHA256) and/or a Slack-compatible incoming webhook. Used as a pipeline hook; judged when
/// a run ends. An alert goes out at most once per run and condition: sent ones are remembered in
/// the extension's state directory, so a retried hook call does not repeat them.
@main
struct NotifyTask: CommonTask {
    static let manifest = Manifest(
        name: "notify", version: "0.1.0", summary: "Alerts a webhook or Slack when a run finishes, fails, or a condition holds.",
        params: .object(
            [
                "when": .object(
                    [
                        "run_finished": .boolean(description: "Every finished run."),
                        "run_failed": .boolean(description: "A failed run."),
                        "failed_in_a_row": .integer(description: "The run that makes this many failures in a row.", minimum: 2, maximum: 1000),
                        "success_rate_below": .object(
                            [
                                "percent": .integer(minimum: 1, maximum: 100),
                                "runs": .integer(description: "Over this many finished runs.", minimum: 2, maximum: 100),
                            ], required: ["percent", "runs"]),
                        "longer_than": .string(description: "A duration, e.g. 30m."),
                        "task_state": .object(
                            [
                                "task": .string(minLength: 1),
                                "state": JSONSchema(["enum": ["succeeded", "failed", "skipped", "cancelled"]]),
                            ], required: ["task", "state"]),
                    ]),
                "webhook": .object(
                    [
                        "url": .string(description: "Receives a JSON POST.", minLength: 1),
                        "secret": .string(description: "Signs the body: X-Gofer-Signature-256: sha256=HMAC.", writeOnly: true),
                    ], required: ["url"]),
                "slack": .object(["url": .string(description: "A Slack incoming-webhook URL.", minLength: 1)], required: ["url"]),
                "message": .string(description: "As a step: the message to send now (as a hook, alerts say what held).", minLength: 1),
            ]))

    struct Params: Decodable, Sendable {
        struct Webhook: Decodable, Sendable {
            var url: String
            var secret: String?
        }
        struct Slack: Decodable, Sendable { var url: String }
        var when: JSONValue?
        var webhook: Webhook?
        var slack: Slack?
        var message: String?
    }

    let ledger: SentLedger
    let session: URLSession

    init(config: NoConfig, context: ExtensionContext) throws {
        ledger = SentLedger(path: context.stateDirectory.map { $0 + "/sent.log" })
        let c = URLSessionConfiguration.ephemeral
        c.timeoutIntervalForRequest = 10
        session = URLSession(configuration: c)
    }

    func validate(_ params: Params) async throws -> [Diagnostic] {
        var problems: [Diagnostic] = []
        if params.message == nil && AlertCondition.parse(params.when ?? .null).isEmpty {
            problems.append(
                Diagnostic(
                    path: "/when", message: "name at least one condition (run_finished, run_failed, failed_in_a_row, …), or a message for a step"))
        }
        if let text = params.when?["longer_than"]?.stringValue, DurationText.parse(text) == nil {
            problems.append(Diagnostic(path: "/when/longer_than", message: "\"\(text)\" is not a duration; write e.g. 30m"))
        }
        if params.webhook == nil && params.slack == nil {
            problems.append(Diagnostic(path: "/webhook", message: "give webhook or slack (or both): where alerts go"))
        }
        for (path, url) in [("/webhook/url", params.webhook?.url), ("/slack/url", params.slack?.url)] {
            if let url, !url.contains("secret{{") && !(url.hasPrefix("https://") || url.hasPrefix("http://")) {
                problems.append(Diagnostic(path: path, message: "must be an http(s) URL"))
            }
        }
        return problems
    }

    func run(_ params: Params, run: TaskRun) async throws -> TaskResult {
        let v = run.variables
        let pipeline = "\(v["GOFER_NAMESPACE"] ?? "default")/\(v["GOFER_PIPELINE"] ?? "?")"
        guard let hook = run.hook else {
            // A step: send the message now, once per execution.
            guard let message = params.message else {
                throw ProtocolError(
                    .invalidParams, "as a step, notify needs message; to alert on conditions put it under the pipeline's hooks:",
                    diagnostics: [Diagnostic(path: "/params/message", message: "required for a step")])
            }
            let base = "\(pipeline)#\(v["GOFER_RUN"] ?? "?")/step/\(run.idempotencyKey ?? UUID().uuidString)"
            let text = "[\(pipeline)] \(message)"
            var sent = 0
            if let webhook = params.webhook, !ledger.contains(base + "/webhook") {
                try await deliver(
                    to: webhook.url, body: ["pipeline": .string(pipeline), "message": .string(text)], secret: webhook.secret, key: base + "/webhook")
                ledger.add(base + "/webhook")
                sent += 1
            }
            if let slack = params.slack, !ledger.contains(base + "/slack") {
                try await deliver(to: slack.url, body: ["text": .string(text)], secret: nil, key: base + "/slack")
                ledger.add(base + "/slack")
                sent += 1
            }
            try await run.output.write("sent \(sent) message(s)\n")
            return TaskResult(status: .success, summary: "sent \(sent) message(s)")
        }
        guard hook.phase == .runFinished else { return TaskResult(status: .success, summary: "nothing to judge until the run ends") }
        let duration = hook.run.startedAt.flatMap(RFC3339.parse).flatMap { s in
            hook.run.endedAt.flatMap(RFC3339.parse).map { Int(exactly: $0.timeIntervalSince(s).rounded(.down)) ?? 0 }
        }
        let outcome = RunOutcome(
            id: hook.run.id, state: hook.run.state, durationSeconds: duration,
            tasks: Dictionary((hook.run.tasks ?? []).map { ($0.id, $0.state) }, uniquingKeysWith: { a, _ in a }),
            history: (hook.history ?? []).map { RunOutcome.Past(id: $0.id, state: $0.state) })
        var sent: [String] = []
        for condition in AlertCondition.parse(params.when ?? .null) {
            guard let why = outcome.holds(condition) else { continue }
            let message = "[\(pipeline)] \(why)" + (hook.run.reason.map { ": \($0)" } ?? "") + (hook.run.url.map { " — \($0)" } ?? "")
            let base = "\(pipeline)#\(hook.run.id)/\(condition.key)"
            if let webhook = params.webhook {
                let key = base + "/webhook"
                if !ledger.contains(key) {
                    var body: [String: JSONValue] = [
                        "pipeline": .string(pipeline), "run": .int(Int64(hook.run.id)), "state": .string(hook.run.state),
                        "condition": .string(condition.key), "message": .string(message),
                    ]
                    if let url = hook.run.url { body["url"] = .string(url) }
                    if let reason = hook.run.reason { body["reason"] = .string(reason) }
                    try await deliver(to: webhook.url, body: .object(body), secret: webhook.secret, key: key)
                    ledger.add(key)
                    sent.append("webhook: \(condition.key)")
                }
            }
            if let slack = params.slack {
                let key = base + "/slack"
                if !ledger.contains(key) {
                    try await deliver(to: slack.url, body: ["text": .string(message)], secret: nil, key: key)
                    ledger.add(key)
                    sent.append("slack: \(condition.key)")
                }
            }
        }
        if !sent.isEmpty { try await run.output.write("sent \(sent.joined(separator: ", "))\n") }
        return TaskResult(status: .success, summary: sent.isEmpty ? "no condition held" : "sent \(sent.count) alert(s)")
    }

    /// POSTs with up to three attempts (1 s, then 2 s apart) on network errors, 429 and 5xx;
    /// another 4xx fails at once. The delivery key lets a receiver drop a repeat.
    func deliver(to url: String, body: JSONValue, secret: String?, key: String) async throws {
        guard let target = URL(string: url), target.host != nil else {
            throw ProtocolError(.invalidParams, "\(url) is not a URL")
        }
        let data = Data(body.description.utf8)
        var request = URLRequest(url: target)
        request.httpMethod = "POST"
        request.httpBody = data
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("gofer-task-notify", forHTTPHeaderField: "User-Agent")
        request.setValue(key, forHTTPHeaderField: "X-Gofer-Delivery")
        if let secret, !secret.isEmpty {
            let mac = HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: Data(secret.utf8)))
            request.setValue("sha256=" + mac.map { String(format: "%02x", $0) }.joined(), forHTTPHeaderField: "X-Gofer-Signature-256")
        }
        var last = ""
        for attempt in 0..<3 {
            if attempt > 0 { try await Task.sleep(for: .seconds(attempt)) }
            do {
                let (answer, response) = try await session.data(for: request)
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                if (200..<300).contains(status) { return }
                last = "\(target.host ?? url) answered \(status): \(String(decoding: answer.prefix(200), as: UTF8.self))"
                if status != 429 && status < 500 { throw ProtocolError(.failedPrecondition, last) }
            } catch let e as ProtocolError {
                throw e
            } catch {
                last = ErrorText.wrapping("cannot reach \(target.host ?? url)", error)
            }
        }
        throw ProtocolError(.unavailable, last, retryable: true)
    }
}

/// Alerts already sent, one key a line in the state directory (the newest 10 000 kept).
final class SentLedger: Sendable {
    let path: String?
    private let keys: Mutex<(order: [String], set: Set<String>)>

    init(path: String?) {
        self.path = path
        let lines = path.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }?.split(separator: "\n").map(String.init) ?? []
        let kept = Array(lines.suffix(10_000))
        keys = Mutex((kept, Set(kept)))
    }

    func contains(_ key: String) -> Bool { keys.withLock { $0.set.contains(key) } }

    func add(_ key: String) {
        let rewrite: [String]? = keys.withLock { k in
            guard k.set.insert(key).inserted else { return nil }
            k.order.append(key)
            if k.order.count > 12_000 {
                for old in k.order.prefix(k.order.count - 10_000) { k.set.remove(old) }
                k.order = Array(k.order.suffix(10_000))
                return k.order
            }
            return []
        }
        guard let path, let rewrite else { return }
        if rewrite.isEmpty {
            if let h = FileHandle(forWritingAtPath: path) {
                h.seekToEndOfFile()
                h.write(Data((key + "\n").utf8))
                try? h.synchronize()
                try? h.close()
            } else {
                if !FileManager.default.createFile(atPath: path, contents: Data((key + "\n").utf8), attributes: [.posixPermissions: 0o600]) {
                    // Kept in memory still: only a restart of this extension could send this alert again.
                    FileHandle.standardError.write(Data("notify: cannot write \(path); sent alerts are remembered until a restart only\n".utf8))
                }
            }
        } else {
            try? (rewrite.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        }
    }
}
