import Foundation

/// Facts about the running extension, handed to it once at `initialize`.
public struct ExtensionContext: Sendable {
    /// The negotiated protocol version.
    public var protocolVersion: ProtocolVersion
    /// The system layer of configuration, set by Gofer itself (host URL, data paths, …).
    public var system: JSONValue
    /// A directory the extension owns and that survives restarts and upgrades.
    public var stateDirectory: String?
    /// A scratch directory, emptied on restart.
    public var temporaryDirectory: String?
    /// Name and version of the host.
    public var hostName: String
    /// The host's version (`0.1.0`).
    public var hostVersion: String
    /// Log to stderr (never stdout, which carries only protocol frames).
    public var log: ExtensionLog { ExtensionLog() }
    /// This extension's own objects, kept by the host (survive restarts, upgrades and moves to
    /// another machine, unlike ``stateDirectory``).
    public var objects: HostObjects { HostObjects(runtime: runtime) }
    var runtime: ExtensionRuntime?
}

/// An extension's own objects, stored by the host (`objects/*`, extension → host): small state
/// such as a cursor, a token cache, the last status posted. Values travel in one protocol frame,
/// so each is at most about 3 MB; the host caps the total per extension
/// (`extension_objects_max_size`).
///
/// ```swift
/// try await context.objects.put("cursor", Array(cursor.utf8))
/// let saved = try await context.objects.get("cursor").map { String(decoding: $0, as: UTF8.self) }
/// ```
public struct HostObjects: Sendable {
    let runtime: ExtensionRuntime?

    func call<P, R>(_ call: ProtocolCall<P, R>, _ params: P) async throws -> R {
        guard let runtime else { throw ProtocolError(.unavailable, "no host to ask (not started by a host)") }
        return try call.decodeResult(try await runtime.callHost(call.method.rawValue, try call.encode(params)))
    }

    /// The object's bytes, or nil when there is none under `key`.
    public func get(_ key: String) async throws -> [UInt8]? {
        do {
            return try await call(ProtocolCalls.objectsGet, ObjectRef(key: key)).bytes
        } catch let error as ProtocolError where error.code == .notFound {
            return nil
        }
    }

    /// Stores `bytes` under `key`, replacing what was there; returns its SHA-256 (hex).
    @discardableResult
    public func put(_ key: String, _ bytes: [UInt8]) async throws -> String {
        try await call(ProtocolCalls.objectsPut, SecretWrite(key: key, bytes: bytes)).sha256
    }

    /// Deletes `key`; deleting what is not there succeeds.
    public func delete(_ key: String) async throws {
        _ = try await call(ProtocolCalls.objectsDelete, ObjectRef(key: key))
    }

    /// Every key, sorted.
    public func list() async throws -> [String] {
        try await call(ProtocolCalls.objectsList, NoFields()).keys
    }
}

/// Structured logging to stderr, one JSON object per line.
///
/// The host keeps the tail of every extension's stderr and shows it with `gofer extension logs`.
public struct ExtensionLog: Sendable {
    /// A logger for this extension's stderr.
    public init() {}

    /// Logs a detail useful when something goes wrong, with `fields` beside the message.
    public func debug(_ message: String, _ fields: [String: String] = [:]) { write("debug", message, fields) }
    /// Logs something that happened, with `fields` beside the message.
    public func info(_ message: String, _ fields: [String: String] = [:]) { write("info", message, fields) }
    /// Logs a problem the extension worked around, with `fields` beside the message.
    public func warning(_ message: String, _ fields: [String: String] = [:]) { write("warning", message, fields) }
    /// Logs a failure, with `fields` beside the message. Never log secrets.
    public func error(_ message: String, _ fields: [String: String] = [:]) { write("error", message, fields) }

    private func write(_ level: String, _ message: String, _ fields: [String: String]) {
        var o: [String: JSONValue] = fields.mapValues(JSONValue.string)
        o["ts"] = .string(RFC3339.format(Date()))
        o["level"] = .string(level)
        o["msg"] = .string(message)
        var bytes = JSONValue.object(o).serialized()
        bytes.append(0x0A)
        FileHandle.standardError.write(Data(bytes))
    }
}

