import ExtensionClient
import ExtensionSDK
import Foundation
import TestSupport
import Testing

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
        let start = ContinuousClock.now
        _ = try await connection.request("$/ping", timeout: .seconds(2))
        #expect(ContinuousClock.now - start < .seconds(1))
        result.cancel()
        _ = chunks
    }
}
