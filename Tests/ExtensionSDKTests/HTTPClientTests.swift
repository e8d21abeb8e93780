import ExtensionSDK
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The SDK's HTTP client against a raw server on a Unix socket that sends exactly the bytes a
/// test gives it (the way dockerd streams a log: one chunk per line).
struct HTTPClientTests {
    /// Serves one connection: reads the request head, writes `pieces` one `write(2)` each (with a
    /// short pause between them when `pause` is set), then closes.
    static func serveOnce(_ pieces: [[UInt8]], pause: Bool = false) throws -> String {
        let path = NSTemporaryDirectory() + "gofer-http-\(UUID().uuidString.prefix(8)).sock"
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() where i < raw.count - 1 { raw[i] = b }
        }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 1) == 0 else { throw POSIXError(.EADDRINUSE) }
        Thread {
            let fd = accept(listener, nil, nil)
            close(listener)
            unlink(path)
            var head: [UInt8] = []
            var byte: UInt8 = 0
            while read(fd, &byte, 1) == 1 {
                head.append(byte)
                if head.suffix(4) == [13, 10, 13, 10] { break }
            }
            for piece in pieces {
                _ = piece.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if pause { usleep(2000) }
            }
            close(fd)
        }.start()
        return path
    }

    static func chunked(_ payloads: [String]) -> [UInt8] {
        var out = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        for p in payloads { out += Array("\(String(p.utf8.count, radix: 16))\r\n\(p)\r\n".utf8) }
        return out + Array("0\r\n\r\n".utf8)
    }

    static func collect(_ path: String) async throws -> (body: [UInt8], events: Int) {
        var body: [UInt8] = []
        var events = 0
        for try await event in SimpleHTTPClient(endpoint: .unix(path: path)).stream("GET", path: "/logs") {
            if case .body(let bytes) = event {
                body += bytes
                events += 1
            }
        }
        return (body, events)
    }

    /// dockerd sends a followed log one chunk per line: the client hands on everything already
    /// received at once, so 20 000 lines are a handful of events, not 20 000.
    @Test func chunksAlreadyReceivedArriveAsOnePiece() async throws {
        let lines = (0..<20_000).map { "line \($0) of a busy task's output\n" }
        let path = try Self.serveOnce([Self.chunked(lines)])
        let (body, events) = try await Self.collect(path)
        #expect(String(decoding: body, as: UTF8.self) == lines.joined())
        #expect(events < 200, "\(events) body events for 20 000 one-line chunks")
    }

    /// Chunk boundaries, size lines and CRLFs split across writes still decode to the exact bytes.
    @Test func chunksSplitAnywhereDecodeExactly() async throws {
        let lines = (0..<300).map { "x\($0)" + String(repeating: "y", count: $0 % 17) + "\n" }
        let whole = Self.chunked(lines)
        var pieces: [[UInt8]] = []
        var i = 0
        var step = 1
        while i < whole.count {
            let end = min(whole.count, i + step)
            pieces.append(Array(whole[i..<end]))
            i = end
            step = step % 7 + 1
        }
        let path = try Self.serveOnce(pieces, pause: false)
        let (body, _) = try await Self.collect(path)
        #expect(String(decoding: body, as: UTF8.self) == lines.joined())
    }

    @Test func aTruncatedChunkIsAnError() async throws {
        let path = try Self.serveOnce([Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly a few".utf8)])
        await #expect(throws: HTTPClientError.self) { _ = try await Self.collect(path) }
    }
}
