import ExtensionClient
import ExtensionSDK
import Foundation

/// The host's `limits.maxFrameBytes` binds the extension (protocol.md §2): announced small, every
/// frame after the `initialize` answer still fits — log output is cut into smaller `stream/data`
/// frames, and an answer that cannot fit is `-32005` instead of an oversized frame.
enum FrameLimitChecks {
    /// The smallest limit the protocol allows.
    static let limit = 1024

    static let all: [Check] = [
        Check(
            id: "framing.small-frame-limit", level: .must,
            title: "under a 1 KiB limits.maxFrameBytes no frame is larger: output is cut to fit, a larger answer is -32005"
        ) { ctx in
            let session = try await ctx.open(maxFrameBytes: limit)
            _ = try await session.call(ProtocolMethod.health.rawValue)
            switch ctx.options.kind {
            case .scheduler: try await schedulerOutput(ctx, session)
            case .secrets: try await secretsAnswer(ctx, session)
            case .task: try await taskOutput(ctx, session)
            case .trigger:
                if let params = ctx.options.params {
                    _ = try await session.call(ProtocolMethod.triggerValidate.rawValue, ["params": params])
                }
            }
            try await session.assertAlive("output under a 1 KiB frame limit")
            let over = session.connection.violations.filter { $0.contains("limits.maxFrameBytes") }
            if !over.isEmpty {
                throw CheckFailure("\(over.count) frame(s) over the announced \(limit)-byte limit; the first: \(over[0])")
            }
        }
    ]

    /// A job whose output needs cutting: a 3,000-byte line, 400 control bytes (six bytes each once
    /// escaped), 300 two-byte characters and 2,000 bytes on stderr; all of it must arrive.
    static func schedulerOutput(_ ctx: CheckContext, _ session: Session) async throws {
        let script = """
            head -c 3000 /dev/zero | tr '\\0' a; echo; i=0; while [ $i -lt 400 ]; do printf '\\001'; i=$((i+1)); done; echo
            i=0; while [ $i -lt 300 ]; do printf '\\303\\274'; i=$((i+1)); done; echo; head -c 2000 /dev/zero | tr '\\0' e >&2
            """
        var expectedOut = [UInt8](repeating: 0x61, count: 3000) + [0x0A] + [UInt8](repeating: 1, count: 400) + [0x0A]
        for _ in 0..<300 { expectedOut += [0xC3, 0xBC] }
        expectedOut.append(0x0A)
        let expectedErr = [UInt8](repeating: 0x65, count: 2000)
        do {
            let handle = try await SchedulerChecks.start(session, SchedulerChecks.job(ctx, "frame-limit", script))
            let status = try await session.call(ProtocolMethod.schedulerWait.rawValue, ["handle": handle], timeout: ctx.jobTimeout)
            guard status["exitCode"] == 0 else { throw CheckFailure("the output job exited \(status["exitCode"] ?? .null): \(status)") }
            let (out, err) = try await SchedulerChecks.logBytes(session, handle, ctx)
            guard out == expectedOut, err == expectedErr else {
                throw CheckFailure(
                    "logs under a 1 KiB limit came back as \(out.count) bytes of stdout and \(err.count) of stderr, "
                        + "expected \(expectedOut.count) and \(expectedErr.count) exactly")
            }
        } catch {
            await SchedulerChecks.cleanup(session, ctx)
            throw error
        }
        await SchedulerChecks.cleanup(session, ctx)
    }

    /// A 3,000-byte secret cannot be answered within 1 KiB: the answer is -32005, and a small one still works.
    static func secretsAnswer(_ ctx: CheckContext, _ session: Session) async throws {
        let key = SecretsChecks.prefix(ctx) + "frame-limit"
        _ = try await session.call(ProtocolMethod.secretsPut.rawValue, ["key": .string(key), "value": .string(String(repeating: "s", count: 3000))])
        do {
            try await session.expectError(
                ProtocolMethod.secretsGet.rawValue, ["key": .string(key)], [.frameTooLarge], "a 3,000-byte value under a 1 KiB frame limit")
            _ = try await session.call(ProtocolMethod.secretsPut.rawValue, ["key": .string(key), "value": "small"])
            let got = try await session.call(ProtocolMethod.secretsGet.rawValue, ["key": .string(key)])
            guard got["value"] == "small" else { throw CheckFailure("a small value under a 1 KiB frame limit came back as \(got)") }
        } catch {
            _ = try? await session.call(ProtocolMethod.secretsDelete.rawValue, ["key": .string(key)])
            throw error
        }
        _ = try await session.call(ProtocolMethod.secretsDelete.rawValue, ["key": .string(key)])
    }

    /// The task's run with the given params: its output streams in frames within the limit.
    static func taskOutput(_ ctx: CheckContext, _ session: Session) async throws {
        guard let params = ctx.options.params else { return }
        let (chunks, result) = session.connection.requestStream(
            ProtocolMethod.taskRun.rawValue, ["params": params, "variables": ["GOFER_RUN": "1"]], windowBytes: 4096)
        for await _ in chunks {}
        _ = try await result.value
    }
}
