import ExtensionSDK
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// How to start an extension process.
public struct ExtensionLaunch: Sendable, Hashable {
    /// The executable's path.
    public var executable: String
    /// Arguments after the executable.
    public var arguments: [String]
    /// The environment; `nil` passes a small allow-list of the host's (PATH, HOME, TMPDIR, LANG, TZ)
    /// so host secrets in env vars never reach an extension.
    public var environment: [String: String]?
    /// Where it starts; `nil`: the host's working directory.
    public var workingDirectory: String?

    /// How to start `executable` with `arguments`.
    public init(executable: String, arguments: [String] = [], environment: [String: String]? = nil, workingDirectory: String? = nil) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
    }

    var effectiveEnvironment: [String: String] {
        if let environment { return environment }
        let host = ProcessInfo.processInfo.environment
        var env: [String: String] = [:]
        for key in ["PATH", "HOME", "TMPDIR", "LANG", "TZ", "LC_ALL"] { env[key] = host[key] }
        return env
    }
}

/// A failure on the host side of a call: the extension did not answer properly.
/// Errors the extension itself sent arrive as `ProtocolError`.
public struct ExtensionFailure: Error, Sendable, CustomStringConvertible {
    /// What went wrong on the host's side of a call.
    public enum Kind: Sendable, Hashable {
        /// No answer within the call's timeout (plus the cancel grace).
        case timedOut
        /// The process exited or closed stdout.
        case exited
        /// It sent something the protocol does not allow.
        case protocolViolation
        /// It could not be started.
        case spawnFailed
    }
    /// What went wrong.
    public var kind: Kind
    /// What went wrong, in words, naming the extension.
    public var message: String
    /// The message.
    public var description: String { message }

    /// A failure of `kind`.
    public init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }
}

/// Options for the `initialize` handshake.
public struct InitializeOptions: Sendable {
    /// The kind the host expects (`nil`: any); an extension of another kind refuses the handshake.
    public var kind: ExtensionKind?
    /// The versions offered, newest first (`MAJOR.MINOR`).
    public var protocolVersions: [String]
    /// The admin config (`config.admin`), validated by the extension against its schema.
    public var adminConfig: JSONValue
    /// Host-wide settings for every extension (`config.system`).
    public var systemConfig: JSONValue
    /// The extension's own directory that survives restarts (`paths.state`).
    public var stateDirectory: String?
    /// A scratch directory (`paths.tmp`).
    public var temporaryDirectory: String?
    /// The host's version, sent as `host.version`.
    public var hostVersion: String
    /// Requests the host serves at once from the extension (`limits.maxConcurrentRequests`).
    public var maxConcurrentRequests: Int
    /// How long after `$/cancel` the host still waits for an answer (`timeouts.cancelGraceMs`).
    public var cancelGrace: Duration
    /// How long the handshake may take.
    public var timeout: Duration
    /// The largest frame the host accepts from the extension, announced as `limits.maxFrameBytes`
    /// (1 KiB–4 MiB here; the host's own limit by default). After the `initialize` answer a larger
    /// frame is discarded and recorded as a violation, as a peer with that limit would.
    public var maxFrameBytes: Int

    /// Handshake options; the defaults are the host's.
    public init(
        kind: ExtensionKind?, protocolVersions: [String] = ProtocolVersion.supported.map(\.description),
        adminConfig: JSONValue = .emptyObject,
        systemConfig: JSONValue = .emptyObject, stateDirectory: String? = nil, temporaryDirectory: String? = nil,
        hostVersion: String = "0.1.0",
        maxConcurrentRequests: Int = 64, cancelGrace: Duration = .seconds(5), timeout: Duration = .seconds(10),
        maxFrameBytes: Int = ExtensionConnection.maxFrameBytes
    ) {
        self.maxFrameBytes = min(max(maxFrameBytes, 1024), ExtensionConnection.maxFrameBytes)
        self.kind = kind
        self.protocolVersions = protocolVersions
        self.adminConfig = adminConfig
        self.systemConfig = systemConfig
        self.stateDirectory = stateDirectory
        self.temporaryDirectory = temporaryDirectory
        self.hostVersion = hostVersion
        self.maxConcurrentRequests = maxConcurrentRequests
        self.cancelGrace = cancelGrace
        self.timeout = timeout
    }

