import ExtensionClient
import ExtensionSDK
import Foundation

/// Checks for schedulers. Every job carries the label `gofer-conformance/run=<id>`; each check
/// removes its jobs, and `scheduler.no-leaks` fails if any are left.
enum SchedulerChecks {
    static func runLabel(_ ctx: CheckContext) -> String { String(ctx.canary.suffix(12)).lowercased() }

    static func job(_ ctx: CheckContext, _ name: String, _ script: String, env: [String: String] = [:]) -> JSONValue {
        [
            "taskExecutionId": .string("conformance-\(runLabel(ctx))-\(name)"), "image": .string(ctx.options.image),
            "command": ["sh", "-c", .string(script)], "env": .object(env.mapValues(JSONValue.string)),
            "labels": ["gofer-conformance/run": .string(runLabel(ctx)), "gofer-conformance/check": .string(name)],
            // As the host does: the grace it will stop the job with (scheduler.stop uses 1 s).
            "stopGraceMs": 1000,
        ]
    }

    /// Runs `body` with a session, then stops and removes every job of this run.
    static func withScheduler(_ ctx: CheckContext, _ body: (Session) async throws -> Void) async throws {
        let session = try await ctx.open()
        do {
            try await body(session)
        } catch {
            await cleanup(session, ctx)
            await session.close()
            throw error
        }
        await cleanup(session, ctx)
        await session.close()
    }

    static func cleanup(_ session: Session, _ ctx: CheckContext) async {
        guard let listed = try? await session.call(ProtocolMethod.schedulerList.rawValue, ["labels": ["gofer-conformance/run": .string(runLabel(ctx))]]) else {
            return
        }
        for job in listed["jobs"]?.arrayValue ?? [] {
            guard let handle = job["handle"] else { continue }
            _ = try? await session.call(ProtocolMethod.schedulerStop.rawValue, ["handle": handle, "graceMs": 500])
            _ = try? await session.call(ProtocolMethod.schedulerRemove.rawValue, ["handle": handle])
        }
    }

    /// The whole log of an ended job: the bytes of stdout and of stderr.
    static func logBytes(_ session: Session, _ handle: JSONValue, _ ctx: CheckContext) async throws -> (out: [UInt8], err: [UInt8]) {
        let (chunks, result) = session.connection.requestStream(
            ProtocolMethod.schedulerLogs.rawValue, ["handle": handle, "follow": false], timeout: ctx.jobTimeout)
        var out: [UInt8] = []
        var err: [UInt8] = []
        for await c in chunks {
            if c.fd == "stderr" { err += c.bytes } else { out += c.bytes }
        }
        _ = try await result.value
        return (out, err)
    }

