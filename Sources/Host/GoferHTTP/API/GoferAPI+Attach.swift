import ExtensionSDK
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore

/// The WebSocket side of `gofer task attach` (see ``AttachRoutes``): the upgrade decision and the session.
extension GoferAPI {
    /// Decides a WebSocket upgrade: only for the attach path, with a caller allowed to attach to
    /// a running task. Anything else is not upgraded, and the router answers it (with the reason).
    public func shouldUpgrade(_ request: HTTPRequest, peer: String?) async -> ShouldUpgradeResult<
        WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>
    > {
        guard attachEnabled, let path = request.path, let components = URLComponents(string: path) else { return .dontUpgrade }
        let parts = components.path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        // "", api, namespaces, NS, pipelines, P, runs, R, tasks, T, attach
        guard parts.count == 11, parts[1] == "api", parts[2] == "namespaces", parts[4] == "pipelines", parts[6] == "runs", parts[8] == "tasks",
            parts[10] == "attach", let run = Int(parts[7]), run > 0
        else { return .dontUpgrade }
        do {
            let ns = try identifier(parts[3], field: "ns")
            let p = try identifier(parts[5], field: "pipeline")
            let t = try identifier(parts[9], field: "task")
            if request.headerFields[.authorization] == nil, sessions.session(request.headerFields) != nil {
                throw Self.attachNeedsToken
            }
            // The same decision the router makes for the route.
            let identity = try await authenticate(
                AttachRoutes.access, headers: request.headerFields, peer: peer, query: nil, pathTarget: { .pipeline(namespace: ns, pipeline: p) })
            let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }) { a, _ in a }
            let target = try await attachServices.attachTarget(ns, p, run, t, query: query)
            return .upgrade([:]) { inbound, outbound, _ in
                await self.runAttach(target, by: identity.principal, inbound: inbound, outbound: outbound)
            }
        } catch {
            // A refused upgrade could only be an empty 400 (the WebSocket library writes it): the
            // session opens instead and says why — the API's error as its one message — and
            // closes with 4000 + the HTTP status (4401, 4403, 4404, 4409).
            let refusal = APIError.from(error)
            return .upgrade([:]) { _, outbound, _ in await Self.refuse(refusal, outbound: outbound) }
        }
    }

    /// A web UI session cookie is not accepted for attach: a browser sends cookies with a
    /// WebSocket from any site, and a WebSocket cannot carry the CSRF token that guards them.
    static let attachNeedsToken = APIError(
        status: 401, code: "attach_needs_token",
        message:
            "attach needs an API token in the Authorization header; a web UI session cookie is not accepted for attach (a WebSocket cannot carry the CSRF token that protects a session). Use `gofer task attach`")

    /// Ends a refused attach: `{"error": message, "code": …, "status": …}`, then a close with 4000 + status.
    static func refuse(_ error: APIError, outbound: WebSocketOutboundWriter) async {
        let message: JSONValue = ["error": .string(error.message), "code": .string(error.code), "status": .int(Int64(error.status))]
        try? await outbound.write(.text(message.description))
        try? await outbound.close(.unknown(UInt16(4000 + min(max(error.status, 0), 999))), reason: error.code)
    }

    /// One attached session: events around it, input from the client, output to it.
    func runAttach(_ target: AttachTarget, by: Principal, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        let ns = target.namespace
        let p = target.pipeline
        try? await store.recordEvent(
            .taskAttached, namespace: ns, pipeline: p, run: target.run, task: target.task, by: by,
            details: ["command": target.command.joined(separator: " ")])
        let (inputs, feed) = AsyncStream<AttachInput>.makeStream(bufferingPolicy: .bufferingOldest(4096))
        var ending: String
        do {
            let code: Int? = try await withThrowingTaskGroup(of: Int?.self) { group in
                group.addTask {
                    defer { feed.finish() }
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        switch message {
                        case .binary(let buffer): feed.yield(AttachInput(bytes: Array(buffer.readableBytesView)))
                        case .text(let text):
                            guard let control = try? JSONParser().parse(text) else { continue }
                            if control["eof"] == true { feed.yield(AttachInput(eof: true)) }
                            if let rows = control["resize"]?["rows"]?.intValue, let cols = control["resize"]?["cols"]?.intValue,
                                (1...1000).contains(rows), (1...1000).contains(cols)
                            {
                                feed.yield(AttachInput(size: TerminalSize(rows: Int(rows), cols: Int(cols))))
                            }
                        }
                    }
                    // The client went away: the session ends with it.
                    return nil
                }
                group.addTask {
                    try await self.engine.scheduler.attach(
                        target.handle, command: target.command, tty: target.tty, size: target.size, input: inputs
                    ) { fd, bytes in
                        var frame = ByteBuffer()
                        frame.writeInteger(UInt8(fd == "stderr" ? 2 : 1))
                        frame.writeBytes(bytes)
                        try await outbound.write(.binary(frame))
                    }
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                return first
            }
            if let code {
                ending = #"{"exit_code":\#(code)}"#
            } else {
                ending = ""
            }
            try? await store.recordEvent(
                .taskDetached, namespace: ns, pipeline: p, run: target.run, task: target.task, by: by,
                details: ["exit_code": code.map(String.init) ?? "client left"])
        } catch {
            ending = JSONValue.object(["error": .string(ErrorText.describe(error))]).description
            try? await store.recordEvent(
                .taskDetached, namespace: ns, pipeline: p, run: target.run, task: target.task, by: by, details: ["error": ErrorText.describe(error)])
        }
        if !ending.isEmpty { try? await outbound.write(.text(ending)) }
        try? await outbound.close(.normalClosure, reason: nil)
    }
}