    /// The `initialize` params these options make.
    public var params: JSONValue {
        var p: [String: JSONValue] = [
            "protocolVersions": .array(protocolVersions.map(JSONValue.string)),
            "host": ["name": "gofer", "version": .string(hostVersion)],
            "config": ["system": systemConfig, "admin": adminConfig],
            "limits": [
                "maxFrameBytes": .int(Int64(maxFrameBytes)),
                "maxConcurrentRequests": .int(Int64(maxConcurrentRequests)),
            ],
            "timeouts": [
                "cancelGraceMs": .int(
                    Int64(cancelGrace.components.seconds * 1000 + cancelGrace.components.attoseconds / 1_000_000_000_000_000))
            ],
            "processId": .int(Int64(getpid())),
        ]
        if let kind { p["kind"] = .string(kind.rawValue) }
        var paths: [String: JSONValue] = [:]
        if let stateDirectory { paths["state"] = .string(stateDirectory) }
        if let temporaryDirectory { paths["tmp"] = .string(temporaryDirectory) }
        p["paths"] = .object(paths)
        return .object(p)
    }
}

/// What the extension said about itself in the handshake.
public struct Handshake: Sendable {
    /// The version both sides speak from now on.
    public var protocolVersion: ProtocolVersion
    /// The extension's name.
    public var name: String
    /// Its kind.
    public var kind: ExtensionKind
    /// Its version (semver).
    public var version: String
    /// Its one-line summary.
    public var summary: String
    /// The optional features it advertised.
    public var capabilities: [String: JSONValue]
    /// The schema of its admin config.
    public var configSchema: JSONSchema
    /// The schema of the settings each use gives it.
    public var paramsSchema: JSONSchema
    /// The full `initialize` result.
    public var raw: JSONValue
}

/// One frame seen on the wire, for the conformance suite's recorder.
public struct TappedFrame: Sendable {
    /// Which way a frame went, and whether the suite wrote it raw.
    public enum Direction: Sendable {
        /// Host → extension, as a frame.
        case toExtension
        /// Extension → host.
        case fromExtension
        /// Host → extension, bytes written as they are (the suite's malformed frames).
        case rawToExtension
    }
    /// Which way it went.
    public var direction: Direction
    /// The frame as sent or received.
    public var bytes: [UInt8]
    /// When.
    public var at: ContinuousClock.Instant
}

/// One chunk of a stream: the bytes of one item and which descriptor they came from.
public struct StreamChunk: Sendable {
    /// `stdout` or `stderr`.
    public var fd: String
    /// The item's bytes, decoded from `text` or `b64`.
    public var bytes: [UInt8]
    /// The `seq` of the `stream/data` that carried it.
    public var seq: Int64
    /// The frame's resume point, if it gave one.
    public var cursor: String?
}

/// The host end of one extension process: spawns it, multiplexes requests over its stdin/stdout,
/// drains its stderr, and tears it down.
///
/// Reading stdout and stderr happens on dedicated threads that never wait on writes, so a full
/// stdin pipe can never deadlock against an undrained stdout.
public final class ExtensionConnection: Sendable {
    /// The largest frame the host accepts from an extension (4 MiB), announced in `initialize`.
    public static let maxFrameBytes = 4 * 1024 * 1024
    /// Bytes of stderr kept for diagnostics.
    public static let stderrTailBytes = 64 * 1024

    /// Answers a request the extension sends the host (`trigger/emit`, `objects/…`).
    public typealias RequestHandler = @Sendable (_ method: String, _ params: JSONValue) async throws -> JSONValue

    struct StreamSink {
        var continuation: AsyncStream<StreamChunk>.Continuation
        var nextSeq: Int64 = 0
        /// Whether the request opening the stream has been written: notifications for the stream
        /// (``notifyStream(_:_:_:)``) wait until it has, so the extension never sees them first.
        var opened = false
        var held: [[UInt8]] = []
    }

