import Foundation
import ExtensionSDKShims
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// How a process ended.
public enum TerminationStatus: Sendable, Hashable, CustomStringConvertible {
    /// It exited with this code.
    case exited(Int32)
    /// A signal ended it.
    case signaled(Int32)

    /// `exited with code N` or `killed by signal N`.
    public var description: String {
        switch self {
        case .exited(let code): return "exited with code \(code)"
        case .signaled(let signal): return "killed by signal \(signal)"
        }
    }
}

/// What ``ChildProcess/spawn(_:arguments:environment:workingDirectory:output:)`` hands on from a
/// child's output pipes: bytes from one of them (valid only during the call), and the end of both.
public enum ChildOutput {
    /// Bytes the child (or a process it started) wrote to stdout.
    case stdout(UnsafeBufferPointer<UInt8>)
    /// Bytes written to stderr.
    case stderr(UnsafeBufferPointer<UInt8>)
    /// Both pipes have closed: nothing more will come.
    case end
}

/// Why a process could not be started.
public struct SpawnError: Error, Sendable, CustomStringConvertible {
    /// What was to be started.
    public var executable: String
    /// The system's reason (`ENOENT`, `EACCES` …).
    public var errno: Int32
    /// The executable and the system's reason, in words.
    public var description: String { "cannot start \(executable): \(String(cString: strerror(errno)))" }
}

/// A child process in its own session and process group, with piped stdin, stdout and stderr.
///
/// Spawned with `posix_spawn` so that the child gets an empty signal mask and default signal
/// dispositions: `Foundation.Process` on Linux lets a child inherit the blocked signals of the
/// Swift concurrency thread that spawned it, and such a child cannot be stopped with SIGTERM
/// (measured). Its own process group means a signal reaches the whole tree it started.
public final class ChildProcess: Sendable {
    /// The process id, which is also its process group id.
    public let pid: pid_t
    /// Writes to the child's stdin.
    public let stdin: FrameWriter
    /// Read ends of the child's stdout and stderr. Read them (for example with ``LineReader``) or
    /// the child blocks once a pipe buffer fills.
    public let stdoutFD: Int32
    /// The read end of the child's stderr.
    public let stderrFD: Int32

    private let exit = Mutex<(status: TerminationStatus?, at: Date?, waiters: [CheckedContinuation<TerminationStatus, Never>])>((nil, nil, []))

