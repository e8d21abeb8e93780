import ExtensionClient
import ExtensionSDK
import Foundation
import GoferHost
import TestSupport
import Testing

/// The Docker scheduler captures a container's output live (attached before it starts) and falls
/// back to the engine's log where the live capture cannot go on — without losing or repeating a line.
@Suite(.serialized)
struct DockerLiveLogTests {
    /// 60 000 numbered lines (2.4 MB) on stdout and every 1000th on stderr too.
    static let script =
        "i=0; while [ $i -lt 60000 ]; do echo line-$i of a chatty task; [ $((i % 1000)) = 0 ] && echo err-$i >&2; i=$((i+1)); done"

    static func expected(_ fd: String) -> String {
        (0..<60_000).compactMap { i in fd == "stdout" ? "line-\(i) of a chatty task\n" : (i % 1000 == 0 ? "err-\(i)\n" : nil) }.joined()
    }

    /// Past `liveLogMaxBytes` the scheduler detaches and reads the rest from the engine's log,
    /// skipping per stream what it already sent: the log is whole, each line exactly once.
    @Test func pastTheLiveCaptureLimitTheRestComesFromTheEngineWithoutRepeats() async throws {
        guard try await DockerAvailability.check() else { return }
        let connection = try ExtensionConnection.spawn(ExtensionLaunch(executable: BuiltProducts.path("gofer-scheduler-docker")))
        defer { connection.kill() }
        _ = try await connection.initialize(InitializeOptions(kind: .scheduler, adminConfig: ["liveLogMaxBytes": 1_048_576]))
        let execution = "live-limit-\(UUID().uuidString.prefix(8))"
        let handle = try await connection.call(
            ProtocolCalls.schedulerStart,
            JobSpec(
                taskExecutionID: execution, image: "busybox:latest", command: ["sh", "-c", Self.script],
                labels: ["gofer.test": "live-log"])
        ).handle
        return try await stopping({ _ = try? await ChildProcess.run("docker", arguments: ["rm", "-f", handle]) }) {
            var out: [String: [UInt8]] = ["stdout": [], "stderr": []]
            let (chunks, result) = connection.requestStream(
                ProtocolMethod.schedulerLogs.rawValue, try ProtocolCalls.schedulerLogs.encode(JobLogs(handle: handle, follow: true)),
                windowBytes: 64 * 1024)
            for await chunk in chunks { out[chunk.fd, default: []] += chunk.bytes }
            _ = try await result.value
            let stdout = String(decoding: out["stdout"] ?? [], as: UTF8.self)
            #expect(stdout.utf8.count > 1_048_576, "more than the live limit was printed")
            for (fd, got) in [("stdout", stdout), ("stderr", String(decoding: out["stderr"] ?? [], as: UTF8.self))] {
                let whole = got == Self.expected(fd)
                #expect(whole, "\(fd): \(got.utf8.count) bytes, expected \(Self.expected(fd).utf8.count); \(Self.firstDifference(got, Self.expected(fd)))")
            }
        }
    }

    /// With the engine keeping no log (`task_log_driver: none`) the whole log still arrives: it is
    /// captured live.
    @Test func withTheNoneLogDriverTheLiveCaptureIsTheLog() async throws {
        guard try await DockerAvailability.check() else { return }
        let h = try await ServerHarness(scheduler: "docker") { $0.taskLogDriver = .none }
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(
                """
                id: quiet-engine
                tasks:
                  - { id: talk, image: busybox:latest, command: ["sh", "-c", "\(Self.script)"] }
                """)
            let (run, tasks) = try await h.runToEnd("quiet-engine")
            #expect(run.state == .succeeded, "\(tasks.map { "\($0.task) \($0.state) \($0.reason?.message ?? "")" })")
            let log = h.log("quiet-engine", run: run.id, task: "talk")
            #expect(log.utf8.count == Self.expected("stdout").utf8.count + Self.expected("stderr").utf8.count, "\(log.utf8.count) bytes")
            // Docker copies stdout and stderr separately, so how they interleave varies; each is whole and in order.
            let lines = log.split(separator: "\n").map { $0 + "\n" }
            for (prefix, fd) in [("line-", "stdout"), ("err-", "stderr")] {
                let got = lines.filter { $0.hasPrefix(prefix) }.joined()
                let whole = got == Self.expected(fd)
                #expect(whole, "\(fd): \(Self.firstDifference(got, Self.expected(fd)))")
            }
            let handle = try await h.server.store.tasks(namespace: "default", pipeline: "quiet-engine", run: run.id).first?.handle
            let inspect = try await ChildProcess.run("docker", arguments: ["inspect", "--format", "{{.HostConfig.LogConfig.Type}}", handle ?? "none"])
            // The container is removed once its task ended; when it is not yet, it had no engine log.
            if inspect.status == .exited(0) { #expect(String(decoding: inspect.stdout, as: UTF8.self).hasPrefix("none")) }
        }
    }

    /// Where two logs part, for a failure message that says what went wrong.
    static func firstDifference(_ a: String, _ b: String) -> String {
        let x = a.split(separator: "\n", omittingEmptySubsequences: false)
        let y = b.split(separator: "\n", omittingEmptySubsequences: false)
        for i in 0..<min(x.count, y.count) where x[i] != y[i] {
            return "line \(i): got \"\(x[i])\", expected \"\(y[i])\" (then \(x.dropFirst(i + 1).prefix(2)))"
        }
        return "one is a prefix of the other (\(x.count) vs \(y.count) lines)"
    }
}