    struct State {
        var nextID: Int64 = 1
        var pending: [RequestID: CheckedContinuation<JSONValue, any Error>] = [:]
        var streams: [String: StreamSink] = [:]
        var nextStream = 1
        var closed: ExtensionFailure?
        var stderrTail: [UInt8] = []
        var violations: [String] = []
        var lastActivity = ContinuousClock.now
        var stderrClosed = false
        /// The `limits.maxFrameBytes` announced in `initialize`, once its answer arrived.
        var announcedMaxFrameBytes = ExtensionConnection.maxFrameBytes
    }

    /// The extension's process.
    public let process: ChildProcess
    /// How it was started.
    public let launch: ExtensionLaunch
    let state = Mutex(State())
    /// Keeps calls in flight within the extension's `maxConcurrentRequests` (64 until it says).
    let callGate = CallGate(limit: 64)
    let requestHandler: RequestHandler?
    let onStderr: (@Sendable (String) -> Void)?
    let tap: (@Sendable (TappedFrame) -> Void)?

    private init(
        process: ChildProcess, launch: ExtensionLaunch, requestHandler: RequestHandler?, onStderr: (@Sendable (String) -> Void)?,
        tap: (@Sendable (TappedFrame) -> Void)?
    ) {
        self.process = process
        self.launch = launch
        self.requestHandler = requestHandler
        self.onStderr = onStderr
        self.tap = tap
    }

    /// Writes one frame to the extension's stdin.
    @discardableResult
    func write(_ frame: [UInt8]) -> Bool {
        tap?(TappedFrame(direction: .toExtension, bytes: frame, at: .now))
        return process.stdin.write(frame)
    }

    /// Starts the extension process and its readers. Does not handshake; call ``initialize(_:)``.
    ///
    /// - Parameters:
    ///   - launch: How to start it.
    ///   - requestHandler: Answers requests the extension sends (for example `trigger/emit`).
    ///   - onStderr: Receives each line the extension logs.
    ///   - tap: Sees every frame in both directions (the conformance suite's recorder).
    public static func spawn(
        _ launch: ExtensionLaunch, requestHandler: RequestHandler? = nil, onStderr: (@Sendable (String) -> Void)? = nil,
        tap: (@Sendable (TappedFrame) -> Void)? = nil
    ) throws(ExtensionFailure) -> ExtensionConnection {
        let process: ChildProcess
        do {
            process = try ChildProcess.spawn(
                launch.executable, arguments: launch.arguments, environment: launch.effectiveEnvironment,
                workingDirectory: launch.workingDirectory)
        } catch {
            throw ExtensionFailure(kind: .spawnFailed, message: ErrorText.describe(error))
        }
        let connection = ExtensionConnection(
            process: process, launch: launch, requestHandler: requestHandler, onStderr: onStderr, tap: tap)
        LineReader.start(fd: process.stdoutFD, maxLineBytes: maxFrameBytes, name: "ext-stdout-\(process.pid)") { [connection] event in
            connection.handleStdout(event)
        }
        LineReader.start(fd: process.stderrFD, maxLineBytes: 256 * 1024, name: "ext-stderr-\(process.pid)") { [connection] event in
            connection.handleStderr(event)
        }
        return connection
    }

    // MARK: - Calls

    /// Sends a request and waits for its one response.
    ///
    /// With a `timeout`, the extension is told the deadline (`_meta.timeoutMs`); if it has not
    /// answered by then, the host sends `$/cancel` and waits `cancelGrace` more before giving up
    /// with ``ExtensionFailure/Kind/timedOut``.
    public func request(
        _ method: String, _ params: JSONValue = .emptyObject, timeout: Duration? = nil, cancelGrace: Duration = .seconds(5),
        meta: [String: JSONValue] = [:]
    ) async throws -> JSONValue {
        try await request(method, params, timeout: timeout, cancelGrace: cancelGrace, meta: meta, written: nil)
    }

