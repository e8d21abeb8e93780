import ExtensionClient
import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GoferStore
import Synchronization
import Tracing

#if canImport(Glibc)
    import Glibc
#endif

/// Keeps one extension process alive and answers calls through it.
///
/// Every extension process the host runs goes through a supervisor: it spawns the extension in its
/// own process group, handshakes with a timeout, restarts it after a crash with capped exponential
/// backoff, gives up after a crash loop, pings it when idle and kills it when it hangs, times out
/// every call, and shuts it down within a deadline.
public actor ExtensionSupervisor {
    /// Tuning. Defaults follow docs/protocol.md; tests shorten them.
    public struct Policy: Sendable {
        public var handshakeTimeout: Duration = .seconds(10)
        public var callTimeout: Duration = .seconds(60)
        public var cancelGrace: Duration = .seconds(5)
        public var initialBackoff: Duration = .seconds(1)
        public var maxBackoff: Duration = .seconds(60)
        /// This many crashes within `crashWindow` trips the breaker: the extension is marked failed.
        public var crashLimit = 5
        public var crashWindow: Duration = .seconds(600)
        public var pingInterval: Duration = .seconds(15)
        public var pingTimeout: Duration = .seconds(5)
        public var missedPingsBeforeKill = 3
        public var shutdownDeadline: Duration = .seconds(10)
        public var killGrace: Duration = .seconds(2)
        /// A keyed request (one task's) in flight at this many crashes, the last with no other
        /// keyed request beside it, is quarantined: refused from then on, so one tenant's request
        /// cannot take the extension away from everyone. At `quarantineStrikesAlways` it is
        /// quarantined whatever else was in flight.
        public var quarantineStrikes = 2
        public var quarantineStrikesAlways = 4
        public init() {}
    }

    /// Where the extension is in its life.
    public enum Status: Sendable, Equatable, CustomStringConvertible {
        case stopped
        case starting
        case running(pid: Int32)
        /// Crashed; restarting after a delay.
        case restarting(attempt: Int, lastExit: String)
        /// Crashed too often, or cannot start: needs an admin.
        case failed(reason: String)

        public var description: String {
            switch self {
            case .stopped: return "stopped"
            case .starting: return "starting"
            case .running(let pid): return "running (pid \(pid))"
            case .restarting(let attempt, let lastExit): return "restarting (attempt \(attempt); last exit: \(lastExit))"
            case .failed(let reason): return "failed: \(reason)"
            }
        }
    }

    public let name: String
    public let launch: ExtensionLaunch
    public let options: InitializeOptions
    public let policy: Policy

    public private(set) var status: Status = .stopped {
        didSet {
            if case .running = status { GoferMetrics.gauge(.extensionUp, 1, [("extension", name)]) } else { GoferMetrics.gauge(.extensionUp, 0, [("extension", name)]) }
        }
    }
    public private(set) var handshake: Handshake?
    /// How many times the process was restarted after a crash.
    public private(set) var restarts = 0
    public private(set) var startedAt: Date?

    private var connection: ExtensionConnection?
    /// Crashes no request in flight could be blamed for: these trip the breaker.
    private var crashTimes: [ContinuousClock.Instant] = []
    /// Keyed requests in flight, by call number: the key and the connection that carries it.
    private var inFlight: [Int: (key: String, generation: Int)] = [:]
    private var nextCall = 0
    /// Counts the processes started: each connection's generation.
    private var generation = 0
    /// For each recent generation that died under keyed requests: the keys in flight then.
    private var diedUnder: [Int: Set<String>] = [:]
    /// How many crashes each key was in flight at (cleared when it succeeds).
    private var strikes: [String: Int] = [:]
    /// Keys refused from now on, with why; oldest first, bounded.
    private var quarantine: [(key: String, reason: String)] = []
    private static let quarantineLimit = 1000
    /// Keys with a strike run one at a time, so the next crash tells which one it was.
    private var suspectRunning = false
    private var suspectWaiters: [CheckedContinuation<Void, Never>] = []
    private var stopping = false
    private var monitor: Task<Void, Never>?
    private var readyWaiters: [CheckedContinuation<Void, Never>] = []
    private let requestHandler: ExtensionConnection.RequestHandler?
    private let onReady: (@Sendable (ExtensionConnection) async -> Void)?
    private let onStderr: (@Sendable (String) -> Void)?
    /// What `gofer extension logs` shows: the extension's stderr across restarts, with the
    /// supervisor's own lines (started, exited, restarting) in between.
    let log = SupervisorLog()

    /// - Parameters:
    ///   - requestHandler: Answers requests the extension sends (for example `trigger/emit`).
    ///   - onReady: Runs after every successful handshake, including after a restart: re-subscribe
    ///     triggers, recover scheduler jobs.
    public init(
        name: String, launch: ExtensionLaunch, options: InitializeOptions, policy: Policy = Policy(),
        requestHandler: ExtensionConnection.RequestHandler? = nil, onReady: (@Sendable (ExtensionConnection) async -> Void)? = nil,
        onStderr: (@Sendable (String) -> Void)? = nil
    ) {
        self.name = name
        self.launch = launch
        var options = options
        options.timeout = policy.handshakeTimeout
        options.cancelGrace = policy.cancelGrace
        self.options = options
        self.policy = policy
        self.requestHandler = requestHandler
        self.onReady = onReady
        self.onStderr = onStderr
    }

    /// Starts the extension and waits for its handshake. A failure here is not retried: it means
    /// the binary or its configuration is wrong, and the error says which.
    public func start() async throws -> Handshake {
        stopping = false
        status = .starting
        do {
            let shake = try await launchOnce()
            monitor = Task { await self.superviseForever() }
            return shake
        } catch {
            status = .failed(reason: ErrorText.describe(error))
            throw error
        }
    }

    private func launchOnce() async throws -> Handshake {
        let log = self.log
        let forward = onStderr
        let connection = try ExtensionConnection.spawn(
            launch, requestHandler: requestHandler,
            onStderr: { line in
                log.append(line)
                forward?(line)
            })
        do {
            let shake = try await connection.initialize(options)
            self.connection = connection
            generation += 1
            diedUnder = diedUnder.filter { $0.key > generation - 8 }
            self.handshake = shake
            self.startedAt = Date()
            status = .running(pid: connection.process.pid)
            log.note("started \(name) \(shake.version) as pid \(connection.process.pid)" + (shake.name == name ? "" : " (its manifest says \(shake.name))"))
            if let onReady { await onReady(connection) }
            for w in readyWaiters { w.resume() }
            readyWaiters = []
            return shake
        } catch {
            connection.kill()
            _ = await connection.process.waitForExit(timeout: .seconds(2))
            let tail = connection.stderrTail.split(separator: "\n").suffix(5).joined(separator: "\n")
            throw SupervisorError(
                extensionName: name, message: ErrorText.wrapping("handshake failed", error) + (tail.isEmpty ? "" : "\nlast stderr lines:\n\(tail)"), cause: error)
        }
    }

    /// Watches the running process; restarts it when it dies unexpectedly.
    private func superviseForever() async {
        while !stopping, !Task.isCancelled {
            guard let connection else { return }
            let exit = await watch(connection)
            if stopping { return }
            await connection.drainStderr()
            self.connection = nil
            let now = ContinuousClock.now
            let lastExit = "\(exit)" + Self.crashHint(connection.stderrTail)
            lastCrash = lastExit
            // A crash under a task's request is that request's doing until shown otherwise: it
            // counts against the request (quarantine), not toward the breaker.
            let died = generation
            let blamed = diedUnder[died] ?? Set(inFlight.values.filter { $0.generation == died }.map(\.key))
            crashTimes = crashTimes.filter { now - $0 < policy.crashWindow } + (blamed.isEmpty ? [now] : [])
            log.note(
                "pid \(connection.process.pid) exited unexpectedly: \(lastExit)"
                    + (blamed.isEmpty ? "" : " (while handling \(blamed.sorted().joined(separator: ", ")))"))
            if crashTimes.count >= policy.crashLimit {
                status = .failed(
                    reason: "crashed \(crashTimes.count) times within \(DurationText.format(policy.crashWindow)); last exit: \(lastExit). "
                        + "Fix the extension or its config, then restart it (gofer extension restart \(name)).")
                failWaiters()
                return
            }
            var attempt = 0
            while !stopping {
                attempt += 1
                status = .restarting(attempt: attempt, lastExit: lastExit)
                try? await Task.sleep(for: backoff(crashes: max(1, crashTimes.count + attempt - 1)))
                if stopping { return }
                do {
                    _ = try await launchOnce()
                    restarts += 1
                    GoferMetrics.count(.extensionRestarts, [("extension", name)])
                    break
                } catch {
                    crashTimes.append(.now)
                    if crashTimes.count >= policy.crashLimit {
                        status = .failed(reason: ErrorText.wrapping("cannot restart after a crash", error))
                        failWaiters()
                        return
                    }
                }
            }
        }
    }

    /// Waits until the process exits, pinging it while idle and killing it if it stops answering.
    private func watch(_ connection: ExtensionConnection) async -> TerminationStatus {
        await withTaskGroup(of: TerminationStatus?.self) { group in
            group.addTask { await connection.process.waitForExit() }
            group.addTask { [policy] in
                var missed = 0
                while !Task.isCancelled {
                    try? await Task.sleep(for: policy.pingInterval)
                    if Task.isCancelled || connection.process.exitStatus != nil { return nil }
                    if ContinuousClock.now - connection.lastActivity < policy.pingInterval { continue }
                    do {
                        _ = try await connection.request(ProtocolMethod.ping.rawValue, timeout: policy.pingTimeout, cancelGrace: .zero)
                        missed = 0
                    } catch {
                        missed += 1
                        if missed >= policy.missedPingsBeforeKill {
                            connection.kill()
                            return nil
                        }
                    }
                }
                return nil
            }
            var result: TerminationStatus = .signaled(SIGKILL)
            for await value in group {
                if let value {
                    result = value
                    group.cancelAll()
                }
            }
            return result
        }
    }

    private func backoff(crashes: Int) -> Duration {
        var d = policy.initialBackoff
        for _ in 1..<max(1, crashes) {
            d *= 2
            if d >= policy.maxBackoff { return policy.maxBackoff }
        }
        return min(d, policy.maxBackoff)
    }

    private static func crashHint(_ stderr: String) -> String {
        let markers = ["Fatal error:", "fatal error:", "panic:", "Segmentation fault"]
        guard let line = stderr.split(separator: "\n").last(where: { l in markers.contains { l.contains($0) } }) else { return "" }
        return " (\(line.prefix(300)))"
    }

    private func failWaiters() {
        for w in readyWaiters { w.resume() }
        readyWaiters = []
    }

    /// Waits until the extension is running, up to `timeout`. Returns the live connection.
    public func ready(timeout: Duration) async throws -> ExtensionConnection {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let connection, !connection.isClosed { return connection }
            switch status {
            case .failed(let reason): throw SupervisorError(extensionName: name, message: reason)
            case .stopped: throw SupervisorError(extensionName: name, message: "the extension is stopped")
            default: break
            }
            if ContinuousClock.now >= deadline {
                throw SupervisorError(extensionName: name, message: "not available within \(DurationText.format(timeout)): \(status)")
            }
            // Sleep briefly rather than rely on a wake-up: the status can change through paths
            // that do not hold a waiter (a stdout close before the exit is seen).
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Calls `method` on the extension, waiting for it to be up (for example while it restarts)
    /// and never longer than `timeout` in all.
    ///
    /// `key` names what the request is for (a task execution): a request that keeps crashing the
    /// extension is quarantined by its key (``Policy/quarantineStrikes``) and refused with
    /// ``SupervisorError/Reason/quarantined`` from then on, while the extension stays up for
    /// everyone else. Calls without a key are never quarantined.
    public func call(_ method: String, _ params: JSONValue = .emptyObject, timeout: Duration? = nil, key: String? = nil) async throws -> JSONValue {
        guard let key else { return try await send(method, params, timeout: timeout) }
        if let reason = quarantine.first(where: { $0.key == key })?.reason {
            throw SupervisorError(extensionName: name, message: reason, reason: .quarantined)
        }
        let suspect = strikes[key] != nil
        if suspect { await takeSuspectTurn() }
        defer { if suspect { releaseSuspectTurn() } }
        let call = nextCall
        nextCall += 1
        do {
            let result = try await send(method, params, timeout: timeout) { supervisor, _ in
                supervisor.inFlight[call] = (key, supervisor.generation)
            }
            inFlight[call] = nil
            strikes[key] = nil
            return result
        } catch let failure as ExtensionFailure where failure.kind == .exited {
            guard let entry = inFlight.removeValue(forKey: call) else { throw failure }
            // The keys in flight when this connection died, fixed by the first call to hear of it.
            let blamed = diedUnder[entry.generation] ?? Set(inFlight.values.filter { $0.generation == entry.generation }.map(\.key) + [key])
            diedUnder[entry.generation] = blamed
            let count = (strikes[key] ?? 0) + 1
            strikes[key] = count
            if (count >= policy.quarantineStrikes && blamed.count == 1) || count >= policy.quarantineStrikesAlways {
                let reason =
                    "this request (\(key)) crashed the extension \(count) times (last exit: \(lastCrash ?? failure.message)); "
                    + "it is not sent again, and the extension stays available to other tasks. Fix what the task asks for, or the extension, then run again (or gofer extension restart \(name))"
                quarantine.append((key, reason))
                if quarantine.count > Self.quarantineLimit { quarantine.removeFirst(quarantine.count - Self.quarantineLimit) }
                strikes[key] = nil
                log.note("quarantined \(key) after \(count) crashes")
                throw SupervisorError(extensionName: name, message: reason, reason: .quarantined)
            }
            throw failure
        } catch {
            inFlight[call] = nil
            throw error
        }
    }

    /// The last unexpected exit, for messages.
    private var lastCrash: String?

    private func takeSuspectTurn() async {
        if !suspectRunning {
            suspectRunning = true
            return
        }
        await withCheckedContinuation { suspectWaiters.append($0) }
    }

    private func releaseSuspectTurn() {
        if suspectWaiters.isEmpty {
            suspectRunning = false
        } else {
            suspectWaiters.removeFirst().resume()
        }
    }

    /// Keys refused now (``call(_:_:timeout:key:)``), oldest first.
    public var quarantinedKeys: [String] { quarantine.map(\.key) }

    private func send(
        _ method: String, _ params: JSONValue, timeout: Duration?, sending: (isolated ExtensionSupervisor, ExtensionConnection) -> Void = { _, _ in }
    ) async throws -> JSONValue {
        let timeout = timeout ?? policy.callTimeout
        let start = ContinuousClock.now
        let connection = try await ready(timeout: timeout)
        sending(self, connection)
        let remaining = timeout - (ContinuousClock.now - start)
        let grace = policy.cancelGrace
        // Inside a run's trace (a task's work), each call is a span of it; calls outside a run
        // (health checks, trigger bookkeeping) make no traces of their own.
        guard ServiceContext.current != nil else {
            return try await connection.request(method, params, timeout: max(remaining, .milliseconds(1)), cancelGrace: grace)
        }
        return try await withSpan("extension \(name) \(method)", ofKind: .client) { span in
            span.attributes["rpc.system"] = "gofer-extension"
            span.attributes["rpc.service"] = name
            span.attributes["rpc.method"] = method
            return try await connection.request(method, params, timeout: max(remaining, .milliseconds(1)), cancelGrace: grace)
        }
    }

    /// The last 64 KiB of the extension's stderr.
    public var stderrTail: String { log.text }

    /// Stops the extension and starts it again (`gofer extension restart`): a failed extension
    /// gets a new chance, its crash history and quarantined requests are forgotten.
    public func restart() async throws -> Handshake {
        await stop()
        crashTimes = []
        strikes = [:]
        quarantine = []
        diedUnder = [:]
        log.note("restarted by an admin")
        return try await start()
    }

    /// Stops the extension gracefully within the policy's deadline.
    public func stop() async {
        stopping = true
        monitor?.cancel()
        if let connection {
            await connection.shutdown(deadline: policy.shutdownDeadline, killGrace: policy.killGrace)
        }
        connection = nil
        status = .stopped
        failWaiters()
    }
}

/// A supervisor could not serve a call.
public struct SupervisorError: Error, Sendable, CustomStringConvertible, CausedError {
    /// Why the call was not served.
    public enum Reason: Sendable, Equatable {
        /// The extension is not running (stopped, failed, or not up in time).
        case unavailable
        /// This request crashed the extension before and is not sent again.
        case quarantined
    }
    public var extensionName: String
    public var message: String
    public var reason: Reason
    /// What went wrong underneath (the handshake's error, the process that would not start).
    public var cause: (any Error)?
    public var description: String { ErrorText.wrapping("extension \(extensionName): \(message)", cause) }

    public init(extensionName: String, message: String, reason: Reason = .unavailable, cause: (any Error)? = nil) {
        self.extensionName = extensionName
        self.message = message
        self.reason = reason
        self.cause = cause
    }
}

/// The last 64 KiB of an extension's stderr, kept across its restarts, with the supervisor's
/// lifecycle lines (`[gofer] …`) in between.
final class SupervisorLog: Sendable {
    static let limit = 64 * 1024
    private let bytes = Mutex<[UInt8]>([])

    func append(_ line: String) {
        bytes.withLock { b in
            b += Array(line.utf8)
            if b.last != 0x0A { b.append(0x0A) }
            if b.count > Self.limit { b.removeFirst(b.count - Self.limit) }
        }
    }

    func note(_ text: String) {
        append("[gofer \(ISO8601DateFormatter().string(from: Date()))] \(text)")
    }

    var text: String { bytes.withLock { String(decoding: $0, as: UTF8.self) } }
}

extension ExtensionSupervisor {
    /// A typed request (``ProtocolCalls``) to the running extension.
    public func call<P, R>(_ call: ProtocolCall<P, R>, _ params: P, timeout: Duration? = nil, key: String? = nil) async throws -> R {
        try call.decodeResult(try await self.call(call.method.rawValue, try call.encode(params), timeout: timeout, key: key))
    }
}
