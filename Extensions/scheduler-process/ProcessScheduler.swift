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
        name: "process", version: "0.1.0", summary: "Runs task commands as local processes (no isolation; tests and benchmarks).",
        config: .object([
            "maxLogBytes": .integer(
                description: "Log bytes kept per job (spooled to a file, not held in memory); past it a marker ends the log. Default 4 GiB.",
                minimum: 1024)
        ]))

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
            let process: ChildProcess
            do {
                process = try ChildProcess.spawn(executable, arguments: Array(argv.dropFirst()), environment: env)
            } catch {
                throw ProtocolError(.notFound, "cannot run \(executable): \(error)", reason: "process.spawn_failed")
            }
            process.closeStdin()
            return Job(
                handle: "proc-\(process.pid)-\(UInt32.random(in: 0...UInt32.max))", spec: spec, process: process,
                spoolDirectory: spoolDirectory, maxLogBytes: maxLogBytes)
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
        let job = try jobs.job(handle)
        var index = 0
        while true {
            let (chunks, finished) = job.chunks(from: index)
            for chunk in chunks { try await output.write(try job.bytes(of: chunk), fd: chunk.fd) }
            index += chunks.count
            if chunks.isEmpty {
                if finished || !follow { return }
                try await Task.sleep(for: .milliseconds(10))
            }
        }
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

/// A job's output on disk: an unlinked temporary file (gone with its descriptor), appended to by
/// the pipe readers and read back by any number of log streams. Memory stays flat whatever the
/// job prints.
final class LogSpool: Sendable {
    let fd: Int32

    init(directory: String) throws {
        var template = Array("\(directory)/gofer-process-log-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress.unsafelyUnwrapped) }
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress.unsafelyUnwrapped) }
        self.fd = fd
    }

    deinit { close(fd) }

    func write(_ bytes: ArraySlice<UInt8>, at offset: Int) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress.unsafelyUnwrapped + done, $0.count - done, off_t(offset + done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            done += n
        }
    }

    func read(_ chunk: Job.Chunk) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: chunk.length)
        var done = 0
        while done < chunk.length {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress.unsafelyUnwrapped + done, $0.count - done, off_t(chunk.offset + done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw ProtocolError(.internalError, "the job's spooled output could not be read back: \(String(cString: strerror(errno)))") }
            done += n
        }
        return out
    }
}

final class Job: Sendable {
    /// Where one read of a pipe went in the spool, or (for a marker) its bytes.
    struct Chunk: Sendable {
        var fd: String
        var offset: Int
        var length: Int
        var inline: [UInt8]?
    }

    struct Output {
        /// Made at the first output: a job that prints nothing costs no file.
        var spool: LogSpool?
        var chunks: [Chunk] = []
        var bytes = 0
        var truncated = false
        var openPipes = 2
        var finishedAt: Date?
    }

    let handle: String
    let spec: JobSpec
    let process: ChildProcess
    let spoolDirectory: String
    let startedAt = Date()
    let maxLogBytes: Int
    private let output = Mutex(Output())

    init(handle: String, spec: JobSpec, process: ChildProcess, spoolDirectory: String, maxLogBytes: Int) {
        self.handle = handle
        self.spec = spec
        self.process = process
        self.spoolDirectory = spoolDirectory
        self.maxLogBytes = maxLogBytes
        pump(process.stdoutFD, "stdout")
        pump(process.stderrFD, "stderr")
        Task { [self] in
            _ = await process.waitForExit()
            output.withLock { $0.finishedAt = Date() }
        }
    }

    private func pump(_ fd: Int32, _ name: String) {
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 256 * 1024)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                output.withLock { o in
                    guard !o.truncated else { return }
                    if o.bytes + n > maxLogBytes {
                        o.truncated = true
                        o.chunks.append(
                            Chunk(
                                fd: "stderr", offset: 0, length: 0,
                                inline: Array("\n[gofer: log truncated at \(maxLogBytes) bytes by the process scheduler's maxLogBytes]\n".utf8)))
                        return
                    }
                    do {
                        let spool = try o.spool ?? LogSpool(directory: spoolDirectory)
                        o.spool = spool
                        try spool.write(buffer[0..<n], at: o.bytes)
                        o.chunks.append(Chunk(fd: name, offset: o.bytes, length: n))
                        o.bytes += n
                    } catch {
                        ExtensionLog().error("cannot spool job output; the rest of its log is lost", ["handle": handle, "error": "\(error)"])
                        o.truncated = true
                        o.chunks.append(
                            Chunk(
                                fd: "stderr", offset: 0, length: 0,
                                inline: Array("\n[gofer: the rest of this log was lost: cannot write to \(spoolDirectory): \(error)]\n".utf8)))
                    }
                }
            }
            close(fd)
            output.withLock { $0.openPipes -= 1 }
        }
        thread.start()
    }

    /// The bytes of one chunk.
    func bytes(of chunk: Chunk) throws -> [UInt8] {
        if let inline = chunk.inline { return inline }
        guard let spool = output.withLock({ $0.spool }) else { return [] }
        return try spool.read(chunk)
    }

    /// Chunks from `index` on, and whether no more will come.
    func chunks(from index: Int) -> ([Chunk], Bool) {
        output.withLock { o in
            (index < o.chunks.count ? Array(o.chunks[index...]) : [], o.openPipes == 0 && process.exitStatus != nil)
        }
    }

    /// Waits until both output pipes are closed, briefly (a grandchild may hold them open).
    func drained() async {
        for _ in 0..<50 where output.withLock({ $0.openPipes > 0 }) { try? await Task.sleep(for: .milliseconds(10)) }
    }

    var status: JobStatus {
        let finishedAt = output.withLock { $0.finishedAt }
        var status = JobStatus(handle: handle, state: .running, startedAt: startedAt.formatted(.iso8601), labels: spec.labels)
        if let exit = process.exitStatus {
            status.state = .exited
            switch exit {
            case .exited(let code): status.exitCode = Int(code)
            case .signaled(let signal): status.exitCode = 128 + Int(signal)
            }
            status.finishedAt = (finishedAt ?? Date()).formatted(.iso8601)
        }
        return status
    }
}