/// One request being served: its id, deadline and, for streaming methods, its output stream.
public struct RequestContext: Sendable {
    /// The request id.
    public let id: RequestID
    /// The method name.
    public let method: String
    /// When the caller stops waiting, if it said (`_meta.timeoutMs`).
    public let deadline: ContinuousClock.Instant?
    /// The stream the caller opened with `_meta.stream`, if any.
    public let stream: OutputStream?
    /// What the host sends for this request with `attach/input` (`scheduler/attach` only).
    public let input: AsyncStream<AttachInput>?
    /// `_meta.idempotencyKey`, if the caller sent one.
    public let idempotencyKey: String?
    let runtime: ExtensionRuntime

    /// Sends a request to the host and waits for its answer (for example `trigger/emit`).
    public func callHost(_ method: String, _ params: JSONValue) async throws -> JSONValue {
        try await runtime.callHost(method, params)
    }
}

/// Bytes flowing to the host on a stream the host opened, under the host's flow control.
///
/// `write` suspends while the host has granted no credit, so a producer can never outrun the host
/// or starve other traffic on the pipe; it throws `CancellationError` if the request is cancelled.
public final class OutputStream: Sendable {
    /// The stream id chosen by the host.
    public let id: String
    let runtime: ExtensionRuntime

    init(id: String, runtime: ExtensionRuntime) {
        self.id = id
        self.runtime = runtime
    }

    /// Sends `bytes` as output on file descriptor `fd` (`stdout` or `stderr`), in chunks of at
    /// most 64 KiB (less when the host announced a small `limits.maxFrameBytes`: no frame exceeds
    /// it) and never more than the host's credit allows.
    public func write(_ bytes: [UInt8], fd: String = "stdout", cursor: String? = nil) async throws {
        var offset = 0
        let pieceBytes = runtime.streamPieceBytes(stream: id)
        while offset < bytes.count {
            let grant = try await runtime.takeCredit(stream: id, wanting: min(bytes.count - offset, pieceBytes))
            var end = offset + grant
            // Keep multi-byte characters whole where possible, so text stays text.
            if end < bytes.count {
                var back = end
                while back > offset, bytes[back] & 0xC0 == 0x80 { back -= 1 }
                if back > offset { end = back }
            }
            let piece = Array(bytes[offset..<end])
            runtime.refundCredit(stream: id, bytes: grant - piece.count)
            runtime.sendStreamData(stream: id, fd: fd, bytes: piece, cursor: end == bytes.count ? cursor : nil)
            offset = end
        }
    }

    /// Sends text as output.
    public func write(_ text: String, fd: String = "stdout") async throws {
        try await write(Array(text.utf8), fd: fd)
    }
}

/// What the host sends into an attached command: bytes for its stdin, the end of its input, or a
/// new terminal size. One `attach/input` notification may carry several of these.
public struct AttachInput: Sendable, Equatable {
    /// Bytes for the command's stdin (keystrokes, with a terminal).
    public var bytes: [UInt8]
    /// No more input: close the command's stdin.
    public var eof: Bool
    /// The terminal was resized.
    public var size: TerminalSize?

    /// Input: bytes for stdin, the end of input, or a new terminal size.
    public init(bytes: [UInt8] = [], eof: Bool = false, size: TerminalSize? = nil) {
        self.bytes = bytes
        self.eof = eof
        self.size = size
    }

    init(_ notice: AttachInputNotice) {
        if let text = notice.text {
            bytes = Array(text.utf8)
        } else if let b64 = notice.b64, let data = Data(base64Encoded: b64) {
            bytes = Array(data)
        } else {
            bytes = []
        }
        eof = notice.eof ?? false
        if let rows = notice.rows, let cols = notice.cols, (1...1000).contains(rows), (1...1000).contains(cols) {
            size = TerminalSize(rows: rows, cols: cols)
        }
    }
}

/// A terminal's size in character cells.
public struct TerminalSize: Sendable, Equatable, Codable {
    /// Height in rows.
    public var rows: Int
    /// Width in columns.
    public var cols: Int
    /// A size of `rows` × `cols`.
    public init(rows: Int, cols: Int) {
        self.rows = rows
        self.cols = cols
    }
}
