import Foundation
import Synchronization
import ExtensionSDKShims

#if canImport(Glibc)
    import Glibc
#endif

/// Where an HTTP server listens: a Unix socket (the Docker daemon), a TCP address, or a TCP
/// address spoken to over TLS.
public enum HTTPEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// A unix socket (dockerd's `/var/run/docker.sock`).
    case unix(path: String)
    /// Plain HTTP to `host:port`.
    case tcp(host: String, port: Int)
    /// HTTPS: the server's certificate is verified for `host` against `caFile` (PEM), or against
    /// the system's CAs when it is nil. Needs OpenSSL (libssl) at run time, loaded on first use.
    case https(host: String, port: Int, caFile: String?)

    /// The endpoint as a URL-like string (`unix:///var/run/docker.sock`, `https://host:443`).
    public var description: String {
        switch self {
        case .unix(let path): return "unix://\(path)"
        case .tcp(let host, let port): return "http://\(host):\(port)"
        case .https(let host, let port, _): return "https://\(host):\(port)"
        }
    }

    /// Parses `unix:///var/run/docker.sock`, `http://127.0.0.1:8080`, `127.0.0.1:8080`, or
    /// `https://host[:port]` (port 443 by default; its certificate checked against `caFile`).
    public init?(_ text: String, caFile: String? = nil) {
        if text.hasPrefix("unix://") {
            self = .unix(path: String(text.dropFirst(7)))
            return
        }
        if text.hasPrefix("https://") {
            var rest = Substring(text.dropFirst(8))
            if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
            var host = String(rest)
            var port = 443
            if let colon = rest.lastIndex(of: ":"), !rest[rest.index(after: colon)...].contains("]") {
                guard let p = Int(rest[rest.index(after: colon)...]), p > 0, p < 65536 else { return nil }
                port = p
                host = String(rest[..<colon])
            }
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { return nil }
            self = .https(host: host, port: port, caFile: caFile)
            return
        }
        var rest = Substring(text)
        if rest.hasPrefix("http://") { rest = rest.dropFirst(7) }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]), port >= 0, port < 65536 else {
            return nil
        }
        var host = String(rest[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self = .tcp(host: host, port: port)
    }
}

/// A failure talking HTTP: the server could not be reached, or answered something unreadable.
public struct HTTPClientError: Error, Sendable, CustomStringConvertible {
    /// The server the request was for.
    public var endpoint: HTTPEndpoint
    /// What went wrong, e.g. `timed out waiting for the server`.
    public var message: String
    /// Whether the whole request had been sent when it failed. When it had, the server may have
    /// acted on it though no answer came (a slow server past the timeout): before repeating a
    /// request that changes something, find out whether it took effect.
    public var requestSent = false
    /// The endpoint and what went wrong.
    public var description: String { "\(endpoint): \(message)" }
}

/// A response: status, headers (names lower-cased) and, for ``SimpleHTTPClient/send(_:path:headers:body:timeout:maxBody:)``, the body.
public struct HTTPResponse: Sendable {
    /// The HTTP status code.
    public var status: Int
    /// The headers, names lower-cased.
    public var headers: [String: String]
    /// The body (empty for streamed responses).
    public var body: [UInt8]