    /// Starts `executable` (a path, or a name looked up in `PATH`).
    ///
    /// With `output`, one thread of this process reads both of the child's output pipes and
    /// learns of its exit (a `pidfd`, where the kernel has one): `output` receives the bytes as they
    /// come and `.end` once both pipes have closed, and ``stdoutFD``/``stderrFD`` must not be read
    /// by anyone else. Without it, the caller reads them, and a thread per child waits for its exit.
    public static func spawn(
        _ executable: String, arguments: [String] = [], environment: [String: String]? = nil, workingDirectory: String? = nil,
        output: (@Sendable (ChildOutput) -> Void)? = nil
    ) throws(SpawnError) -> ChildProcess {
        FrameWriter.ignoreSIGPIPE()
        var inPipe: [Int32] = [0, 0]
        var outPipe: [Int32] = [0, 0]
        var errPipe: [Int32] = [0, 0]
        guard gofer_pipe_cloexec(&inPipe) == 0, gofer_pipe_cloexec(&outPipe) == 0, gofer_pipe_cloexec(&errPipe) == 0 else {
            throw SpawnError(executable: executable, errno: errno)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        if let workingDirectory { gofer_spawn_addchdir(&actions, workingDirectory) }

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var defaults = sigset_t()
        sigfillset(&defaults)
        sigdelset(&defaults, SIGKILL)
        sigdelset(&defaults, SIGSTOP)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, gofer_spawn_setsid_flag() | Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let argv = [executable] + arguments
        var pid: pid_t = 0
        var rc: Int32 = 0
        // ETXTBSY: the executable was just written and a process forked elsewhere in this one
        // still holds it open between its fork and exec. That lasts microseconds; wait it out.
        for attempt in 0..<50 {
            rc = withCStrings(argv) { argvp in
                withCStrings(env) { envp in
                    posix_spawnp(&pid, executable, &actions, &attr, argvp, envp)
                }
            }
            guard rc == ETXTBSY, attempt < 49 else { break }
            usleep(10_000)
        }
        // 1 MiB pipes (best effort; limited by /proc/sys/fs/pipe-max-size): a 64 KiB frame then
        // crosses in one write instead of several context switches.
        _ = gofer_set_pipe_size(outPipe[0], 1 << 20)
        _ = gofer_set_pipe_size(inPipe[1], 1 << 20)
        Glibc.close(inPipe[0])
        Glibc.close(outPipe[1])
        Glibc.close(errPipe[1])
        guard rc == 0 else {
            Glibc.close(inPipe[1])
            Glibc.close(outPipe[0])
            Glibc.close(errPipe[0])
            throw SpawnError(executable: executable, errno: rc)
        }
        let child = ChildProcess(pid: pid, stdin: FrameWriter(fd: inPipe[1], queueing: true), stdoutFD: outPipe[0], stderrFD: errPipe[0])
        if let output {
            child.startOutputLoop(output)
        } else {
            child.startReaper()
        }
        return child
    }

    private init(pid: pid_t, stdin: FrameWriter, stdoutFD: Int32, stderrFD: Int32) {
        self.pid = pid
        self.stdin = stdin
        self.stdoutFD = stdoutFD
        self.stderrFD = stderrFD
    }

    private func startReaper() {
        let thread = Thread { [self] in reap() }
        thread.name = "reaper-\(pid)"
        thread.start()
    }

    /// Waits for the child (it has exited already when a pidfd said so), records how it ended and
    /// wakes whoever waits for it.
    private func reap() {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR {
                status = 0
                break
            }
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros, so decode by hand.
        let signal = status & 0x7F
        let result: TerminationStatus = signal == 0 ? .exited((status >> 8) & 0xFF) : .signaled(signal)
        let waiters = exit.withLock { state in
            state.status = result
            state.at = Date()
            defer { state.waiters = [] }
            return state.waiters
        }
        for w in waiters { w.resume(returning: result) }
    }

    /// One thread for the child's output and its exit: `poll` over both pipes and a pidfd. Pipes
    /// are read to their end (a grandchild may hold them open past the child's exit) and closed.
    private func startOutputLoop(_ output: @escaping @Sendable (ChildOutput) -> Void) {
        let pidfd = gofer_pidfd_open(pid)
        if pidfd < 0 { startReaper() }
        let thread = Thread { [self] in
            var fds = [
                pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0), pollfd(fd: stderrFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0),
            ]
            var buffer = [UInt8](repeating: 0, count: 256 * 1024)
            func readOnce(_ i: Int) {
                let n = buffer.withUnsafeMutableBytes { read(fds[i].fd, $0.baseAddress, $0.count) }
                if n < 0 && (errno == EINTR || errno == EAGAIN) { return }
                if n > 0 {
                    buffer.withUnsafeBufferPointer { all in
                        let bytes = UnsafeBufferPointer(rebasing: all[0..<n])
                        output(i == 0 ? .stdout(bytes) : .stderr(bytes))
                    }
                    return
                }
                Glibc.close(fds[i].fd)
                fds[i].fd = -1
            }
            var ended = false
            while fds.contains(where: { $0.fd >= 0 }) {
                if poll(&fds, nfds_t(fds.count), -1) < 0 {
                    if errno == EINTR { continue }
                    // Cannot happen with valid descriptors; finish with blocking calls rather than lose anything.
                    for i in 0..<2 { while fds[i].fd >= 0 { readOnce(i) } }
                    for i in 0..<2 { fds[i].revents = 0 }
                    fds[2].revents = fds[2].fd >= 0 ? Int16(POLLIN) : 0
                }
                for i in 0..<2 where fds[i].fd >= 0 && fds[i].revents != 0 { readOnce(i) }
                // The end of the output is when both pipes close, whether or not the child has exited.
                if !ended && fds[0].fd < 0 && fds[1].fd < 0 {
                    ended = true
                    output(.end)
                }
                if fds[2].fd >= 0 && fds[2].revents != 0 {
                    reap()
                    Glibc.close(fds[2].fd)
                    fds[2].fd = -1
                }
            }
        }
        thread.name = "child-\(pid)"
        thread.start()
    }

