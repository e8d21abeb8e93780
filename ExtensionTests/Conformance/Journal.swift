import ExtensionClient
import ExtensionSDK
import Foundation
import Synchronization

/// Everything every session of a suite run saw: frames in both directions and stderr lines.
/// The whole-run checks (stdout hygiene, schema validity, secret canary) read it at the end.
final class Journal: Sendable {
    struct Entry: Sendable {
        var session: Int
        var check: String
        var frame: TappedFrame
    }

    struct StderrLine: Sendable {
        var session: Int
        var check: String
        var text: String
    }

    private let state = Mutex<(frames: [Entry], stderr: [StderrLine], nextSession: Int)>(([], [], 1))

    func newSession() -> Int {
        state.withLock { s in
            defer { s.nextSession += 1 }
            return s.nextSession
        }
    }

    func record(_ frame: TappedFrame, session: Int, check: String) {
        state.withLock { $0.frames.append(Entry(session: session, check: check, frame: frame)) }
    }

    func recordStderr(_ line: String, session: Int, check: String) {
        state.withLock { $0.stderr.append(StderrLine(session: session, check: check, text: line)) }
    }

    var frames: [Entry] { state.withLock { $0.frames } }
    var stderr: [StderrLine] { state.withLock { $0.stderr } }

    func frames(session: Int) -> [Entry] { state.withLock { $0.frames.filter { $0.session == session } } }
}

/// Checks one frame against the protocol schemas. `methodOf` maps request ids (per session and
/// direction) to methods so responses can be checked against their method's result schema.
struct FrameValidator {
    let envelope = JSONSchema(ProtocolSchemas.envelope)

    func problems(in journal: Journal) -> [String] {
        var out: [String] = []
        // (session, direction the request went, id) → method
        var requests: [String: String] = [:]
        func key(_ session: Int, _ toExtension: Bool, _ id: RequestID) -> String { "\(session)|\(toExtension)|\(id)" }
        // Requests the suite sent to provoke an error are not held to the schema: only host
        // requests that the extension answered with a result are validated.
        var succeeded: Set<String> = []
        for entry in journal.frames where entry.frame.direction == .fromExtension {
            if case .response(let id, .success)? = try? Frame.decode(entry.frame.bytes) { succeeded.insert(key(entry.session, true, id)) }
        }
        for entry in journal.frames where entry.frame.direction != .rawToExtension {
            var bytes = entry.frame.bytes
            if bytes.last == 0x0A { bytes.removeLast() }
            if bytes.isEmpty { continue }
            let who = entry.frame.direction == .toExtension ? "host→extension" : "extension→host"
            guard let value = try? JSONParser().parse(bytes) else { continue }  // hygiene reports unparsable lines
            let envelopeProblems = envelope.validate(value)
            if !envelopeProblems.isEmpty {
                out.append(
                    "[\(entry.check)] \(who) frame does not match the envelope schema: \(envelopeProblems.prefix(2).map(\.description).joined(separator: "; ")): \(Self.snippet(bytes))"
                )
                continue
            }
            guard let message = try? Frame.decode(value) else { continue }
            switch message {
            case .request(let id, let method, let params):
                let k = key(entry.session, entry.frame.direction == .toExtension, id)
                requests[k] = method
                if entry.frame.direction == .toExtension && !succeeded.contains(k) { continue }
                if let schema = ProtocolSchemas.byName[method] {
                    for p in JSONSchema(schema.params).validate(params, basePath: "/params").prefix(3) {
                        out.append("[\(entry.check)] \(who) \(method) params: \(p): \(Self.snippet(bytes))")
                    }
                }
            case .notification(let method, let params):
                if let schema = ProtocolSchemas.byName[method] {
                    for p in JSONSchema(schema.params).validate(params, basePath: "/params").prefix(3) {
                        out.append("[\(entry.check)] \(who) \(method) params: \(p): \(Self.snippet(bytes))")
                    }
                }
            case .response(let id, .success(let result)):
                // A response travels opposite to its request.
                guard let method = requests[key(entry.session, entry.frame.direction != .toExtension, id)],
                    let schema = ProtocolSchemas.byName[method]?.result
                else { continue }
                for p in JSONSchema(schema).validate(result, basePath: "/result").prefix(3) {
                    out.append("[\(entry.check)] \(who) \(method) result: \(p): \(Self.snippet(bytes))")
                }
            default:
                break
            }
        }
        return out
    }

    static func snippet(_ bytes: [UInt8]) -> String {
        let s = String(decoding: bytes.prefix(160), as: UTF8.self)
        return bytes.count > 160 ? s + "…" : s
    }
}
