import ExtensionSDK
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Runs each job as a local process (`entrypoint + command`), ignoring the image. Like Nomad's
/// `raw_exec`: no isolation, so only for trusted pipelines, tests and measuring the host without a
/// container engine. Jobs end with this extension: it cannot recover them after a restart.
@main
struct ProcessScheduler: Scheduler {
    static let manifest = Manifest(
        name: "process", version: "0.1.0",
        summary: "Runs task commands as local processes (no isolation; jobs end with it: tests and benchmarks).",
        config: .object([
            "maxLogBytes": .integer(
                description: "Log bytes kept per job (spooled to a file, not held in memory); past it a marker ends the log. Default 4 GiB.",
                minimum: 1024)
        ]), capabilities: Capability.set([.ephemeralJobs]))

    struct Config: Decodable, Sendable { var maxLogBytes: Int? }

    let jobs = JobTable()
    let maxLogBytes: Int
    let spoolDirectory: String

    init(config: Config, context: ExtensionContext) {
        maxLogBytes = config.maxLogBytes ?? 4 << 30
        spoolDirectory = context.temporaryDirectory ?? NSTemporaryDirectory()
    }

    func start(_ spec: JobSpec) async throws -> String {
        let argv = (spec.entrypoint ?? []) + (spec.command ?? [])
        guard let executable = argv.first else {
            throw ProtocolError.invalidParams(diagnostics: [
                Diagnostic(path: "/command", message: "the process scheduler needs a command (it does not run images)")
            ])
        }
        return try jobs.startOnce(spec.taskExecutionID) {
            var env = spec.env
            if env["PATH"] == nil { env["PATH"] = "/usr/local/bin:/usr/bin:/bin" }
            // Everything the job prints goes to its spool as it comes, from one thread per job that
            // also learns of its exit.
            let output = OutputSpool(directory: spoolDirectory, limit: maxLogBytes)
            let process: ChildProcess
            do {
                process = try ChildProcess.spawn(executable, arguments: Array(argv.dropFirst()), environment: env) { event in
                    switch event {
                    case .stdout(let bytes): output.append(bytes, fd: "stdout")
                    case .stderr(let bytes): output.append(bytes, fd: "stderr")
                    case .end: output.finish()
                    }
                }
            } catch {
                throw ProtocolError(.notFound, "cannot run \(executable)", cause: error, reason: "process.spawn_failed")
            }
            process.closeStdin()
            return Job(handle: "proc-\(process.pid)-\(UInt32.random(in: 0...UInt32.max))", spec: spec, process: process, output: output)
        }
    }

    func inspect(_ handle: String) async throws -> JobStatus { try jobs.job(handle).status }

    func wait(_ handle: String) async throws -> JobStatus {
        let job = try jobs.job(handle)
        _ = await job.process.waitForExit()
        await job.drained()
        return job.status
    }

    func stop(_ handle: String, grace: Duration) async throws {
        guard let job = try? jobs.job(handle), job.process.exitStatus == nil else { return }
        _ = await job.process.terminate(grace: grace)
    }

    func remove(_ handle: String) async throws {
        guard let job = try? jobs.job(handle) else { return }
        if job.process.exitStatus == nil {
            throw ProtocolError(.failedPrecondition, "job \(handle) is still running; stop it first")
        }
        jobs.remove(handle)
    }

    func logs(_ handle: String, follow: Bool, to output: ExtensionSDK.OutputStream) async throws {
        try await jobs.job(handle).output.stream(to: output, follow: follow)
    }

    func list(labels: [String: String]) async throws -> [JobStatus] {
        jobs.all().filter { job in labels.allSatisfy { job.spec.labels[$0.key] == $0.value } }.map(\.status)
    }
}

final class JobTable: Sendable {
    private let state = Mutex<(byHandle: [String: Job], byExecution: [String: String])>(([:], [:]))

    /// Starts a job unless one already exists for this task execution (start is idempotent).
    func startOnce(_ executionID: String, _ make: () throws -> Job) throws -> String {
        try state.withLock { s in
            if let existing = s.byExecution[executionID] { return existing }
            let job = try make()
            s.byHandle[job.handle] = job
            s.byExecution[executionID] = job.handle
            return job.handle
        }
    }

    func job(_ handle: String) throws -> Job {
        guard let job = state.withLock({ $0.byHandle[handle] }) else {
            throw ProtocolError(.notFound, "no job with handle \"\(handle)\"")
        }
        return job
    }

    func remove(_ handle: String) {
        state.withLock { s in
            if let job = s.byHandle.removeValue(forKey: handle) { s.byExecution[job.spec.taskExecutionID] = nil }
        }
    }

    func all() -> [Job] { state.withLock { Array($0.byHandle.values) } }
}

final class Job: Sendable {
    let handle: String
    let spec: JobSpec
    let process: ChildProcess
    let startedAt = Date()
    /// Everything the job printed, on disk as it arrives.
    let output: OutputSpool

    init(handle: String, spec: JobSpec, process: ChildProcess, output: OutputSpool) {
        self.handle = handle
        self.spec = spec
        self.process = process
        self.output = output
    }

    /// Waits until both output pipes are closed, briefly (a grandchild may hold them open).
    func drained() async {
        for _ in 0..<50 where !output.isFinished { try? await Task.sleep(for: .milliseconds(10)) }
    }

    var status: JobStatus {
        let finishedAt = process.exitedAt
        var status = JobStatus(handle: handle, state: .running, startedAt: RFC3339.format(startedAt), labels: spec.labels)
        if let exit = process.exitStatus {
            status.state = .exited
            switch exit {
            case .exited(let code): status.exitCode = Int(code)
            case .signaled(let signal): status.exitCode = 128 + Int(signal)
            }
            status.finishedAt = RFC3339.format(finishedAt ?? Date())
        }
        return status
    }
}