    func request(
        _ method: String, _ params: JSONValue, timeout: Duration?, cancelGrace: Duration, meta: [String: JSONValue],
        written: (@Sendable () -> Void)?
    ) async throws -> JSONValue {
        var params = params
        var metaObject = meta
        if let timeout { metaObject["timeoutMs"] = .int(Self.milliseconds(timeout)) }
        if !metaObject.isEmpty { params["_meta"] = .object(metaObject) }
        let id: RequestID = state.withLock { s in
            defer { s.nextID += 1 }
            return .int(s.nextID)
        }
        let frame = Frame.request(id: id, method: method, params: params)
        // Calls beyond the extension's advertised limit wait their turn here rather than being
        // refused with -32057: a burst of task starts never fails on the host's own account.
        let gated = RequestClass(method: method, params: params) == .call && method != "initialize" && method != "shutdown"
        if gated { try await callGate.acquire() }
        defer { if gated { callGate.release() } }
        guard let timeout else { return try await send(id: id, frame: frame, written: written) }
        return try await withThrowingTaskGroup(of: JSONValue?.self) { group in
            group.addTask { try await self.send(id: id, frame: frame, written: written) }
            group.addTask {
                // The extension enforces the deadline itself and answers -32051; the host only
                // cancels explicitly if that answer is late, then gives up after the grace.
                let nudge = min(cancelGrace / 2, .seconds(1))
                try await CancellableSleep.sleep(for: timeout + nudge)
                self.notify(ProtocolMethod.cancel.rawValue, ["id": id.json, "reason": "deadline passed"])
                try await CancellableSleep.sleep(for: cancelGrace - nudge)
                return nil
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let value = next { return value }
                self.abandon(id)
                throw ExtensionFailure(
                    kind: .timedOut,
                    message:
                        "\(method) got no answer within \(DurationText.format(timeout)) (+\(DurationText.format(cancelGrace)) after cancel)"
                )
            }
            throw CancellationError()
        }
    }

    static func milliseconds(_ d: Duration) -> Int64 {
        d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
    }

