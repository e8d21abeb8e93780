import ExtensionClient
import ExtensionSDK
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The SDK's flow control against a real extension process.
struct StreamingTests {
    func echo() async throws -> ExtensionConnection {
        let connection = try ExtensionConnection.spawn(ExtensionLaunch(executable: BuiltProducts.path("gofer-task-echo")))
        _ = try await connection.initialize(InitializeOptions(kind: .task))
        return connection
    }

    @Test func outputNeverExceedsTheGrantedWindow() async throws {
        let connection = try await echo()
        defer { connection.kill() }
        // 2,000 lines of 100 bytes through a 1 KiB window.
        let line = String(repeating: "x", count: 99)
        let (chunks, result) = connection.requestStream(
            "task/run", ["params": ["message": .string(line), "repeat": 2000]], windowBytes: 1024)
        var total = 0
        var largest = 0
        for await chunk in chunks {
            total += chunk.bytes.count
            largest = max(largest, chunk.bytes.count)
            // A slow consumer: the producer must wait for credit, not buffer without bound.
            if total % 20_000 < 100 { try await Task.sleep(for: .milliseconds(5)) }
        }
        let value = try await result.value
        #expect(value["status"] == "success")
        #expect(total == 200_000)
        #expect(largest <= 1024)
        #expect(connection.violations.isEmpty, "\(connection.violations)")
    }

    @Test func pingIsAnsweredWhileAStreamIsBlockedOnCredit() async throws {
        let connection = try await echo()
        defer { connection.kill() }
        // Open a stream and never consume it: the producer stalls on credit.
        let (chunks, result) = connection.requestStream("task/run", ["params": ["message": "blocked", "repeat": 10_000]], windowBytes: 64)
        try await Task.sleep(for: .milliseconds(100))
        // A ping stuck behind the stalled stream would never be answered: its own timeout fails
        // the test (no wall-clock bound a loaded machine could cross).
        let pong = try await connection.request("$/ping", timeout: .seconds(60))
        #expect(pong.objectValue != nil, "\(pong)")
        result.cancel()
        _ = chunks
    }
}

/// The host's writer to an extension never blocks on an extension that stops reading.
struct FrameWriterTests {
    @Test func writesToAPeerThatDoesNotReadAreQueuedNotBlocking() async throws {
        let child = try ChildProcess.spawn("/bin/sleep", arguments: ["30"])
        defer { child.signalGroup(SIGKILL) }
        let chunk = [UInt8](repeating: 0x61, count: 64 * 1024)
        // 4 MiB into a 1 MiB pipe that nobody reads: a blocking writer would hang here.
        for _ in 0..<64 { #expect(child.stdin.write(chunk)) }
        #expect(child.stdin.queuedBytes > 0)
        // Past the queue limit the peer counts as gone.
        var accepted = true
        for _ in 0..<400 where accepted { accepted = child.stdin.write(chunk) }
        #expect(!accepted)
    }

    @Test func queuedFramesArriveWholeAndInOrder() async throws {
        let child = try ChildProcess.spawn("/bin/cat")
        defer { child.signalGroup(SIGKILL) }
        let reader = Task.detached { () -> Int in
            var lines = 0
            LineReader.readLoop(fd: child.stdoutFD, maxLineBytes: 1 << 20) { event in
                if case .line(let l) = event, l.count == 10_000, l.allSatisfy({ $0 == UInt8(ascii: "0") + UInt8(lines % 10) }) {
                    lines += 1
                }
            }
            return lines
        }
        for i in 0..<500 { child.stdin.write([UInt8](repeating: UInt8(ascii: "0") + UInt8(i % 10), count: 10_000) + [0x0A]) }
        while child.stdin.queuedBytes > 0 { try await Task.sleep(for: .milliseconds(10)) }
        child.closeStdin()
        #expect(await reader.value == 500)
    }
}