    /// How the process ended, once it has; `nil` while it runs.
    public var exitStatus: TerminationStatus? { exit.withLock { $0.status } }

    /// When this process learned that the child ended; `nil` while it runs.
    public var exitedAt: Date? { exit.withLock { $0.at } }

    /// Waits for the process to end.
    public func waitForExit() async -> TerminationStatus {
        await withCheckedContinuation { c in
            let done: TerminationStatus? = exit.withLock { state in
                if let status = state.status { return status }
                state.waiters.append(c)
                return nil
            }
            if let done { c.resume(returning: done) }
        }
    }

    /// Waits for the process to end, at most `timeout`. Returns `nil` on timeout.
    public func waitForExit(timeout: Duration) async -> TerminationStatus? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status = exitStatus { return status }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return exitStatus
    }

    /// Sends `signal` to the whole process group (the child and everything it started).
    public func signalGroup(_ signal: Int32) {
        // Also after the leader exited: grandchildren may outlive it in the same group.
        kill(-pid, signal)
    }

    /// SIGTERM to the group, then SIGKILL after `grace` if it has not exited.
    public func terminate(grace: Duration) async -> TerminationStatus {
        signalGroup(SIGTERM)
        if let status = await waitForExit(timeout: grace) {
            kill(-pid, SIGKILL)  // no stragglers left in the group
            return status
        }
        signalGroup(SIGKILL)
        return await waitForExit()
    }

    /// What ``run(_:arguments:environment:timeout:)`` collected.
    public struct Completed: Sendable {
        /// How the process ended.
        public var status: TerminationStatus
        /// Everything it wrote to stdout.
        public var stdout: [UInt8]
        /// Everything it wrote to stderr.
        public var stderr: [UInt8]
    }

    /// Runs a command to completion with no stdin, collecting stdout and stderr (each at most
    /// 16 MiB). After `timeout` the process group is killed.
    public static func run(
        _ executable: String, arguments: [String] = [], environment: [String: String]? = nil, timeout: Duration = .seconds(120)
    ) async throws(SpawnError) -> Completed {
        let child = try spawn(executable, arguments: arguments, environment: environment)
        child.closeStdin()
        async let out = Self.readAll(child.stdoutFD)
        async let err = Self.readAll(child.stderrFD)
        let status: TerminationStatus
        if let exited = await child.waitForExit(timeout: timeout) {
            status = exited
        } else {
            child.signalGroup(SIGKILL)
            status = await child.waitForExit()
        }
        return Completed(status: status, stdout: await out, stderr: await err)
    }

    /// Reads a descriptor to EOF on a dedicated thread, then closes it.
    static func readAll(_ fd: Int32, limit: Int = 16 << 20) async -> [UInt8] {
        await withCheckedContinuation { (c: CheckedContinuation<[UInt8], Never>) in
            let thread = Thread {
                var out: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    if out.count < limit { out += buffer[0..<min(n, limit - out.count)] }
                }
                Glibc.close(fd)
                c.resume(returning: out)
            }
            thread.start()
        }
    }

    /// Closes our ends of the pipes (stdin first, which the child sees as EOF).
    public func closeStdin() { stdin.close() }
}

private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for p in pointers { free(p) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress.unsafelyUnwrapped) }
}
