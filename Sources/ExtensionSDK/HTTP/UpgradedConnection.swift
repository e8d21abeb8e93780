import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A connection the server switched from HTTP to a raw two-way byte stream (`101 Switching
/// Protocols`, or Docker's `200` with a hijacked stream): what Docker's exec and attach use for
/// an interactive terminal.
///
/// ```swift
/// let connection = try await client.upgrade("POST", path: "/v1.41/exec/\(id)/start", body: body)
/// try connection.write(Array("echo hi\n".utf8))
/// for try await bytes in connection.output { print(String(decoding: bytes, as: UTF8.self)) }
/// ```
public final class UpgradedConnection: Sendable {
    /// The status line's code (101 or 200).
    public let status: Int
    /// Bytes as they arrive; finishes when the server closes its side.
    public let output: AsyncThrowingStream<[UInt8], any Error>
    private let fd: Int32
    private let wire: Wire
    private let endpoint: HTTPEndpoint
    private let closed = Mutex(false)

    init(status: Int, fd: Int32, wire: Wire, endpoint: HTTPEndpoint, output: AsyncThrowingStream<[UInt8], any Error>) {
        self.status = status
        self.fd = fd
        self.wire = wire
        self.endpoint = endpoint
        self.output = output
    }

    /// Sends bytes to the server (blocking until the kernel took them).
    public func write(_ bytes: [UInt8]) throws {
        guard !closed.withLock({ $0 }) else { throw HTTPClientError(endpoint: endpoint, message: "the connection is closed") }
        try SimpleHTTPClient.writeAll(wire, bytes, endpoint)
    }

    /// Closes the sending side: the remote process sees the end of its input.
    public func closeWrite() {
        guard !closed.withLock({ $0 }) else { return }
        shutdown(fd, Int32(SHUT_WR))
    }

    /// Closes the connection; the output ends.
    public func close() {
        let first = closed.withLock { c -> Bool in
            defer { c = true }
            return !c
        }
        if first { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    deinit { close() }
}

extension SimpleHTTPClient {
    /// Sends a request asking to upgrade the connection (`Connection: Upgrade`, `Upgrade: tcp`)
    /// and returns the raw connection once the server agreed. A refusal is an ``HTTPResponse``-shaped
    /// error carrying the server's status and body.
    public func upgrade(
        _ method: String, path: String, headers: [String: String] = [:], body: [UInt8]? = nil, timeout: Duration = .seconds(30)
    ) async throws -> UpgradedConnection {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nUser-Agent: gofer\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        head += "Content-Length: \(body?.count ?? 0)\r\n\r\n"
        let request = Array(head.utf8) + (body ?? [])
        let endpoint = self.endpoint
        if case .https = endpoint {
            throw HTTPClientError(endpoint: endpoint, message: "upgraded connections are for plain sockets (a Unix socket or plain TCP)")
        }
        // Connecting and reading the head block: do it on a thread of its own.
        let (fd, wire, status, headers, leftover): (Int32, Wire, Int, [String: String], [UInt8]) = try await withCheckedThrowingContinuation { c in
            Thread {
                do {
                    let fd = try Self.connect(endpoint, timeout: timeout)
                    do {
                        let wire = try Wire(fd: fd, endpoint: endpoint)
                        try Self.writeAll(wire, request, endpoint)
                        var reader = ResponseReader(wire: wire, endpoint: endpoint)
                        let (status, headers) = try reader.readHead()
                        // From here on reads wait as long as the session lasts.
                        var none = timeval(tv_sec: 0, tv_usec: 0)
                        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, socklen_t(MemoryLayout<timeval>.size))
                        c.resume(returning: (fd, wire, status, headers, Array(reader.buffer[reader.pos...])))
                    } catch {
                        Glibc.close(fd)
                        throw error
                    }
                } catch {
                    c.resume(throwing: error)
                }
            }.start()
        }
        guard status == 101 || status == 200 else {
            // A refusal: read what the server said about it.
            var body = leftover
            var scratch = [UInt8](repeating: 0, count: 4096)
            while body.count < 64 * 1024 {
                let n = scratch.withUnsafeMutableBytes { wire.recv($0.baseAddress.unsafelyUnwrapped, $0.count) }
                if n <= 0 { break }
                body += scratch[0..<n]
            }
            wire.close()
            Glibc.close(fd)
            throw UpgradeRefused(status: status, headers: headers, body: body)
        }
        let (output, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream(bufferingPolicy: .bufferingOldest(64))
        Thread {
            defer {
                wire.close()
                Glibc.close(fd)
            }
            if !leftover.isEmpty { Self.yieldBytes(continuation, leftover) }
            var scratch = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = scratch.withUnsafeMutableBytes { wire.recv($0.baseAddress.unsafelyUnwrapped, $0.count) }
                if n > 0 {
                    Self.yieldBytes(continuation, Array(scratch[0..<n]))
                } else if n == 0 || (errno != EINTR) {
                    break
                }
            }
            continuation.finish()
        }.start()
        return UpgradedConnection(status: status, fd: fd, wire: wire, endpoint: endpoint, output: output)
    }

    static func yieldBytes(_ c: AsyncThrowingStream<[UInt8], any Error>.Continuation, _ bytes: [UInt8]) {
        while true {
            switch c.yield(bytes) {
            case .enqueued, .terminated: return
            case .dropped: usleep(1000)
            @unknown default: return
            }
        }
    }
}

/// The server answered an upgrade request with something other than an upgrade.
public struct UpgradeRefused: Error, Sendable, CustomStringConvertible {
    /// The status the server answered with.
    public var status: Int
    /// Its headers, names lower-cased.
    public var headers: [String: String]
    /// Its body, which usually says why.
    public var body: [UInt8]
    /// The status and the start of the body.
    public var description: String { "HTTP \(status): \(String(decoding: body.prefix(300), as: UTF8.self))" }
}
