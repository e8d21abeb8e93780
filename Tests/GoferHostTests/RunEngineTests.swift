import ExtensionSDK
import Foundation
import GoferHost
import TestSupport
import Testing

/// The run engine on the process scheduler (fast, no Docker): DAG order, conditions, env,
/// timeouts, cancellation and logs.
@Suite(.serialized)
struct RunEngineTests {
    @Test func aDiamondRunsInDependencyOrderAndSucceeds() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(
                """
                id: diamond
                tasks:
                  - id: a
                    image: none
                    command: ["sh", "-c", "date +%s%N; sleep 0.2"]
                  - id: b
                    image: none
                    depends_on: [a]
                    command: ["sh", "-c", "date +%s%N"]
                  - id: c
                    image: none
                    depends_on: [a]
                    command: ["sh", "-c", "echo $GOFER_NAMESPACE/$GOFER_PIPELINE/$GOFER_PIPELINE_VERSION/$GOFER_RUN/$GOFER_TASK $MY_VAR"]
                    env: { MY_VAR: "yes 1.10" }
                  - id: d
                    image: none
                    depends_on: { b: success, c: success }
                    command: ["true"]
                """)
            let (run, tasks) = try await h.runToEnd("diamond")
            #expect(run.state == .succeeded, "\(run)")
            #expect(tasks.allSatisfy { $0.state == .succeeded }, "\(tasks)")
            #expect(run.pipelineVersion == 1)
            #expect(h.log("diamond", run: run.id, task: "c") == "default/diamond/1/1/c yes 1.10\n")
            let aStart = Int(h.log("diamond", run: run.id, task: "a").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            let bStart = Int(h.log("diamond", run: run.id, task: "b").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            #expect(bStart > aStart + 150_000_000, "b must start after a finished")
            for t in tasks { #expect(t.startedAt != nil && t.endedAt != nil && t.exitCode == 0) }
        }
    }

    @Test func conditionsSkipWithAReasonAndFailureHandlersRun() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(
                """
                id: conditions
                tasks:
                  - { id: build, image: none, command: ["sh", "-c", "echo boom; exit 3"] }
                  - { id: deploy, image: none, depends_on: { build: success }, command: ["true"] }
                  - { id: notify, image: none, depends_on: { build: failure }, command: ["echo", "build failed"] }
                  - { id: cleanup, image: none, depends_on: { deploy: any }, command: ["true"] }
                """)
            let (run, tasks) = try await h.runToEnd("conditions")
            let byID = Dictionary(uniqueKeysWithValues: tasks.map { ($0.task, $0) })
            #expect(run.state == .failed)
            #expect(run.reason?.kind == .taskFailed && run.reason?.message.contains("build") == true, "\(String(describing: run.reason))")
            #expect(byID["build"]?.state == .failed && byID["build"]?.exitCode == 3)
            #expect(byID["build"]?.reason == StateReason(.exitCode, "exited with code 3"))
            #expect(byID["deploy"]?.state == .skipped)
            #expect(byID["deploy"]?.reason?.message == "needs build to end in success, but it failed")
            #expect(byID["notify"]?.state == .succeeded)
            #expect(byID["cleanup"]?.state == .succeeded, "any accepts a skipped parent")
            #expect(h.log("conditions", run: run.id, task: "build") == "boom\n")
        }
    }

    @Test func aTaskPastItsTimeoutIsStoppedAndFailsWithTimeout() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(
                """
                id: slow
                tasks:
                  - { id: sleeper, image: none, command: ["sleep", "600"], timeout: 1s }
                """)
            let start = ContinuousClock.now
            let (run, tasks) = try await h.runToEnd("slow")
            #expect(ContinuousClock.now - start < .seconds(120), "stopped at its 1 s timeout, not after the 600 s sleep")
            #expect(run.state == .failed)
            #expect(tasks[0].state == .failed && tasks[0].reason?.kind == .timeout, "\(tasks[0])")
        }
    }

    @Test func cancellingARunStopsRunningTasksAndCancelsWaitingOnes() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(
                """
                id: cancel-me
                tasks:
                  - { id: long, image: none, command: ["sleep", "600"] }
                  - { id: after, image: none, depends_on: [long], command: ["true"] }
                """)
            let run = try await h.server.engine.startRun(namespace: "default", pipeline: "cancel-me", initiator: .system)
            try await Task.sleep(for: .milliseconds(500))
            let start = ContinuousClock.now
            try await h.server.engine.cancelRun(namespace: "default", pipeline: "cancel-me", run: run.id, by: Principal(kind: .token, id: "tok_alice", name: "alice"), why: "wrong branch")
            let done = try await h.server.engine.waitForRun(namespace: "default", pipeline: "cancel-me", run: run.id)
            #expect(ContinuousClock.now - start < .seconds(120), "stopped, not left to the 600 s sleep")
            #expect(done.state == .cancelled)
            #expect(done.reason == StateReason(.cancelled, "cancelled by alice (tok_alice): wrong branch"))
            let tasks = try await h.server.store.tasks(namespace: "default", pipeline: "cancel-me", run: run.id)
            #expect(tasks.map(\.state) == [.cancelled, .cancelled], "\(tasks)")
        }
    }

    @Test func pipelineParallelismQueuesExtraRuns() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(
                """
                id: one-at-a-time
                parallelism: 1
                tasks:
                  - { id: t, image: none, command: ["sleep", "0.5"] }
                """)
            let r1 = try await h.server.engine.startRun(namespace: "default", pipeline: "one-at-a-time", initiator: .system)
            let r2 = try await h.server.engine.startRun(namespace: "default", pipeline: "one-at-a-time", initiator: .system)
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await h.server.store.run(namespace: "default", pipeline: "one-at-a-time", id: r2.id).state == .pending)
            let d1 = try await h.server.engine.waitForRun(namespace: "default", pipeline: "one-at-a-time", run: r1.id)
            let d2 = try await h.server.engine.waitForRun(namespace: "default", pipeline: "one-at-a-time", run: r2.id)
            #expect(d1.state == .succeeded && d2.state == .succeeded)
            #expect((d2.startedAt ?? .distantPast) >= (d1.endedAt ?? .distantFuture))
        }
    }

    @Test func theGlobalTaskLimitHolds() async throws {
        let h = try await ServerHarness { $0.maxConcurrentTasks = 1 }
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(
                """
                id: wide
                tasks:
                  - { id: a, image: none, command: ["sh", "-c", "date +%s%N; sleep 0.3; date +%s%N"] }
                  - { id: b, image: none, command: ["sh", "-c", "date +%s%N; sleep 0.3; date +%s%N"] }
                """)
            let (run, _) = try await h.runToEnd("wide")
            #expect(run.state == .succeeded)
            let a = h.log("wide", run: run.id, task: "a").split(separator: "\n").compactMap { Int($0) }
            let b = h.log("wide", run: run.id, task: "b").split(separator: "\n").compactMap { Int($0) }
            #expect(a.count == 2 && b.count == 2)
            #expect(a[1] <= b[0] || b[1] <= a[0], "the two tasks overlapped with a limit of 1")
        }
    }

    @Test func identicalConfigCreatesNoVersionAndChangesAreDiffed() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            let v1 = try await h.apply("id: p\ntasks:\n  - { id: a, image: none, command: [\"true\"] }\n")
            #expect(v1.created && v1.version == 1)
            let same = try await h.apply("# a comment changes nothing\nid: p\ntasks: [{ id: a, image: none, command: [\"true\"] }]\n")
            #expect(!same.created && same.version == 1)
            let v2 = try await h.apply("id: p\ntasks:\n  - { id: a, image: none, command: [\"false\"] }\n  - { id: b, image: x }\n")
            #expect(v2.created && v2.version == 2)
            #expect(v2.changes.contains("+ task b (x)"), "\(v2.changes)")
            #expect(v2.changes.contains { $0.hasPrefix("~ task a: command") }, "\(v2.changes)")
            let (run, _) = try await h.runToEnd("p")
            #expect(run.pipelineVersion == 2)
        }
    }

    @Test func theRunTimeoutStopsTheRunAndFailsIt() async throws {
        let h = try await ServerHarness { $0.runTimeout = .seconds(1) }
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(
                """
                id: endless
                tasks:
                  - { id: forever, image: none, command: ["sleep", "600"] }
                  - { id: next, image: none, depends_on: [forever], command: ["true"] }
                """)
            let start = ContinuousClock.now
            let (run, tasks) = try await h.runToEnd("endless")
            #expect(ContinuousClock.now - start < .seconds(120), "stopped at the 1 s run timeout, not after the 600 s sleep")
            #expect(run.state == .failed && run.reason?.kind == .runTimeout, "\(run)")
            #expect(tasks.map(\.state) == [.cancelled, .cancelled], "\(tasks)")
        }
    }

    @Test func cancellingOneTaskLetsItsDependentsFollowTheirConditions() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(
                """
                id: partial
                tasks:
                  - { id: slow, image: none, command: ["sleep", "30"] }
                  - { id: on-success, image: none, depends_on: { slow: success }, command: ["true"] }
                  - { id: on-failure, image: none, depends_on: { slow: failure }, command: ["true"] }
                """)
            let run = try await h.server.engine.startRun(namespace: "default", pipeline: "partial", initiator: .system)
            try await Task.sleep(for: .milliseconds(400))
            try await h.server.engine.cancelTask(namespace: "default", pipeline: "partial", run: run.id, task: "slow", by: Principal(kind: .token, id: "tok_bob", name: "bob"))
            let done = try await h.server.engine.waitForRun(namespace: "default", pipeline: "partial", run: run.id)
            let tasks = Dictionary(
                uniqueKeysWithValues: try await h.server.store.tasks(namespace: "default", pipeline: "partial", run: run.id).map {
                    ($0.task, $0)
                })
            #expect(tasks["slow"]?.state == .cancelled)
            #expect(tasks["on-success"]?.state == .skipped)
            #expect(tasks["on-failure"]?.state == .succeeded)
            #expect(done.state == .failed && done.reason?.message.contains("slow") == true, "\(done)")
        }
    }

    @Test func anEndlessLogIsCappedWithAMarkerAndKeepsItsTail() async throws {
        let h = try await ServerHarness { $0.maxLogBytes = 1 << 20 }
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(
                """
                id: chatty
                tasks:
                  - { id: yes, image: none, command: ["sh", "-c", "yes 0123456789 | head -c 8000000; echo; echo THE-END"] }
                """)
            let (run, _) = try await h.runToEnd("chatty")
            #expect(run.state == .succeeded)
            let log = h.log("chatty", run: run.id, task: "yes")
            #expect(log.utf8.count < (1 << 20) + 200, "\(log.utf8.count) bytes stored")
            #expect(log.contains("[gofer: log truncated: "), "the truncation is visible")
            #expect(log.hasSuffix("THE-END\n"), "the tail is kept")
            #expect(log.hasPrefix("0123456789\n"), "the head is kept")
        }
    }

    /// The process scheduler spools output to a file, not memory: a log far past its old 16 MiB
    /// in-memory cap arrives whole, byte for byte.
    @Test func aLargeLogOnTheProcessSchedulerArrivesWhole() async throws {
        let h = try await ServerHarness { $0.maxLogBytes = 64 << 20 }
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(
                """
                id: big
                tasks:
                  - { id: talk, image: none, command: ["sh", "-c", "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 40000000; echo THE-END"] }
                """)
            let (run, _) = try await h.runToEnd("big")
            #expect(run.state == .succeeded)
            let log = h.log("big", run: run.id, task: "talk")
            #expect(log.utf8.count == 40_000_008, "\(log.utf8.count) bytes stored")
            #expect(log.hasSuffix("THE-END\n") && !log.contains("[gofer:"))
        }
    }

    /// stdout and stderr share one log, but never inside a line: a line written in pieces stays
    /// whole even when the other stream prints in between, and a last line without a newline is kept.
    @Test func linesStayWholeWhenStdoutAndStderrInterleave() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(
                """
                id: pieces
                tasks:
                  - { id: t, image: none, command: ["sh", "-c", "printf out-a; sleep 0.2; echo err-1 >&2; sleep 0.2; echo out-b; printf tail"] }
                """)
            let (run, _) = try await h.runToEnd("pieces")
            #expect(run.state == .succeeded)
            let lines = h.log("pieces", run: run.id, task: "t").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            #expect(Set(lines) == ["out-aout-b", "err-1", "tail"], "\(lines)")
        }
    }

    /// /dev/full answers every write with ENOSPC: the task's log lives on a full disk.
    @Test func aLogThatCannotBeWrittenStopsTheTaskWithAStorageError() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply(
                """
                id: fulldisk
                tasks:
                  - { id: talker, image: none, command: ["sh", "-c", "echo hello; sleep 600"] }
                """)
            let path = LogFiles(root: h.dir.path + "/logs").path(namespace: "default", pipeline: "fulldisk", run: 1, task: "talker")
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/full")
            let start = ContinuousClock.now
            let (run, tasks) = try await h.runToEnd("fulldisk")
            #expect(ContinuousClock.now - start < .seconds(120), "the task was stopped, not left to its 600 s sleep")
            #expect(run.state == .failed && run.reason?.kind == .taskFailed, "\(run)")
            let t = try #require(tasks.first)
            #expect(t.state == .failed && t.reason?.kind == .storageError, "\(t)")
            #expect(t.reason?.message.contains("No space left on device") == true, "\(String(describing: t.reason))")
            #expect(t.reason?.message.contains(path) == true, "names the file")
            // The server still records and serves everything else.
            _ = try await h.apply("id: fine\ntasks:\n  - { id: t, image: none, command: [\"echo\", \"ok\"] }\n")
            let (ok, _) = try await h.runToEnd("fine")
            #expect(ok.state == .succeeded)
            #expect(try await h.server.store.integrityCheck() == "ok")
        }
    }

    /// The database caps its size as a full disk would: starting runs fails with a clear error,
    /// nothing half-stored, reads keep working, and runs start again once there is room.
    @Test(.enabled(if: !ServerHarness.onPostgres, "plays a full disk by capping the embedded file's pages"))
    func aFullDatabaseRefusesNewRunsClearlyAndLosesNothing() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply("id: p\ntasks:\n  - { id: t, image: none, command: [\"true\"] }\n")
            let (first, _) = try await h.runToEnd("p")
            #expect(first.state == .succeeded)
            let store = try #require(h.server.store as? SQLStore, "the embedded store plays a full disk")
            try await store.limitSizeForTesting(pages: try await store.pageCount())
            var refusal: (any Error)?
            var started: [Int] = []
            for _ in 0..<500 {
                do {
                    let r = try await h.server.engine.startRun(namespace: "default", pipeline: "p", initiator: .system)
                    started.append(r.id)
                } catch {
                    refusal = error
                    break
                }
            }
            let error = try #require(refusal, "the database never filled up")
            guard case StoreError.storageFull = error else {
                Issue.record("expected storageFull, got \(error)")
                return
            }
            #expect("\(error)".contains("out of space") && "\(error)".contains("gofer.sqlite"), "\(error)")
            // Reads still work and what was stored before is intact.
            let kept = try await store.run(namespace: "default", pipeline: "p", id: first.id)
            #expect(kept.state == .succeeded)
            #expect(try await store.integrityCheck() == "ok")
            // Room again: runs start and finish.
            try await store.limitSizeForTesting(pages: 1_000_000)
            for id in started { _ = try await h.server.engine.waitForRun(namespace: "default", pipeline: "p", run: id) }
            let (again, _) = try await h.runToEnd("p")
            #expect(again.state == .succeeded)
        }
    }
}
