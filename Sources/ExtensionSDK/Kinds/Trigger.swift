import Foundation
import Synchronization

/// An extension that starts runs when something happens.
///
/// The host calls ``subscribe(_:)`` once for each pipeline trigger entry that uses this extension
/// and cancels that task on unsubscribe. Report each occurrence with ``Subscription/emit(eventID:cursor:variables:)``:
/// it returns only after the host has stored the event, so an event is never lost.
///
/// A complete trigger, firing every few seconds:
///
/// ```swift
/// import ExtensionSDK
///
/// @main
/// struct HelloTrigger: Trigger {
///     static let manifest = Manifest(
///         name: "hello", version: "1.0.0", summary: "Fires every few seconds.",
///         params: .object(["seconds": .integer(minimum: 1)], required: ["seconds"]))
///     struct Params: Decodable, Sendable { var seconds: Int }
///
///     init(config: NoConfig, context: ExtensionContext) {}
///
///     func subscribe(_ subscription: Subscription<Params>) async throws {
///         var count = Int(subscription.cursor ?? "") ?? 0
///         while true {
///             try await Task.sleep(for: .seconds(subscription.params.seconds))
///             count += 1
///             try await subscription.emit(eventID: "\(subscription.id)-\(count)", cursor: "\(count)")
///         }
///     }
/// }
/// ```
public protocol Trigger: Extension {
    /// The per-use settings a pipeline gives, decoded after they passed ``Manifest/params``.
    associatedtype Params: Decodable & Sendable

    /// Checks settings beyond what the schema can say. The default finds no problem.
    func validate(_ params: Params) async throws -> [Diagnostic]

    /// Watches for events for one subscription until cancelled. Throwing ends the subscription
    /// and is reported to the host.
    func subscribe(_ subscription: Subscription<Params>) async throws

    /// Handles an external event (a webhook) forwarded by the host. Only called when the manifest
    /// advertises the `external` capability; the default refuses.
    func external(_ request: ExternalRequest) async throws -> ExternalResponse
}

extension Trigger {
    /// Finds no problem beyond the schema's.
    public func validate(_ params: Params) async throws -> [Diagnostic] { [] }

    /// Refuses with `-32004 NotSupported`: override, and advertise ``Capability/external``, to take webhooks.
    public func external(_ request: ExternalRequest) async throws -> ExternalResponse {
        throw ProtocolError(.notSupported, "\(Self.manifest.name) does not accept external events")
    }

    /// Serves this trigger over stdin/stdout.
    public static func main() async {
        ExtensionRuntime.main(TriggerAdapter<Self>())
    }
}

/// One active subscription of a pipeline to a trigger.
public struct Subscription<Params: Sendable>: Sendable {
    /// Chosen by the host; stable across restarts of either side.
    public let id: String
    /// The pipeline's settings for this trigger.
    public let params: Params
    /// The cursor of the last event the host acknowledged, to resume from after a restart.
    public let cursor: String?
    let context: RequestContext

    /// Hands an event to the host and waits until it is stored.
    ///
    /// If the host answers that it cannot store events right now (a retryable error, such as a
    /// full disk), the event is offered again with backoff until it is stored or the subscription
    /// is cancelled; any other error is thrown.
    ///
    /// - Parameters:
    ///   - eventID: Unique per subscription; the host acknowledges a repeated id without starting
    ///     a second run, so resending after a crash is safe.
    ///   - cursor: Where to resume from after this event; given back in ``cursor`` on re-subscribe.
    ///   - variables: Passed to the run as environment variables.
    /// - Returns: `false` if the host had already seen this event id.
    @discardableResult
    public func emit(eventID: String, cursor: String? = nil, variables: [String: String] = [:]) async throws -> Bool {
        let request = EmitRequest(
            subscriptionId: id, eventId: eventID, occurredAt: RFC3339.format(Date()), variables: variables, cursor: cursor)
        let params = try ProtocolCalls.triggerEmit.encode(request)
        var delay = Duration.milliseconds(250)
        while true {
            do {
                let answer = try ProtocolCalls.triggerEmit.decodeResult(try await context.callHost(ProtocolMethod.triggerEmit.rawValue, params))
                return answer.duplicate != true
            } catch let error as ProtocolError where error.retryable && error.message != "the host is gone" {
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(30))
            }
        }
    }
}