    private func send(id: RequestID, frame: [UInt8], written: (@Sendable () -> Void)? = nil) async throws -> JSONValue {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<JSONValue, any Error>) in
                let closed: ExtensionFailure? = state.withLock { s in
                    if let closed = s.closed { return closed }
                    s.pending[id] = c
                    return nil
                }
                if let closed {
                    c.resume(throwing: closed)
                    return
                }
                if !write(frame) {
                    abandon(id, error: ExtensionFailure(kind: .exited, message: "the extension's stdin is closed"))
                } else {
                    written?()
                }
            }
        } onCancel: {
            self.notify(ProtocolMethod.cancel.rawValue, ["id": id.json, "reason": "caller cancelled"])
            self.abandon(id, error: CancellationError())
        }
    }

    private func abandon(_ id: RequestID, error: (any Error)? = nil) {
        let c = state.withLock { $0.pending.removeValue(forKey: id) }
        if let error { c?.resume(throwing: error) } else { c?.resume(throwing: CancellationError()) }
    }

    /// Sends a notification.
    public func notify(_ method: String, _ params: JSONValue = .emptyObject) {
        write(Frame.notification(method: method, params: params))
    }

    /// Sends a notification about an open stream (`attach/input`), never before the request that
    /// opened it: until that request is written, notifications are held and then sent in order.
    public func notifyStream(_ streamID: String, _ method: String, _ params: JSONValue) {
        let frame = Frame.notification(method: method, params: params)
        state.withLock { s in
            guard var sink = s.streams[streamID] else { return }
            if sink.opened {
                _ = write(frame)
            } else {
                sink.held.append(frame)
                s.streams[streamID] = sink
            }
        }
    }

    private func streamOpened(_ streamID: String) {
        state.withLock { s in
            guard var sink = s.streams[streamID] else { return }
            for frame in sink.held { _ = write(frame) }
            sink.held = []
            sink.opened = true
            s.streams[streamID] = sink
        }
    }

    /// Sends raw bytes to the extension's stdin (the conformance suite uses this for malformed frames).
    @discardableResult
    public func sendRaw(_ bytes: [UInt8]) -> Bool {
        tap?(TappedFrame(direction: .rawToExtension, bytes: bytes, at: .now))
        return process.stdin.write(bytes)
    }

    /// Sends a request that opens a stream and returns the stream together with the pending result.
    ///
    /// Credit is granted as the caller consumes chunks, so at most `windowBytes` are ever buffered.
    public func requestStream(
        _ method: String, _ params: JSONValue, windowBytes: Int = 256 * 1024, timeout: Duration? = nil, meta: [String: JSONValue] = [:]
    ) -> (chunks: CreditedStream, result: Task<JSONValue, any Error>) {
        let (stream, continuation) = AsyncStream<StreamChunk>.makeStream()
        let streamID: String = state.withLock { s in
            defer { s.nextStream += 1 }
            let id = "s\(s.nextStream)"
            s.streams[id] = StreamSink(continuation: continuation)
            return id
        }
        let result = Task {
            defer {
                let sink = self.state.withLock { $0.streams.removeValue(forKey: streamID) }
                sink?.continuation.finish()
            }
            var all = meta
            all["stream"] = ["id": .string(streamID), "windowBytes": .int(Int64(windowBytes))]
            return try await self.request(
                method, params, timeout: timeout, cancelGrace: .seconds(5), meta: all, written: { self.streamOpened(streamID) })
        }
        return (CreditedStream(stream: stream, streamID: streamID, connection: self, windowBytes: windowBytes), result)
    }

    // MARK: - Handshake and shutdown

    /// Performs `initialize` and sends `initialized`.
    public func initialize(_ options: InitializeOptions) async throws -> Handshake {
        let result = try await request(ProtocolMethod.initialize.rawValue, options.params, timeout: options.timeout, cancelGrace: .milliseconds(100))
        func violation(_ what: String) -> ExtensionFailure {
            ExtensionFailure(kind: .protocolViolation, message: "invalid initialize result from \(launch.executable): \(what)")
        }
        guard let versionText = result["protocolVersion"]?.stringValue, let version = ProtocolVersion(versionText) else {
            throw violation("\"protocolVersion\" must be a \"MAJOR.MINOR\" string")
        }
        guard
            options.protocolVersions.contains(versionText)
                || options.protocolVersions.compactMap(ProtocolVersion.init).contains(where: {
                    $0.major == version.major && $0.minor >= version.minor
                })
        else {
            throw violation(
                "it chose protocol \(versionText), which the host did not offer (\(options.protocolVersions.joined(separator: ", ")))")
        }
        guard let ext = result["extension"], let name = ext["name"]?.stringValue, let kindText = ext["kind"]?.stringValue,
            let kind = ExtensionKind(rawValue: kindText), let version = ext["version"]?.stringValue
        else { throw violation("\"extension\" needs name, kind (trigger, task, scheduler or secrets) and version") }
        if let expected = options.kind, expected != kind {
            throw violation("expected a \(expected.rawValue) extension, but \(name) is a \(kind.rawValue)")
        }
        if let limit = result["limits"]?["maxConcurrentRequests"]?.intValue, limit >= 1 { callGate.setLimit(Int(min(limit, 1 << 20))) }
        state.withLock { $0.announcedMaxFrameBytes = options.maxFrameBytes }
        notify(ProtocolMethod.initialized.rawValue)
        return Handshake(
            protocolVersion: ProtocolVersion(versionText) ?? ProtocolVersion(1, 0), name: name, kind: kind, version: version,
            summary: ext["summary"]?.stringValue ?? "", capabilities: result["capabilities"]?.objectValue ?? [:],
            configSchema: JSONSchema(result["configSchema"] ?? .bool(true)),
            paramsSchema: JSONSchema(result["paramsSchema"] ?? .bool(true)),
            raw: result)
    }

    /// Shuts the extension down: `shutdown{deadlineMs}`, `exit`, close stdin; then SIGTERM to
    /// its process group after `deadline`, and SIGKILL `killGrace` later.
    @discardableResult
    public func shutdown(deadline: Duration = .seconds(10), killGrace: Duration = .seconds(2)) async -> TerminationStatus {
        if process.exitStatus == nil {
            _ = try? await request(
                "shutdown", ["deadlineMs": .int(Self.milliseconds(deadline))], timeout: deadline, cancelGrace: .milliseconds(500))
            notify(ProtocolMethod.exit.rawValue)
            process.closeStdin()
            if let status = await process.waitForExit(timeout: .seconds(2)) {
                process.signalGroup(SIGKILL)  // leftovers in its group
                return status
            }
        }
        return await process.terminate(grace: killGrace)
    }

    /// Kills the process group at once (the host's last resort, and for tests).
    public func kill() {
        process.signalGroup(SIGKILL)
    }

    // MARK: - Readers

    /// The last 64 KiB the extension wrote to stderr.
    public var stderrTail: String { state.withLock { String(decoding: $0.stderrTail, as: UTF8.self) } }

    /// Waits (at most `timeout`) until everything the extension wrote to stderr has been read,
    /// so a crash message is in ``stderrTail``.
    public func drainStderr(timeout: Duration = .milliseconds(500)) async {
        let deadline = ContinuousClock.now + timeout
        while !state.withLock({ $0.stderrClosed }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Protocol violations seen on stdout so far (junk, invalid frames).
    public var violations: [String] { state.withLock { $0.violations } }

    /// Time of the last frame received.
    public var lastActivity: ContinuousClock.Instant { state.withLock { $0.lastActivity } }

    /// Whether stdout has closed (the extension is gone or going).
    public var isClosed: Bool { state.withLock { $0.closed != nil } }

    func handleStderr(_ event: LineEvent) {
        switch event {
        case .line(let bytes):
            state.withLock { s in
                s.stderrTail.append(contentsOf: bytes)
                s.stderrTail.append(0x0A)
                if s.stderrTail.count > Self.stderrTailBytes { s.stderrTail.removeFirst(s.stderrTail.count - Self.stderrTailBytes) }
            }
            onStderr?(String(decoding: bytes, as: UTF8.self))
        case .oversized(let prefix, let size):
            onStderr?(String(decoding: prefix.prefix(1024), as: UTF8.self) + "… (\(size) bytes, cut)")
        case .eof:
            state.withLock { $0.stderrClosed = true }
        }
    }

    func handleStdout(_ event: LineEvent) {
        switch event {
        case .line(let bytes):
            tap?(TappedFrame(direction: .fromExtension, bytes: bytes, at: .now))
            if bytes.isEmpty { return }
            let limit = state.withLock { s in
                s.lastActivity = .now
                return s.announcedMaxFrameBytes
            }
            if bytes.count > limit {
                recordViolation("frame of \(bytes.count) bytes exceeds the \(limit) bytes announced in limits.maxFrameBytes (discarded): \(String(decoding: bytes.prefix(120), as: UTF8.self))…")
                // A request gets -32005 with its id, as protocol.md §2 says; a response or a notification is dropped.
                let head = Array(bytes.prefix(512))
                if String(decoding: head, as: UTF8.self).contains(#""method""#), let id = Frame.sniffID(in: head) {
                    write(
                        Frame.response(
                            id: id, result: .failure(ProtocolError(.frameTooLarge, "frame of \(bytes.count) bytes exceeds the host's limit of \(limit) bytes"))))
                }
                return
            }
            do {
                dispatch(try Frame.decode(bytes))
            } catch {
                recordViolation("invalid frame on stdout: \(error.error.message): \(String(decoding: bytes.prefix(200), as: UTF8.self))")
            }
        case .oversized(let prefix, let size):
            tap?(TappedFrame(direction: .fromExtension, bytes: prefix, at: .now))
            recordViolation("frame of \(size) bytes exceeds \(Self.maxFrameBytes) bytes")
        case .eof:
            let failure = ExtensionFailure(kind: .exited, message: "the extension closed its stdout (it exited or crashed)")
            let (pending, streams) = state.withLock { s in
                s.closed = failure
                defer {
                    s.pending = [:]
                    s.streams = [:]
                }
                return (s.pending, s.streams)
            }
            for c in pending.values { c.resume(throwing: failure) }
            for sink in streams.values { sink.continuation.finish() }
        }
    }

    func recordViolation(_ text: String) {
        state.withLock { s in
            if s.violations.count < 100 { s.violations.append(text) }
        }
    }

    func dispatch(_ message: Message) {
        switch message {
        case .response(let id, let result):
            guard let c = state.withLock({ $0.pending.removeValue(forKey: id) }) else { return }
            switch result {
            case .success(let value): c.resume(returning: value)
            case .failure(let error): c.resume(throwing: error)
            }
        case .notification(let method, let params):
            if method == ProtocolMethod.streamData.rawValue { routeStreamData(params) }
        case .unidentifiedError(let error):
            recordViolation("the extension could not read a frame the host sent: \(error.message)")
        case .request(let id, let method, let params):
            guard let handler = requestHandler else {
                write(Frame.response(id: id, result: .failure(.methodNotFound(method))))
                return
            }
            Task {
                let result: Result<JSONValue, ProtocolError>
                do {
                    result = .success(try await handler(method, params))
                } catch let error as ProtocolError {
                    result = .failure(error)
                } catch {
                    result = .failure(ProtocolError(.internalError, "host failed to handle \(method)", cause: error, retryable: true))
                }
                self.write(Frame.response(id: id, result: result))
            }
        }
    }

    func routeStreamData(_ params: JSONValue) {
        guard let streamID = params["streamId"]?.stringValue, let seq = params["seq"]?.intValue else {
            recordViolation("stream/data without streamId or seq")
            return
        }
        let sink: StreamSink? = state.withLock { s in
            guard var sink = s.streams[streamID] else { return nil }
            if seq != sink.nextSeq {
                s.violations.append("stream \(streamID): expected seq \(sink.nextSeq), got \(seq)")
            }
            sink.nextSeq = seq + 1
            s.streams[streamID] = sink
            return sink
        }
        guard let sink else { return }
        for item in params["items"]?.arrayValue ?? [] {
            let fd = item["fd"]?.stringValue ?? "stdout"
            var bytes: [UInt8] = []
            if let text = item["text"]?.stringValue {
                bytes = Array(text.utf8)
            } else if let b64 = item["b64"]?.stringValue, let data = Data(base64Encoded: b64) {
                bytes = Array(data)
            }
            sink.continuation.yield(StreamChunk(fd: fd, bytes: bytes, seq: seq, cursor: params["cursor"]?.stringValue))
        }
    }

    func grantCredit(stream: String, bytes: Int) {
        guard bytes > 0 else { return }
        notify(ProtocolMethod.streamCredit.rawValue, ["streamId": .string(stream), "bytes": .int(Int64(bytes))])
    }
}

/// The chunks of a stream. Iterating grants credit back to the extension for the chunks consumed,
/// which is what keeps a fast producer from outrunning a slow consumer.
///
/// Credit goes back in batches of an eighth of the window, not per chunk: a producer sending
/// small chunks still always has most of its window, and the pipe carries one credit frame per
/// eighth of a window instead of one per chunk.
public struct CreditedStream: AsyncSequence, Sendable {
    /// One chunk of the stream.
    public typealias Element = StreamChunk
    let stream: AsyncStream<StreamChunk>
    /// The stream's id, as sent in `_meta.stream.id`.
    public let streamID: String
    let connection: ExtensionConnection
    let windowBytes: Int

    /// Iterates the chunks, granting credit back as they are consumed.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncStream<StreamChunk>.AsyncIterator
        let streamID: String
        let connection: ExtensionConnection
        let grantThreshold: Int
        var owed = 0

        /// The next chunk, or `nil` once the stream ended.
        public mutating func next() async -> StreamChunk? {
            if owed >= grantThreshold {
                connection.grantCredit(stream: streamID, bytes: owed)
                owed = 0
            }
            guard let chunk = await base.next() else { return nil }
            owed += chunk.bytes.count
            return chunk
        }
    }

    /// An iterator over the chunks.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: stream.makeAsyncIterator(), streamID: streamID, connection: connection, grantThreshold: Swift.max(1, windowBytes / 8))
    }
}

extension ExtensionConnection {
    /// A typed request (`ProtocolCalls`): the params encoded and the result decoded by the same
    /// declaration the SDK decodes with.
    public func call<P, R>(_ call: ProtocolCall<P, R>, _ params: P, timeout: Duration? = nil, cancelGrace: Duration = .seconds(5))
        async throws -> R
    {
        try call.decodeResult(try await request(call.method.rawValue, try call.encode(params), timeout: timeout, cancelGrace: cancelGrace))
    }
}
