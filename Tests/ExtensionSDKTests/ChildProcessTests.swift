import ExtensionSDK
import Foundation
import Synchronization
import Testing

/// A child whose output the SDK reads for its owner (`spawn(…, output:)`): one thread per child
/// hands on every byte of both pipes, says when they end, and learns of the exit by itself.
struct ChildProcessTests {
    /// What arrived, per stream, and whether the end was said once and last.
    final class Collected: Sendable {
        let state = Mutex<(stdout: [UInt8], stderr: [UInt8], ends: Int, afterEnd: Int)>(([], [], 0, 0))

        func take(_ event: ChildOutput) {
            state.withLock { s in
                if s.ends > 0 { s.afterEnd += 1 }
                switch event {
                case .stdout(let bytes): s.stdout += bytes
                case .stderr(let bytes): s.stderr += bytes
                case .end: s.ends += 1
                }
            }
        }

        var ended: Bool { state.withLock { $0.ends > 0 } }

        func waitForEnd() async throws {
            for _ in 0..<6000 where !ended { try await Task.sleep(for: .milliseconds(10)) }
        }
    }

    @Test func everyByteOfBothPipesArrivesThenTheEndThenTheExit() async throws {
        let collected = Collected()
        // 4 MB on stdout in 37-byte lines, 1,000 lines on stderr, then exit 3.
        let child = try ChildProcess.spawn(
            "/bin/sh", arguments: ["-c", "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 4000000; seq 1 1000 >&2; exit 3"],
            output: collected.take)
        child.closeStdin()
        let status = await child.waitForExit()
        try await collected.waitForEnd()
        #expect(status == .exited(3))
        #expect(child.exitedAt != nil && child.exitStatus == .exited(3))
        let s = collected.state.withLock { $0 }
        #expect(s.stdout.count == 4_000_000)
        #expect(Array(s.stdout.prefix(37)) == Array("0123456789abcdefghijklmnopqrstuvwxyz\n".utf8))
        #expect(String(decoding: s.stderr, as: UTF8.self) == (1...1000).map { "\($0)\n" }.joined())
        #expect(s.ends == 1 && s.afterEnd == 0, "the end is said once, and nothing comes after it")
    }

    /// A process the child started keeps the pipes open after the child exited: the exit is known
    /// at once, and the output goes on until that process closes them.
    @Test func theExitIsKnownWhileAGrandchildStillHoldsThePipes() async throws {
        let collected = Collected()
        // The grandchild holds stdout until the test lets it go (a file appears), however slow the machine.
        let release = NSTemporaryDirectory() + "gofer-child-release-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: release) }
        let child = try ChildProcess.spawn(
            "/bin/sh", arguments: ["-c", "echo first; (while [ ! -e '\(release)' ]; do sleep 0.05; done; echo late) & exit 0"],
            output: collected.take)
        child.closeStdin()
        let status = await child.waitForExit()
        #expect(status == .exited(0))
        #expect(!collected.ended, "the grandchild still holds stdout")
        #expect(FileManager.default.createFile(atPath: release, contents: nil))
        try await collected.waitForEnd()
        #expect(collected.ended)
        #expect(String(decoding: collected.state.withLock { $0.stdout }, as: UTF8.self) == "first\nlate\n")
    }
}