/// An HTTP request forwarded by the host to `POST /api/external/{trigger}`.
public struct ExternalRequest: Sendable {
    /// The request's headers, names in canonical case (`X-Hub-Signature-256`).
    public var headers: [String: String]
    /// The request's body, unchanged (check signatures over these bytes).
    public var body: [UInt8]
}

/// The answer the host returns to the HTTP caller.
public struct ExternalResponse: Sendable {
    /// The HTTP status (100–599).
    public var status: Int
    /// The body, as JSON text or plain text.
    public var body: String

    /// An answer for the webhook's caller.
    public init(status: Int, body: String) {
        self.status = status
        self.body = body
    }
}

struct TriggerAdapter<T: Trigger>: KindAdapter {
    var kind: ExtensionKind { .trigger }
    var manifest: Manifest { T.manifest }

    final class Subscriptions: Sendable {
        let tasks = Mutex<[String: Task<Void, Never>]>([:])
    }

    func start(config: JSONValue, context: ExtensionContext) async throws -> [String: RequestHandler] {
        let ext = try await T(config: Self.decodeConfig(T.Config.self, config), context: context)
        let subs = Subscriptions()
        var handlers = commonHandlers(ext)
        handlers[ProtocolMethod.triggerValidate.rawValue] = { _, params in
            let p = try decodeParams(T.Params.self, try ProtocolCalls.triggerValidate.decodeParams(params).params)
            let problems = try await ext.validate(p).map { $0.prefixed("/params") }
            return try ProtocolCalls.triggerValidate.encodeResult(Diagnostics(diagnostics: problems))
        }
        handlers[ProtocolMethod.triggerSubscribe.rawValue] = { ctx, params in
            let request = try ProtocolCalls.triggerSubscribe.decodeParams(params)
            let id = request.subscriptionId
            let p = try decodeParams(T.Params.self, request.params)
            let problems = try await ext.validate(p).map { $0.prefixed("/params") }
            if problems.contains(where: { $0.severity == "error" }) { throw ProtocolError.invalidParams(diagnostics: problems) }
            let subscription = Subscription(id: id, params: p, cursor: request.cursor, context: ctx)
            let log = ExtensionLog()
            let task = Task {
                do {
                    try await ext.subscribe(subscription)
                } catch is CancellationError {
                } catch {
                    if !Task.isCancelled { log.error("subscription ended with an error", ["subscription": id, "error": ErrorText.describe(error)]) }
                }
            }
            // Re-subscribing the same id replaces the old watcher (after a host restart).
            subs.tasks.withLock { $0.updateValue(task, forKey: id) }?.cancel()
            return .emptyObject
        }
        handlers[ProtocolMethod.triggerUnsubscribe.rawValue] = { _, params in
            let id = try ProtocolCalls.triggerUnsubscribe.decodeParams(params).subscriptionId
            subs.tasks.withLock { $0.removeValue(forKey: id) }?.cancel()
            return .emptyObject
        }
        if T.manifest.capabilities.has(.external) {
            handlers[ProtocolMethod.triggerExternal.rawValue] = { _, params in
                let request = try ProtocolCalls.triggerExternal.decodeParams(params)
                var headers: [String: String] = [:]
                for (k, v) in request.headers { headers[k.lowercased()] = v }
                guard let body = Data(base64Encoded: request.bodyB64) else {
                    throw ProtocolError.invalidParams(diagnostics: [Diagnostic(path: "/bodyB64", message: "not base64")])
                }
                let answer = try await ext.external(ExternalRequest(headers: headers, body: Array(body)))
                return try ProtocolCalls.triggerExternal.encodeResult(ForwardedAnswer(status: answer.status, body: answer.body))
            }
        }
        return handlers
    }
}