    /// The whole log of an ended job: stdout and stderr as text.
    static func logs(_ session: Session, _ handle: JSONValue, _ ctx: CheckContext) async throws -> (String, String) {
        let (out, err) = try await logBytes(session, handle, ctx)
        return (String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    static func start(_ session: Session, _ spec: JSONValue) async throws -> JSONValue {
        let result = try await session.call(ProtocolMethod.schedulerStart.rawValue, spec, timeout: session.context.jobTimeout)
        guard let handle = result["handle"], handle.stringValue?.isEmpty == false else {
            throw CheckFailure("start returned no handle: \(result)")
        }
        return handle
    }

    static let all: [Check] = [
        Check(
            id: "scheduler.exit-code", level: .must, title: "wait reports the job's exit code and the engine's start/finish times",
            kinds: [.scheduler]
        ) { ctx in
            try await withScheduler(ctx) { session in
                let handle = try await start(session, job(ctx, "exit-code", "exit 3"))
                let status = try await session.call(ProtocolMethod.schedulerWait.rawValue, ["handle": handle], timeout: ctx.jobTimeout)
                guard status["state"] == "exited", status["exitCode"] == 3 else {
                    throw CheckFailure("wait returned \(status), expected exited with exitCode 3")
                }
                guard status["startedAt"]?.stringValue != nil, status["finishedAt"]?.stringValue != nil else {
                    throw CheckFailure("wait must report startedAt and finishedAt: \(status)")
                }
                let inspected = try await session.call(ProtocolMethod.schedulerInspect.rawValue, ["handle": handle])
                guard inspected["exitCode"] == 3 else { throw CheckFailure("inspect after exit returned \(inspected)") }
            }
        },
        Check(id: "scheduler.env-passed", level: .must, title: "env variables reach the job", kinds: [.scheduler]) { ctx in
            try await withScheduler(ctx) { session in
                let handle = try await start(
                    session, job(ctx, "env", "test \"$GOFER_CONF_VALUE\" = 'a b=c' && exit 0 || exit 9", env: ["GOFER_CONF_VALUE": "a b=c"])
                )
                let status = try await session.call(ProtocolMethod.schedulerWait.rawValue, ["handle": handle], timeout: ctx.jobTimeout)
                guard status["exitCode"] == 0 else {
                    throw CheckFailure("the job did not see its env variable (exit \(status["exitCode"] ?? .null))")
                }
            }
        },
        Check(
            id: "scheduler.logs-separate-fds", level: .must, title: "logs keep stdout and stderr apart, in order, with gap-free seq",
            kinds: [.scheduler]
        ) { ctx in
            try await withScheduler(ctx) { session in
                let handle = try await start(session, job(ctx, "logs", "echo out-1; echo err-1 >&2; echo out-2; exit 0"))
                _ = try await session.call(ProtocolMethod.schedulerWait.rawValue, ["handle": handle], timeout: ctx.jobTimeout)
                let (chunks, result) = session.connection.requestStream(
                    ProtocolMethod.schedulerLogs.rawValue, ["handle": handle, "follow": false], timeout: .seconds(10))
                var out = ""
                var err = ""
                var seqs: [Int64] = []
                for await c in chunks {
                    seqs.append(c.seq)
                    if c.fd == "stderr" {
                        err += String(decoding: c.bytes, as: UTF8.self)
                    } else {
                        out += String(decoding: c.bytes, as: UTF8.self)
                    }
                }
                _ = try await result.value
                guard out == "out-1\nout-2\n" else {
                    throw CheckFailure("stdout was \(out.debugDescription), expected \"out-1\\nout-2\\n\"")
                }
                guard err == "err-1\n" else { throw CheckFailure("stderr was \(err.debugDescription), expected \"err-1\\n\"") }
                let unique = Array(Set(seqs)).sorted()
                if unique != Array(0..<Int64(unique.count)) { throw CheckFailure("seq numbers have gaps: \(unique)") }
            }
        },
        Check(
            id: "scheduler.logs-follow", level: .must, title: "following logs delivers output live and ends when the job exits",
            kinds: [.scheduler]
        ) { ctx in
            try await withScheduler(ctx) { session in
                let handle = try await start(session, job(ctx, "follow", "echo first; sleep 1; echo second"))
                let (chunks, result) = session.connection.requestStream(
                    ProtocolMethod.schedulerLogs.rawValue, ["handle": handle, "follow": true], timeout: ctx.jobTimeout)
                var text = ""
                for await c in chunks { text += String(decoding: c.bytes, as: UTF8.self) }
                _ = try await result.value
                guard text == "first\nsecond\n" else { throw CheckFailure("followed logs were \(text.debugDescription)") }
            }
        },
        Check(
            id: "scheduler.flow-control", level: .must, title: "a 2 MiB log through a 16 KiB window arrives whole while pings are answered",
            kinds: [.scheduler]
        ) { ctx in
            try await withScheduler(ctx) { session in
                // 2 MiB of 64-byte lines.
                let handle = try await start(
                    session,
                    job(
                        ctx, "flow",
                        "i=0; while [ $i -lt 32768 ]; do echo 0123456789012345678901234567890123456789012345678901234567890; i=$((i+1)); done"
                    ))
                _ = try await session.call(ProtocolMethod.schedulerWait.rawValue, ["handle": handle], timeout: ctx.jobTimeout)
                let (chunks, result) = session.connection.requestStream(
                    ProtocolMethod.schedulerLogs.rawValue, ["handle": handle, "follow": false], windowBytes: 16384, timeout: ctx.jobTimeout)
                var total = 0
                var count = 0
                var worstPing = Duration.zero
                for await c in chunks {
                    total += c.bytes.count
                    count += 1
                    if c.bytes.count > 16384 { throw CheckFailure("a chunk of \(c.bytes.count) bytes exceeds the 16 KiB window") }
                    if count % 40 == 0 {
                        let t = ContinuousClock.now
                        try await session.assertAlive("log streaming")
                        worstPing = max(worstPing, ContinuousClock.now - t)
                    }
                }
                _ = try await result.value
                guard total == 32768 * 62 else { throw CheckFailure("received \(total) bytes, expected \(32768 * 62)") }
                let bound = try await session.promptBound()
                if worstPing > bound { throw CheckFailure("a ping took \(worstPing) during streaming, longer than \(bound) (one at once on this machine now)") }
            }
        },
        Check(
            id: "scheduler.idempotent-start", level: .must, title: "starting the same task execution twice starts one job",
            kinds: [.scheduler]
        ) { ctx in
            try await withScheduler(ctx) { session in
                let spec = job(ctx, "idempotent", "sleep 2")
                let a = try await start(session, spec)
                let b = try await start(session, spec)
                guard a == b else { throw CheckFailure("two starts returned different handles: \(a) and \(b)") }
                let listed = try await session.call(
                    ProtocolMethod.schedulerList.rawValue,
                    ["labels": ["gofer-conformance/check": "idempotent", "gofer-conformance/run": .string(runLabel(ctx))]])
                let n = listed["jobs"]?.arrayValue?.count ?? 0
                guard n == 1 else { throw CheckFailure("list shows \(n) jobs for one task execution") }
            }
        },
        Check(id: "scheduler.stop", level: .must, title: "stop ends a running job within its grace period", kinds: [.scheduler]) { ctx in
            try await withScheduler(ctx) { session in
                let handle = try await start(session, job(ctx, "stop", "trap '' TERM; sleep 30"))
                try await Task.sleep(for: .milliseconds(300))
                let start = ContinuousClock.now
                _ = try await session.call(ProtocolMethod.schedulerStop.rawValue, ["handle": handle, "graceMs": 1000], timeout: ctx.jobTimeout)
                let status = try await session.call(ProtocolMethod.schedulerWait.rawValue, ["handle": handle], timeout: .seconds(10))
                let took = ContinuousClock.now - start
                guard status["state"] == "exited" else { throw CheckFailure("after stop the job is \(status)") }
                if took > .seconds(6) { throw CheckFailure("stop with a 1 s grace took \(took)") }
                _ = try await session.call(ProtocolMethod.schedulerStop.rawValue, ["handle": handle, "graceMs": 100])  // stopping again succeeds
            }
        },
        Check(
            id: "scheduler.invalid-spec", level: .must, title: "invalid job specs get -32602 with the field path and create nothing",
            kinds: [.scheduler]
        ) { ctx in
            try await withScheduler(ctx) { session in
                let base = job(ctx, "invalid", "true")
                let cases: [(String, JSONValue, String)] = [
                    ("image", "", "/image"), ("command", "echo hi", "/command"), ("memoryMB", -1, "/memoryMB"),
                    ("env", ["A=B": "x"], "/env/A=B"), ("taskExecutionId", "", "/taskExecutionId"), ("cpus", 0, "/cpus"),
                ]
                for (field, value, path) in cases {
                    var spec = base
                    spec[field] = value
                    let error = try await session.expectError(ProtocolMethod.schedulerStart.rawValue, spec, [.invalidParams], "\(field) = \(value)")
                    guard error.diagnostics.contains(where: { $0.path == path }) else {
                        throw CheckFailure("\(field) = \(value): expected a diagnostic at \(path), got \(error.diagnostics)")
                    }
                }
                let listed = try await session.call(ProtocolMethod.schedulerList.rawValue, ["labels": ["gofer-conformance/check": "invalid"]])
                if let jobs = listed["jobs"]?.arrayValue, !jobs.isEmpty { throw CheckFailure("invalid specs created \(jobs.count) job(s)") }
            }
        },
        Check(
            id: "scheduler.not-found", level: .must, title: "unknown handles get -32053; stop and remove of unknown handles succeed",
            kinds: [.scheduler]
        ) { ctx in
            try await withScheduler(ctx) { session in
                try await session.expectError(ProtocolMethod.schedulerInspect.rawValue, ["handle": .string("no-such-job-\(runLabel(ctx))")], [.notFound])
                try await session.expectError(ProtocolMethod.schedulerWait.rawValue, ["handle": .string("no-such-job-\(runLabel(ctx))")], [.notFound])
                _ = try await session.call(ProtocolMethod.schedulerStop.rawValue, ["handle": .string("no-such-job-\(runLabel(ctx))")])
                _ = try await session.call(ProtocolMethod.schedulerRemove.rawValue, ["handle": .string("no-such-job-\(runLabel(ctx))")])
            }
        },
        Check(
            id: "scheduler.cancel-wait", level: .must, title: "cancelling a wait answers it exactly once with -32050", kinds: [.scheduler]
        ) { ctx in
            try await withScheduler(ctx) { session in
                let handle = try await start(session, job(ctx, "cancel", "sleep 20"))
                let id = session.nextRawID()
                var line =
                    Array(#"{"jsonrpc":"2.0","id":"#.utf8) + Array(String(id).utf8)
                    + Array(#","method":"scheduler/wait","params":{"handle":"#.utf8)
                handle.write(to: &line)
                line += Array("}}\n".utf8)
                session.connection.sendRaw(line)
                try await Task.sleep(for: .milliseconds(300))
                let answer = try await session.sendRaw(
                    Array(#"{"jsonrpc":"2.0","method":"$/cancel","params":{"id":\#(id)}}"#.utf8) + [0x0A], waitFor: { $0["id"] == .int(id) }
                )
                guard let answer else { throw CheckFailure("no response to the cancelled wait within 5 s") }
                guard answer["error"]?["code"] == .int(Int64(ErrorCode.cancelled.rawValue)) else {
                    throw CheckFailure("cancelled wait answered \(answer)")
                }
                try await Task.sleep(for: .milliseconds(300))
                let responses = session.receivedFrames.compactMap { try? JSONParser().parse($0) }.filter { $0["id"] == .int(id) }
                if responses.count != 1 { throw CheckFailure("the cancelled request got \(responses.count) responses") }
            }
        },
        Check(id: "scheduler.deadline", level: .must, title: "a wait past its timeoutMs gets -32051", kinds: [.scheduler]) { ctx in
            try await withScheduler(ctx) { session in
                let handle = try await start(session, job(ctx, "deadline", "sleep 20"))
                let start = ContinuousClock.now
                do {
                    let r = try await session.connection.request(
                        ProtocolMethod.schedulerWait.rawValue, ["handle": handle], timeout: .milliseconds(300), cancelGrace: .seconds(3))
                    throw CheckFailure("wait with timeoutMs 300 returned \(r)")
                } catch let error as ProtocolError {
                    guard error.code == .deadlineExceeded || error.code == .cancelled else {
                        throw CheckFailure("expected -32051, got \(error)")
                    }
                    if error.code == .cancelled { throw CheckFailure("expected -32051 (deadline), got -32050 (cancelled)") }
                } catch let failure as ExtensionFailure {
                    throw CheckFailure("no answer after the deadline: \(failure)")
                }
                if ContinuousClock.now - start > .seconds(3) {
                    throw CheckFailure("the deadline error came after \(ContinuousClock.now - start)")
                }
            }
        },
        Check(id: "scheduler.list-by-label", level: .must, title: "list by label returns exactly the matching jobs", kinds: [.scheduler]) {
            ctx in
            try await withScheduler(ctx) { session in
                _ = try await start(session, job(ctx, "list-a", "true"))
                _ = try await start(session, job(ctx, "list-b", "true"))
                let listed = try await session.call(
                    ProtocolMethod.schedulerList.rawValue, ["labels": ["gofer-conformance/check": "list-a", "gofer-conformance/run": .string(runLabel(ctx))]])
                let jobs = listed["jobs"]?.arrayValue ?? []
                guard jobs.count == 1, jobs[0]["labels"]?["gofer-conformance/check"] == "list-a" else {
                    throw CheckFailure("list by label returned \(jobs.count) job(s): \(listed)")
                }
            }
        },
        Check(
            id: "scheduler.attach-runs-a-command", level: .must,
            title: "with \"attach\" advertised, a command runs inside a running job, reads its input and returns its exit code",
            kinds: [.scheduler]
        ) { ctx in
            let probe = try await ctx.open()
            guard probe.handshake?.capabilities["attach"] != nil else { throw CheckSkipped("\"attach\" is not advertised") }
            try await withScheduler(ctx) { session in
                let handle = try await start(session, job(ctx, "attach", "sleep 30"))
                // Wait until it runs.
                for _ in 0..<100 {
                    let status = try await session.call(ProtocolMethod.schedulerInspect.rawValue, ["handle": handle])
                    if status["state"] == "running" { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                let (chunks, result) = session.connection.requestStream(
                    ProtocolMethod.schedulerAttach.rawValue,
                    ["handle": handle, "command": ["sh", "-c", "read line; echo got:$line; echo oops >&2; exit 3"], "tty": false],
                    timeout: .seconds(30))
                let input = AttachInputNotice(streamId: chunks.streamID, bytes: Array("hello\n".utf8), eof: true)
                session.connection.notifyStream(chunks.streamID, ProtocolMethod.attachInput.rawValue, try JSONCodec.encode(input))
                var out = ""
                var err = ""
                for await c in chunks {
                    if c.fd == "stderr" { err += String(decoding: c.bytes, as: UTF8.self) } else { out += String(decoding: c.bytes, as: UTF8.self) }
                }
                let answer = try await result.value
                guard out == "got:hello\n", err == "oops\n" else {
                    throw CheckFailure("stdout was \(out.debugDescription) and stderr \(err.debugDescription), expected \"got:hello\\n\" and \"oops\\n\"")
                }
                guard answer["exitCode"]?.intValue == 3 else { throw CheckFailure("the result was \(answer), expected exitCode 3") }
                _ = try await session.call(ProtocolMethod.schedulerStop.rawValue, ["handle": handle, "graceMs": 0])
            }
        },
        Check(
            id: "scheduler.restart-finds-job", level: .must,
            title: "a job outlives its scheduler: a new instance finds it with its whole log and exit code", kinds: [.scheduler]
        ) { ctx in
            let first = try await ctx.open()
            if first.handshake?.capabilities.has(.ephemeralJobs) == true {
                throw CheckSkipped("the scheduler advertises ephemeralJobs: its jobs end with it (tests and benchmarks only)")
            }
            let handle: JSONValue
            do {
                handle = try await start(first, job(ctx, "restart", "echo before; sleep 2; echo after; echo gone >&2; exit 5"))
            } catch {
                await cleanup(first, ctx)
                throw error
            }
            // The extension dies as a crash would (its process group killed) while the job runs.
            try await Task.sleep(for: .milliseconds(300))
            first.connection.kill()
            await first.close()
            try await withScheduler(ctx) { session in
                let inspected: JSONValue
                do {
                    inspected = try await session.call(ProtocolMethod.schedulerInspect.rawValue, ["handle": handle])
                } catch let error as ProtocolError {
                    throw CheckFailure(
                        "after a restart the new instance does not know the running job \(handle) (\(error.code): \(error.message)); "
                            + "jobs must outlive the scheduler (protocol.md §11.1: own session, state under paths.state)")
                }
                guard ["created", "running", "exited"].contains(inspected["state"]?.stringValue ?? "") else {
                    throw CheckFailure("after a restart inspect said \(inspected)")
                }
                let listed = try await session.call(
                    ProtocolMethod.schedulerList.rawValue, ["labels": ["gofer-conformance/check": "restart", "gofer-conformance/run": .string(runLabel(ctx))]])
                guard (listed["jobs"]?.arrayValue ?? []).contains(where: { $0["handle"] == handle }) else {
                    throw CheckFailure("after a restart list by its labels does not include the job: \(listed)")
                }
                let status = try await session.call(ProtocolMethod.schedulerWait.rawValue, ["handle": handle], timeout: ctx.jobTimeout)
                guard status["state"] == "exited", status["exitCode"] == 5 else {
                    throw CheckFailure("after a restart wait returned \(status), expected exited with exitCode 5")
                }
                let (out, err) = try await logs(session, handle, ctx)
                guard out == "before\nafter\n", err == "gone\n" else {
                    throw CheckFailure(
                        "after a restart the log was stdout \(out.debugDescription), stderr \(err.debugDescription); expected the whole output")
                }
            }
        },
        Check(
            id: "scheduler.lost-job", level: .must,
            title: "a job the engine no longer has is -32053 for inspect, wait and logs, never a success", kinds: [.scheduler]
        ) { ctx in
            try await withScheduler(ctx) { session in
                let handle = try await start(session, job(ctx, "lost", "exit 0"))
                _ = try await session.call(ProtocolMethod.schedulerWait.rawValue, ["handle": handle], timeout: ctx.jobTimeout)
                _ = try await session.call(ProtocolMethod.schedulerRemove.rawValue, ["handle": handle])
                try await session.expectError(ProtocolMethod.schedulerInspect.rawValue, ["handle": handle], [.notFound], "a removed job")
                try await session.expectError(ProtocolMethod.schedulerWait.rawValue, ["handle": handle], [.notFound], "a removed job")
                let (chunks, result) = session.connection.requestStream(
                    ProtocolMethod.schedulerLogs.rawValue, ["handle": handle, "follow": true], timeout: .seconds(10))
                for await _ in chunks {}
                do {
                    let answer = try await result.value
                    throw CheckFailure("logs of a removed job succeeded (\(answer)); expected -32053")
                } catch let error as ProtocolError {
                    guard error.code == .notFound else { throw CheckFailure("logs of a removed job: expected -32053, got \(error.code): \(error.message)") }
                }
            }
        },
        Check(
            id: "scheduler.logs-batched", level: .should,
            title: "2,000 short lines arrive in batches (fewer than 100 stream/data frames), not a frame per line", kinds: [.scheduler]
        ) { ctx in
            try await withScheduler(ctx) { session in
                let handle = try await start(session, job(ctx, "batched", "i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done"))
                _ = try await session.call(ProtocolMethod.schedulerWait.rawValue, ["handle": handle], timeout: ctx.jobTimeout)
                let (chunks, result) = session.connection.requestStream(
                    ProtocolMethod.schedulerLogs.rawValue, ["handle": handle, "follow": false], timeout: ctx.jobTimeout)
                var frames = 0
                var bytes = 0
                for await c in chunks {
                    frames += 1
                    bytes += c.bytes.count
                }
                _ = try await result.value
                guard bytes > 15_000 else { throw CheckFailure("the job's 2,000 lines came back as only \(bytes) bytes") }
                if frames >= 100 {
                    throw CheckFailure("\(bytes) bytes of 2,000 lines came in \(frames) stream/data frames; batch them (up to 64 KiB, protocol.md §7)")
                }
            }
        },
        honestAbsence(
            "scheduler.attach-not-advertised", capability: "attach", method: "scheduler/attach", params: ["handle": "x"], kind: .scheduler),
        Check(id: "scheduler.no-leaks", level: .must, title: "no job of this run is left behind", kinds: [.scheduler]) { ctx in
            let session = try await ctx.open()
            let listed = try await session.call(ProtocolMethod.schedulerList.rawValue, ["labels": ["gofer-conformance/run": .string(runLabel(ctx))]])
            let jobs = listed["jobs"]?.arrayValue ?? []
            if !jobs.isEmpty { throw CheckFailure("\(jobs.count) job(s) left behind: \(jobs.compactMap { $0["handle"]?.stringValue })") }
        },
    ]
}
