import ExtensionSDK
import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOCore
import NIOSSL
import Synchronization

/// What the attach client sends: keystrokes, a new terminal size, or the end of input.
public enum AttachClientInput: Sendable {
    case bytes([UInt8])
    case resize(TerminalSize)
    case eof
}

extension APIClient {
    /// Opens `command` (nil: the image's shell) inside a running task over a WebSocket, sends
    /// `input`, hands output to `output` (1 stdout, 2 stderr) and returns the command's exit code.
    /// A refused attach (no permission, the task not running, attach turned off) is the server's
    /// own error, as for any other call.
    public func attach(
        namespace: String, pipeline: String, run: Int, task: String, command: [String]?, tty: Bool, size: TerminalSize?,
        input: AsyncStream<AttachClientInput>, output: @escaping @Sendable (UInt8, [UInt8]) -> Void
    ) async throws -> Int {
        var path =
            "/api/namespaces/\(Self.segment(namespace))/pipelines/\(Self.segment(pipeline))/runs/\(run)/tasks/\(Self.segment(task))/attach?tty=\(tty)"
        if let command { path += "&command=" + Self.segment(JSONValue.array(command.map(JSONValue.string)).description) }
        if let size { path += "&rows=\(size.rows)&cols=\(size.cols)" }
        let scheme = url.lowercased().hasPrefix("https://") ? "wss://" : "ws://"
        let wsURL = scheme + String(url.split(separator: "://", maxSplits: 1).last ?? "") + path
        var headers = HTTPFields()
        if let token { headers[.authorization] = "Bearer \(token)" }
        var tls: TLSConfiguration?
        if scheme == "wss://" {
            var t = TLSConfiguration.makeClientConfiguration()
            if let ca = caCertificate { t.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca)) }
            tls = t
        }
        // Ask first over plain HTTP: the router runs the checks the upgrade runs and answers 426
        // when all pass, or the refusal with its reason (no permission, not running, a scheduler
        // that cannot attach) — so a refusal never depends on how a WebSocket closes.
        do {
            _ = try await raw("GET", String(path))
        } catch let error as APIError where error.status == 426 {
            // Allowed: open the session.
        }
        var logger = Logger(label: "gofer.attach")
        logger.logLevel = .critical
        let ending = Mutex<JSONValue?>(nil)
        do {
            try await WebSocketClient.connect(
                url: wsURL, configuration: .init(maxFrameSize: 1 << 20, additionalHeaders: headers), tlsConfiguration: tls, logger: logger
            ) { inbound, outbound, _ in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await item in input {
                            switch item {
                            case .bytes(let bytes): try await outbound.write(.binary(ByteBuffer(bytes: bytes)))
                            case .resize(let size): try await outbound.write(.text(#"{"resize":{"rows":\#(size.rows),"cols":\#(size.cols)}}"#))
                            case .eof: try await outbound.write(.text(#"{"eof":true}"#))
                            }
                        }
                    }
                    for try await message in inbound.messages(maxSize: 1 << 22) {
                        switch message {
                        case .binary(let buffer):
                            let bytes = Array(buffer.readableBytesView)
                            guard let fd = bytes.first else { continue }
                            output(fd, Array(bytes.dropFirst()))
                        case .text(let text):
                            if let control = try? JSONParser().parse(text) { ending.withLock { $0 = control } }
                        }
                        // The session's last word (an exit code or a refusal): stop reading.
                        if ending.withLock({ $0?["exit_code"] != nil || $0?["error"] != nil }) { break }
                    }
                    group.cancelAll()
                }
            }
        } catch let error as WebSocketClientError where error == .webSocketUpgradeFailed {
            // Not upgraded: ask the same path over HTTP, where the router says why.
            _ = try await raw("GET", String(path))
            throw APIError(status: 0, code: "attach_failed", message: "the server did not open the session")
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(status: 0, code: "unreachable", message: ErrorText.wrapping("cannot attach through \(base)", error), cause: error)
        }
        guard let end = ending.withLock({ $0 }) else {
            throw APIError(status: 0, code: "attach_failed", message: "the session ended without the command's exit code")
        }
        if let code = end["exit_code"]?.intValue { return Int(code) }
        // A refusal (no permission, the task not running, …) is the server's error with its status.
        throw APIError(
            status: end["status"]?.intValue.flatMap { Int(exactly: $0) } ?? 0, code: end["code"]?.stringValue ?? "attach_failed",
            message: end["error"]?.stringValue ?? "the session failed: \(end)")
    }
}