    /// A response: status code, headers (lower-case names) and body.
    public init(status: Int, headers: [String: String], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The body as text.
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// A small HTTP/1.1 client over Unix sockets and plain TCP: enough for the Docker Engine API, a
/// local Vault, and the Gofer API, with streamed bodies for log following.
///
/// One connection per request (`Connection: close`), blocking I/O on a dedicated thread per request;
/// cancelling the awaiting task closes the socket. HTTPS through ``HTTPEndpoint/https(host:port:caFile:)``.
public struct SimpleHTTPClient: Sendable {
    /// Where requests go.
    public var endpoint: HTTPEndpoint
    /// Sent as `Host` (dockerd refuses requests without one).
    public var hostHeader: String

    /// A client for `endpoint`; `hostHeader` defaults to `host:port` (`localhost` for a unix socket).
    public init(endpoint: HTTPEndpoint, hostHeader: String? = nil) {
        self.endpoint = endpoint
        switch endpoint {
        case .unix: self.hostHeader = hostHeader ?? "localhost"
        case .tcp(let host, let port), .https(let host, let port, _): self.hostHeader = hostHeader ?? "\(host):\(port)"
        }
    }

    /// Sends a request and collects the whole response (at most `maxBody` bytes).
    public func send(
        _ method: String, path: String, headers: [String: String] = [:], body: [UInt8]? = nil, timeout: Duration = .seconds(30),
        maxBody: Int = 64 << 20
    ) async throws -> HTTPResponse {
        var response: HTTPResponse?
        var collected: [UInt8] = []
        do {
            for try await event in stream(method, path: path, headers: headers, body: body, timeout: timeout) {
                switch event {
                case .head(let status, let headers): response = HTTPResponse(status: status, headers: headers, body: [])
                case .body(let bytes):
                    collected += bytes
                    if collected.count > maxBody {
                        throw HTTPClientError(endpoint: endpoint, message: "\(method) \(path): response body over \(maxBody) bytes")
                    }
                }
            }
        } catch {
            // Cancelling closes the socket; report that as what it is.
            try Task.checkCancellation()
            throw error
        }
        try Task.checkCancellation()
        guard var response else { throw HTTPClientError(endpoint: endpoint, message: "\(method) \(path): no response") }
        response.body = collected
        return response
    }

    /// One event of a streamed response.
    public enum Event: Sendable {
        /// The status and headers (names lower-cased), first.
        case head(status: Int, headers: [String: String])
        /// The next bytes of the body.
        case body([UInt8])
    }

    /// Sends a request and streams the response as it arrives. `timeout` bounds connecting and
    /// each read; cancel the consuming task to stop a stream that never ends (log follow).
    public func stream(
        _ method: String, path: String, headers: [String: String] = [:], body: [UInt8]? = nil, timeout: Duration? = .seconds(30)
    ) -> AsyncThrowingStream<Event, any Error> {
        let (stream, continuation) = AsyncThrowingStream<Event, any Error>.makeStream(bufferingPolicy: .bufferingOldest(64))
        let fdBox = Mutex<Int32>(-1)
        let endpoint = self.endpoint
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nConnection: close\r\nUser-Agent: gofer\r\n"
        var hasLength = false
        for (k, v) in headers {
            head += "\(k): \(v)\r\n"
            if k.lowercased() == "content-length" { hasLength = true }
        }
        if let body, !hasLength { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        let request = Array(head.utf8) + (body ?? [])
        let headLength = head.utf8.count
        let thread = Thread {
            do {
                let fd = try Self.connect(endpoint, timeout: timeout)
                fdBox.withLock { $0 = fd }
                defer {
                    fdBox.withLock { $0 = -1 }
                    close(fd)
                }
                let wire = try Wire(fd: fd, endpoint: endpoint)
                defer { wire.close() }
                // A server may answer before it has read the whole body (413, 401) and close:
                // the write then stops and the answer is read, never a hang on a full socket.
                let unsent = try Self.writeAll(wire, request, endpoint, earlyAnswerAfter: headLength, timeout: timeout)
                var reader = ResponseReader(wire: wire, endpoint: endpoint)
                let status: Int
                let headers: [String: String]
                do {
                    (status, headers) = try reader.readHead()
                } catch var error as HTTPClientError {
                    if unsent > 0 {
                        error.message = "the server closed the connection with \(unsent) of \(request.count) request bytes unsent and no answer (a body over its size limit?): \(error.message)"
                    }
                    error.requestSent = unsent == 0
                    throw error
                }
                Self.yieldOrWait(continuation, .head(status: status, headers: headers))
                try reader.readBody(headers: headers, method: method, status: status) { bytes in
                    Self.yieldOrWait(continuation, .body(bytes))
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        thread.start()
        continuation.onTermination = { _ in
            fdBox.withLock { fd in
                if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
            }
        }
        return stream
    }

    /// Back-pressure: a full buffer makes the reader thread wait instead of dropping data.
    static func yieldOrWait(_ c: AsyncThrowingStream<Event, any Error>.Continuation, _ event: Event) {
        while true {
            switch c.yield(event) {
            case .enqueued, .terminated: return
            case .dropped: usleep(1000)
            @unknown default: return
            }
        }
    }

    static func connect(_ endpoint: HTTPEndpoint, timeout: Duration?) throws -> Int32 {
        func fail(_ what: String) -> HTTPClientError {
            HTTPClientError(endpoint: endpoint, message: "\(what): \(String(cString: strerror(errno)))")
        }
        let fd: Int32
        switch endpoint {
        case .unix(let path):
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw fail("socket") }
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
                close(fd)
                throw HTTPClientError(endpoint: endpoint, message: "socket path too long")
            }
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                for (i, b) in bytes.enumerated() { raw[i] = b }
            }
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if rc != 0 {
                let e = fail("cannot connect")
                close(fd)
                throw e
            }
        case .tcp(let host, let port), .https(let host, let port, _):
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else {
                throw HTTPClientError(endpoint: endpoint, message: "cannot resolve \(host)")
            }
            defer { freeaddrinfo(result) }
            fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
            guard fd >= 0 else { throw fail("socket") }
            if Glibc.connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 {
                let e = fail("cannot connect")
                close(fd)
                throw e
            }
        }
        if let timeout {
            var tv = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }
        return fd
    }

    /// Writes all of `bytes`. With `earlyAnswerAfter` (a request's head length), stops once that
    /// much is sent if the server answers (or hangs up) before the rest went — a 413 or 401 sent
    /// before the body was read — and returns how many bytes were left unsent; otherwise 0.
    /// `timeout` bounds each wait for the socket to take more.
    @discardableResult
    static func writeAll(
        _ wire: Wire, _ bytes: [UInt8], _ endpoint: HTTPEndpoint, earlyAnswerAfter: Int? = nil, timeout: Duration? = nil
    ) throws -> Int {
        FrameWriter.ignoreSIGPIPE()
        let waitMs: Int32 = timeout.map { Int32(clamping: $0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000) } ?? -1
        var off = 0
        while off < bytes.count {
            if let head = earlyAnswerAfter, off >= head {
                var pfd = pollfd(fd: wire.fd, events: Int16(POLLIN | POLLOUT), revents: 0)
                let ready = poll(&pfd, 1, waitMs)
                if ready < 0 && errno == EINTR { continue }
                if ready == 0 {
                    throw HTTPClientError(endpoint: endpoint, message: "the server took none of the request body for \(waitMs) ms")
                }
                if ready > 0 && pfd.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 { return bytes.count - off }
            }
            // Watching for an early answer: a piece at a time, never blocking on a full socket.
            let watching = earlyAnswerAfter.map { off >= $0 } ?? false
            let count = watching ? min(bytes.count - off, 64 * 1024) : bytes.count - off
            let n = bytes.withUnsafeBytes { wire.send($0.baseAddress.unsafelyUnwrapped + off, count, wait: !watching) }
            if n < 0 {
                if errno == EINTR || (watching && (errno == EAGAIN || errno == EWOULDBLOCK)) { continue }
                if earlyAnswerAfter != nil && (errno == EPIPE || errno == ECONNRESET) { return bytes.count - off }
                throw HTTPClientError(endpoint: endpoint, message: "write failed: \(String(cString: strerror(errno)))")
            }
            off += n
        }
        return 0
    }
}

/// A connected socket, plain or with a TLS session on it. Sendable because a plain socket may be
/// read on one thread and written on another; a TLS session may not, so upgraded (two-way)
/// connections are plain only.
struct Wire: @unchecked Sendable {
    let fd: Int32
    let tls: OpaquePointer?

    init(fd: Int32, endpoint: HTTPEndpoint) throws {
        self.fd = fd
        guard case .https(let host, _, let caFile) = endpoint else {
            tls = nil
            return
        }
        var error = [CChar](repeating: 0, count: 512)
        guard let session = gofer_tls_connect(fd, host, caFile, &error, error.count) else {
            let message = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw HTTPClientError(endpoint: endpoint, message: message)
        }
        tls = session
    }

    /// Sends up to `count` bytes; without `wait` (plain sockets) only what fits now (EAGAIN if none).
    func send(_ bytes: UnsafeRawPointer, _ count: Int, wait: Bool = true) -> Int {
        if let tls { return gofer_tls_write(tls, bytes, count) }
        return Glibc.send(fd, bytes, count, Int32(MSG_NOSIGNAL) | (wait ? 0 : Int32(MSG_DONTWAIT)))
    }

    func recv(_ into: UnsafeMutableRawPointer, _ count: Int) -> Int {
        if let tls { return gofer_tls_read(tls, into, count) }
        return Glibc.recv(fd, into, count, 0)
    }

    func close() {
        if let tls { gofer_tls_close(tls) }
    }
}

/// Reads an HTTP/1.1 response from a socket.
///
/// Unread bytes are `buffer[pos...]`: consuming moves `pos` (no shifting per chunk), and the
/// consumed prefix is dropped only when the buffer is refilled. Chunked bodies are handed on
/// coalesced: every chunk already received is passed on in one piece (up to 1 MiB) before the
/// reader waits for more, so a server that sends one chunk per log line costs one event per
/// `recv`, not one per line.
struct ResponseReader {
    let wire: Wire
    let endpoint: HTTPEndpoint
    var buffer: [UInt8] = []
    var pos = 0
    var eof = false
    var scratch = [UInt8](repeating: 0, count: 65536)
    static let coalesceLimit = 1 << 20

    init(wire: Wire, endpoint: HTTPEndpoint) {
        self.wire = wire
        self.endpoint = endpoint
    }

    var available: Int { buffer.count - pos }

    mutating func fill() throws {
        if pos > 0 {
            buffer.removeFirst(pos)
            pos = 0
        }
        while true {
            let n = scratch.withUnsafeMutableBytes { wire.recv($0.baseAddress.unsafelyUnwrapped, $0.count) }
            if n > 0 {
                buffer.append(contentsOf: scratch[0..<n])
                return
            }
            if n == 0 {
                eof = true
                return
            }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK {
                throw HTTPClientError(endpoint: endpoint, message: "timed out waiting for the server")
            }
            throw HTTPClientError(endpoint: endpoint, message: "read failed: \(String(cString: strerror(errno)))")
        }
    }

    mutating func readHead() throws -> (Int, [String: String]) {
        let crlfcrlf: [UInt8] = [13, 10, 13, 10]
        while true {
            if let end = find(crlfcrlf) {
                let head = String(decoding: buffer[pos..<end], as: UTF8.self)
                pos = end + 4
                var lines = head.components(separatedBy: "\r\n")
                let statusLine = lines.removeFirst().split(separator: " ")
                guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
                    throw HTTPClientError(endpoint: endpoint, message: "not an HTTP response: \(head.prefix(80))")
                }
                var headers: [String: String] = [:]
                for line in lines {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                return (status, headers)
            }
            if available > 1 << 20 { throw HTTPClientError(endpoint: endpoint, message: "response head over 1 MiB") }
            try fill()
            if eof { throw HTTPClientError(endpoint: endpoint, message: "connection closed before a response") }
        }
    }

    /// The absolute index of `needle` in the unread bytes.
    func find(_ needle: [UInt8]) -> Int? {
        guard available >= needle.count else { return nil }
        return buffer.withUnsafeBufferPointer { b -> Int? in
            var i = pos
            let last = b.count - needle.count
            while i <= last {
                if b[i] == needle[0] {
                    var j = 1
                    while j < needle.count && b[i + j] == needle[j] { j += 1 }
                    if j == needle.count { return i }
                }
                i += 1
            }
            return nil
        }
    }

    mutating func readBody(headers: [String: String], method: String, status: Int, onData: ([UInt8]) -> Void) throws {
        if method == "HEAD" || status == 204 || status == 304 || (100..<200).contains(status) { return }
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            var out: [UInt8] = []
            func flush() {
                if !out.isEmpty {
                    onData(out)
                    out.removeAll(keepingCapacity: true)
                }
            }
            while true {
                // The next chunk's size line, from what is buffered; pass on what we have before waiting.
                var sizeLine = takeLine()
                if sizeLine == nil {
                    flush()
                    sizeLine = try line()
                }
                guard let sizeLine else { throw HTTPClientError(endpoint: endpoint, message: "truncated chunked body") }
                let sizeText = sizeLine.split(separator: ";").first.map(String.init)?.trimmingCharacters(in: .whitespaces) ?? ""
                guard let size = Int(sizeText, radix: 16), size >= 0 else {
                    throw HTTPClientError(endpoint: endpoint, message: "bad chunk size \(sizeText)")
                }
                if size == 0 {
                    flush()
                    return
                }
                var remaining = size
                while remaining > 0 {
                    if available == 0 {
                        flush()
                        try fill()
                        if eof && available == 0 { throw HTTPClientError(endpoint: endpoint, message: "truncated chunk") }
                    }
                    let take = min(remaining, available)
                    out.append(contentsOf: buffer[pos..<(pos + take)])
                    pos += take
                    remaining -= take
                    if out.count >= Self.coalesceLimit { flush() }
                }
                if takeLine() == nil {  // CRLF after the chunk
                    flush()
                    _ = try line()
                }
            }
        } else if let length = headers["content-length"].flatMap({ Int($0) }) {
            try readExactly(length, shortMessage: "body shorter than Content-Length", onData: onData)
        } else {
            while true {
                if available > 0 {
                    onData(Array(buffer[pos...]))
                    pos = buffer.count
                }
                try fill()
                if eof {
                    if available > 0 { onData(Array(buffer[pos...])) }
                    return
                }
            }
        }
    }

    /// Passes exactly `count` body bytes to `onData`, reading more as needed.
    mutating func readExactly(_ count: Int, shortMessage: String, onData: ([UInt8]) -> Void) throws {
        var remaining = count
        while remaining > 0 {
            if available == 0 {
                try fill()
                if eof && available == 0 { throw HTTPClientError(endpoint: endpoint, message: shortMessage) }
            }
            let take = min(remaining, available)
            onData(Array(buffer[pos..<(pos + take)]))
            pos += take
            remaining -= take
        }
    }

    /// A CRLF-terminated line from the buffered bytes alone, or nil when none is complete yet.
    mutating func takeLine() -> String? {
        guard let i = find([13, 10]) else { return nil }
        let text = String(decoding: buffer[pos..<i], as: UTF8.self)
        pos = i + 2
        return text
    }

    /// A CRLF-terminated line, reading as needed; nil at the end of the stream.
    mutating func line() throws -> String? {
        while true {
            if let text = takeLine() { return text }
            try fill()
            if eof { return nil }
        }
    }
}
