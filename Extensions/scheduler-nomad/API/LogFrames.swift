import ExtensionSDK
import Foundation

/// One frame of `/v1/client/fs/logs`: base64 bytes and the offset in the log after them, a file
/// event, or a heartbeat (`{}`).
public struct LogFrame: Sendable, Equatable {
    public var data: [UInt8]
    /// The offset into the task's log stream after `data` (what a resumed read starts from).
    public var offset: Int64?
    /// `file deleted` or `file truncated`.
    public var fileEvent: String?
    /// The log file the frame comes from (`alloc/logs/task.stdout.0`).
    public var file: String?
}

/// Splits Nomad's log stream — JSON objects one after another, no separator required — into
/// frames as bytes arrive. A frame cut off by a dropped connection is never delivered, so a
/// resumed read from the last delivered frame's offset repeats nothing and skips nothing.
public struct LogFrameReader: Sendable {
    private var buffer: [UInt8] = []
    private var scanned = 0
    private var depth = 0
    private var inString = false
    private var escaped = false
    private var start: Int?

    public init() {}

    /// Bytes received but not yet part of a whole frame.
    public var pendingBytes: Int { buffer.count }

    /// Adds bytes; returns the frames they completed.
    public mutating func append(_ bytes: [UInt8]) throws -> [LogFrame] {
        buffer += bytes
        var frames: [LogFrame] = []
        var consumed = 0
        while scanned < buffer.count {
            let b = buffer[scanned]
            if inString {
                if escaped {
                    escaped = false
                } else if b == 0x5C {
                    escaped = true
                } else if b == 0x22 {
                    inString = false
                }
            } else {
                switch b {
                case 0x22: inString = true
                case 0x7B:
                    if depth == 0 { start = scanned }
                    depth += 1
                case 0x7D:
                    depth -= 1
                    if depth < 0 { throw ProtocolError(.unavailable, "Nomad log stream: unbalanced '}'", reason: "nomad.bad_log_frame") }
                    if depth == 0, let s = start {
                        frames.append(try Self.frame(Array(buffer[s...scanned])))
                        start = nil
                        consumed = scanned + 1
                    }
                case 0x20, 0x0A, 0x0D, 0x09, 0x2C, 0x28, 0x29:
                    // Whitespace, and the `,` and parentheses the documentation's samples show between frames.
                    if depth == 0 { consumed = scanned + 1 }
                default:
                    if depth == 0 {
                        throw ProtocolError(
                            .unavailable, "Nomad log stream: unexpected byte 0x\(String(b, radix: 16)) between frames", reason: "nomad.bad_log_frame")
                    }
                }
            }
            scanned += 1
        }
        if consumed > 0 {
            buffer.removeFirst(consumed)
            scanned -= consumed
            if let s = start { start = s - consumed }
        }
        return frames
    }

    static func frame(_ bytes: [UInt8]) throws -> LogFrame {
        let json: JSONValue
        do {
            json = try JSONParser().parse(bytes)
        } catch {
            throw ProtocolError(.unavailable, "Nomad log stream: a frame is not JSON", cause: error, reason: "nomad.bad_log_frame")
        }
        var data: [UInt8] = []
        if let b64 = json["Data"]?.stringValue, !b64.isEmpty {
            guard let decoded = Data(base64Encoded: b64) else {
                throw ProtocolError(.unavailable, "Nomad log stream: a frame's Data is not base64", reason: "nomad.bad_log_frame")
            }
            data = Array(decoded)
        }
        return LogFrame(
            data: data, offset: json["Offset"]?.intValue, fileEvent: json["FileEvent"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 },
            file: json["File"]?.stringValue)
    }
}
