import ExtensionSDK
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore

/// `gofer task attach`: a command (a shell by default) inside a running task, its terminal carried
/// over a WebSocket between the CLI and the server, and over `scheduler/attach` between the server
/// and the scheduler extension.
///
/// The wire, client ↔ server: binary frames are terminal bytes — from the client, keystrokes; from
/// the server, output, its first byte naming the stream (1 stdout, 2 stderr). Text frames are JSON
/// control: the client sends `{"resize":{"rows":R,"cols":C}}` and `{"eof":true}`; the server ends
/// with `{"exit_code":N}` or `{"error":"…"}`, then closes.
enum AttachRoutes: RouteCollection {
    /// What these routes use, and nothing else.
    struct Services: RouteServices {
        /// `task_attach`: off, nothing is attached to.
        let attachEnabled: Bool
        let store: any RunRepository & EventRepository
        let engine: RunEngine
    }

    typealias Route = GoferHTTP.Route<Services>

    static let path = APIPath.task + "/attach"
    static let access = TokenAccess.permission(Permission(.attach, .write), .path)

    /// Reached only by requests that did not upgrade: it reports why (the same checks the upgrade
    /// ran), or that a WebSocket is needed.
    static let routes: [Route] = [
        Route(.get, path, access) { s, req, ctx in
            let (ns, p, r) = try s.runParams(ctx)
            let query = Dictionary(req.uri.queryParameters.map { (String($0.key), String($0.value)) }) { a, _ in a }
            _ = try await s.attachTarget(ns, p, r, try s.param(ctx, "task"), query: query)
            throw APIError(
                status: 426, code: "upgrade_required",
                message: "attach speaks WebSocket: send the request with Upgrade: websocket (gofer task attach does)")
        }
    ]
}

/// What an attach request names, checked: the task is running and the scheduler can attach.
struct AttachTarget: Sendable {
    var namespace: String
    var pipeline: String
    var run: Int
    var task: String
    var handle: String
    var command: [String]
    var tty: Bool
    var size: TerminalSize?
}

extension AttachRoutes {
    static let disabled = APIError(
        status: 404, code: "attach_disabled",
        message: "attaching to tasks is turned off on this server (its admin set task_attach: false)")
}

extension AttachRoutes.Services {
    /// Checks an attach request: the setting, the task's state, the scheduler, the query.
    func attachTarget(_ ns: String, _ p: String, _ r: Int, _ t: String, query: [String: String]) async throws -> AttachTarget {
        guard attachEnabled else { throw AttachRoutes.disabled }
        let execution = try await store.task(namespace: ns, pipeline: p, run: r, task: t)
        guard execution.state == .running, let handle = execution.handle else {
            throw APIError(
                status: 409, code: "not_running",
                message: "task \(t) of run \(ns)/\(p)#\(r) is \(execution.state.rawValue); only a running task can be attached to")
        }
        guard await engine.scheduler.canAttach() else {
            throw APIError(
                status: 409, code: "attach_unsupported",
                message: "the scheduler running this task cannot run commands inside it (its extension does not advertise \"attach\")")
        }
        var command = ["/bin/sh"]
        if let text = query["command"] {
            guard let parsed = (try? JSONParser().parse(text))?.arrayValue?.compactMap(\.stringValue), !parsed.isEmpty,
                parsed.allSatisfy({ !$0.contains("\0") })
            else {
                throw APIError.badRequest(
                    "command must be a JSON array of strings, e.g. [\"sh\",\"-c\",\"ls\"]", details: [.init(field: "command", message: "got \(text.prefix(80))")])
            }
            command = parsed
        }
        let tty = try query["tty"].map { try flagValue($0, "tty") } ?? true
        var size: TerminalSize?
        if let rows = query["rows"], let cols = query["cols"] {
            guard let r = Int(rows), let c = Int(cols), (1...1000).contains(r), (1...1000).contains(c) else {
                throw APIError.badRequest("rows and cols must be whole numbers from 1 to 1000", details: [.init(field: "rows", message: "got \(rows)×\(cols)")])
            }
            size = TerminalSize(rows: r, cols: c)
        }
        return AttachTarget(namespace: ns, pipeline: p, run: r, task: t, handle: handle, command: command, tty: tty, size: size)
    }
}
