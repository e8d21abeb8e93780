import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Handles one request: given its context and params, returns the result or throws.
public typealias RequestHandler = @Sendable (RequestContext, JSONValue) async throws -> JSONValue

/// Turns a kind protocol (``Trigger``, ``CommonTask``, ``Scheduler``, ``SecretStore``) into the
/// handler table the runtime serves. Each kind provides one; authors never see it.
public protocol KindAdapter: Sendable {
    /// The kind it serves.
    var kind: ExtensionKind { get }
    /// The extension's manifest.
    var manifest: Manifest { get }
    /// Builds the extension from its validated admin config and returns the methods it serves.
    func start(config: JSONValue, context: ExtensionContext) async throws -> [String: RequestHandler]
}

/// Serves the protocol over stdin/stdout for one extension process.
///
/// Owns framing, the handshake, dispatch, concurrent requests, cancellation, deadlines, flow control,
/// graceful shutdown and stdout hygiene. Housekeeping (`$/ping`, `$/cancel`, `stream/credit`) is
/// answered on the reader thread and never queues behind work.
public final class ExtensionRuntime: Sendable {
    struct InFlight {
        var task: Task<Void, Never>?
        var cancelReason: ErrorCode?
        var deadline: ContinuousClock.Instant?
        /// Fires the deadline; cancelled as soon as the request is answered, so no sleeper
        /// outlives its request.
        var timer: Task<Void, Never>?
        /// A long-lived request (a stream, `scheduler/wait`): counted against the watch limit.
        var watch = false
    }

    struct StreamState {
        var credit: Int
        var seq: Int64 = 0
        /// Where `attach/input` for this stream goes, when its request takes input.
        var input: AsyncStream<AttachInput>.Continuation?
        var waiters: [(id: UUID, wanted: Int, continuation: CheckedContinuation<Int, any Error>)] = []
    }

    enum Phase: Equatable {
        case awaitingInitialize, initializing, running, shuttingDown, shutDown
    }

    struct State {
        var phase = Phase.awaitingInitialize
        var handlers: [String: RequestHandler] = [:]
        var inFlight: [RequestID: InFlight] = [:]
        var streams: [String: StreamState] = [:]
        var outgoing: [RequestID: CheckedContinuation<JSONValue, any Error>] = [:]
        var nextOutgoing = 1
        /// Calls this extension serves at once: what it advertises in `limits.maxConcurrentRequests`.
        /// (The host's own `limits` bound what this extension may send *to* the host.)
        var maxConcurrent = ExtensionRuntime.maxConcurrentRequests
        var cancelGrace = Duration.seconds(5)
        /// The largest frame the host accepts (its `limits.maxFrameBytes`); binds every frame after
        /// the `initialize` answer (protocol.md §2).
        var hostMaxFrameBytes = ExtensionRuntime.maxFrameBytes
    }

    let adapter: any KindAdapter
    let writer: FrameWriter
    let state = Mutex(State())
    var parser: JSONParser { JSONParser(maxDepth: 128) }
    /// Largest frame this extension accepts.
    public static let maxFrameBytes = 4 * 1024 * 1024
    static let maxConcurrentRequests = 64
    /// Long-lived requests in flight at once: one stream and one wait per running task.
    static let maxConcurrentWatches = 4096

    init(adapter: any KindAdapter, output: FrameWriter) {
        self.adapter = adapter
        self.writer = output
    }

    // MARK: - Entry point

    /// Runs the extension: handles `--describe`, protects stdout, serves until `exit` or EOF.
    public static func main(_ adapter: some KindAdapter) -> Never {
        let args = CommandLine.arguments.dropFirst()
        if args.contains("--describe") {
            var out = adapter.manifest.json(kind: adapter.kind).serialized()
            out.append(0x0A)
            FileHandle.standardOutput.write(Data(out))
            exit(0)
        }
        if args.contains("--help") || args.contains("-h") || isatty(0) == 1 {
            let text = """
                \(adapter.manifest.name) \(adapter.manifest.version): \(adapter.manifest.summary)
                This is a Gofer \(adapter.kind.rawValue) extension. Gofer starts it and talks to it over stdin/stdout
                (protocol \(ProtocolVersion.supported.map(\.description).joined(separator: ", "))).
                  --describe   print the manifest as JSON and exit
                Install it with `gofer extension install`, or test it with `gofer-conformance --kind \(adapter.kind.rawValue) -- <this binary>`.

                """
            FileHandle.standardError.write(Data(text.utf8))
            exit(2)
        }
        // stdout carries only frames: keep the real stdout for the protocol and point fd 1 at
        // stderr, so a stray print() from any library lands in the log instead of corrupting a frame.
        let protocolFD = dup(1)
        dup2(2, 1)
        let runtime = ExtensionRuntime(adapter: adapter, output: FrameWriter(fd: protocolFD))
        LineReader.readLoop(fd: 0, maxLineBytes: maxFrameBytes) { event in
            runtime.handle(event)
        }
        // EOF: the host is gone or wants us gone. Stop promptly.
        runtime.cancelAll()
        exit(0)
    }

    // MARK: - Reader thread

    func handle(_ event: LineEvent) {
        switch event {
        case .line(let bytes):
            if bytes.isEmpty { return }
            do {
                let message = try Frame.decode(bytes, parser: parser)
                dispatch(message)
            } catch {
                send(Frame.response(id: error.id, result: .failure(error.error)))
            }
        case .oversized(let prefix, let size):
            let id = Frame.sniffID(in: prefix)
            send(
                Frame.response(
                    id: id,
                    result: .failure(
                        ProtocolError(
                            .frameTooLarge, "frame of \(size) bytes exceeds the limit of \(Self.maxFrameBytes) bytes",
                            extra: ["limit": .int(Int64(Self.maxFrameBytes))]))))
        case .eof:
            break
        }
    }

    func send(_ frame: [UInt8]) {
        writer.write(frame)
    }

    func dispatch(_ message: Message) {
        switch message {
        case .response(let id, let result):
            let continuation = state.withLock { $0.outgoing.removeValue(forKey: id) }
            switch result {
            case .success(let value): continuation?.resume(returning: value)
            case .failure(let error): continuation?.resume(throwing: error)
            }
        case .notification(let method, let params):
            handleNotification(method, params)
        case .unidentifiedError:
            break  // The host could not read one of our frames; nothing to answer.
        case .request(let id, let method, let params):
            handleRequest(id: id, method: method, params: params)
        }
    }

    func handleNotification(_ method: String, _ params: JSONValue) {
        switch method {
        case ProtocolMethod.cancel.rawValue:
            guard let raw = params["id"], let id = RequestID(json: raw) else { return }
            cancel(id, reason: .cancelled)
        case ProtocolMethod.streamCredit.rawValue:
            guard let streamID = params["streamId"]?.stringValue, let bytes = params["bytes"]?.intValue, bytes > 0 else { return }
            addCredit(stream: streamID, bytes: Int(min(bytes, Int64(Int32.max))))
        case ProtocolMethod.attachInput.rawValue:
            // Input for a stream that has ended (or never took input) is dropped, like credit for it.
            guard let notice = try? JSONCodec.decode(AttachInputNotice.self, from: params),
                let input = state.withLock({ $0.streams[notice.streamId]?.input })
            else { return }
            input.yield(AttachInput(notice))
        case "exit":
            let clean = state.withLock { $0.phase == .shutDown }
            exit(clean ? 0 : 1)
        default:
            break  // `initialized` and unknown notifications need nothing.
        }
    }

    func handleRequest(id: RequestID, method: String, params: JSONValue) {
        if method == ProtocolMethod.ping.rawValue {
            send(Frame.response(id: id, result: .success(.emptyObject)))
            return
        }
        enum Decision {
            case reject(ProtocolError)
            case initialize
            case shutdown
            case run(RequestHandler)
        }
        let decision: Decision = state.withLock { s in
            if s.inFlight[id] != nil {
                return .reject(ProtocolError(.invalidRequest, "request id \(id) is already in flight; ids must be unique"))
            }
            switch s.phase {
            case .awaitingInitialize:
                if method == "initialize" {
                    s.phase = .initializing
                    s.inFlight[id] = InFlight()
                    return .initialize
                }
                return .reject(ProtocolError(.notInitialized, "\"\(method)\" before \"initialize\"; send initialize first"))
            case .initializing:
                if method == "initialize" { return .reject(ProtocolError(.alreadyInitialized, "initialize was already sent")) }
                return .reject(ProtocolError(.notInitialized, "\"\(method)\" while initialize is still in progress"))
            case .shuttingDown, .shutDown:
                return .reject(ProtocolError(.shuttingDown, "the extension is shutting down; \"\(method)\" was refused"))
            case .running:
                if method == "initialize" { return .reject(ProtocolError(.alreadyInitialized, "initialize was already sent")) }
                if method == "shutdown" {
                    s.phase = .shuttingDown
                    return .shutdown
                }
                guard let handler = s.handlers[method] else {
                    if method.hasPrefix("\(adapter.kind.rawValue)/") || method.hasPrefix("$/") || method == "health" {
                        return .reject(
                            ProtocolError(
                                .methodNotFound, "\"\(method)\" is not offered by this extension (not advertised in its capabilities)"))
                    }
                    return .reject(.methodNotFound(method))
                }
                let watch = RequestClass(method: method, params: params) == .watch
                let (count, limit) =
                    watch
                    ? (s.inFlight.values.lazy.filter(\.watch).count, Self.maxConcurrentWatches)
                    : (s.inFlight.values.lazy.filter { !$0.watch }.count, s.maxConcurrent)
                if count >= limit {
                    return .reject(
                        ProtocolError(
                            .resourceExhausted,
                            "too many concurrent \(watch ? "long-lived requests" : "requests") (limit \(limit)); retry later",
                            extra: ["retryAfterMs": 100]))
                }
                s.inFlight[id] = InFlight(watch: watch)
                return .run(handler)
            }
        }
        switch decision {
        case .reject(let error):
            send(Frame.response(id: id, result: .failure(error)))
        case .initialize:
            // Not registered as cancellable: initialize and shutdown cannot be cancelled.
            Task { await self.initialize(id: id, params: params) }
        case .shutdown:
            Task { await self.shutdown(id: id, params: params) }
        case .run(let handler):
            run(id: id, method: method, params: params, handler: handler)
        }
    }

    // MARK: - Requests

    func run(id: RequestID, method: String, params: JSONValue, handler: @escaping RequestHandler) {
        let meta = params["_meta"]
        var stream: OutputStream?
        var input: AsyncStream<AttachInput>?
        if let spec = meta?["stream"], let streamID = spec["id"]?.stringValue {
            let window = Int(spec["windowBytes"]?.intValue ?? 256 * 1024)
            var entry = StreamState(credit: max(0, window))
            if method == ProtocolMethod.schedulerAttach.rawValue {
                let (inputs, continuation) = AsyncStream<AttachInput>.makeStream(bufferingPolicy: .bufferingOldest(4096))
                entry.input = continuation
                input = inputs
            }
            state.withLock { $0.streams[streamID] = entry }
            stream = OutputStream(id: streamID, runtime: self)
        }
        if let timeout = meta?["timeoutMs"]?.intValue, timeout <= 0 {
            // Expired on arrival (protocol.md §6): answered without starting the work.
            finish(id: id, result: .failure(cancellationError(.deadlineExceeded)), stream: stream?.id)
            return
        }
        let deadline = meta?["timeoutMs"]?.intValue.map { ContinuousClock.now + .milliseconds($0) }
        let context = RequestContext(
            id: id, method: method, deadline: deadline, stream: stream, input: input, idempotencyKey: meta?["idempotencyKey"]?.stringValue,
            runtime: self)
        var callParams = params
        callParams["_meta"] = nil
        let task = Task {
            let result: Result<JSONValue, ProtocolError>
            do {
                result = .success(try await handler(context, callParams))
            } catch let error as ProtocolError {
                result = .failure(error)
            } catch {
                let reason = self.state.withLock { $0.inFlight[id]?.cancelReason }
                if let reason {
                    result = .failure(self.cancellationError(reason))
                } else if error is CancellationError {
                    result = .failure(ProtocolError(.cancelled, "the request was cancelled"))
                } else {
                    result = .failure(ProtocolError(.internalError, "\(method) failed", cause: error))
                }
            }
            self.finish(id: id, result: result, stream: stream?.id)
        }
        state.withLock { s in
            s.inFlight[id]?.task = task
            s.inFlight[id]?.deadline = deadline
        }
        if let timeout = meta?["timeoutMs"]?.intValue {
            let timer = Task {
                try? await CancellableSleep.sleep(for: .milliseconds(max(0, timeout)))
                if Task.isCancelled { return }
                self.cancel(id, reason: .deadlineExceeded)
            }
            let answered = state.withLock { s -> Bool in
                guard s.inFlight[id] != nil else { return true }
                s.inFlight[id]?.timer = timer
                return false
            }
            if answered { timer.cancel() }
        }
    }

    func cancellationError(_ reason: ErrorCode) -> ProtocolError {
        reason == .deadlineExceeded
            ? ProtocolError(.deadlineExceeded, "the request's deadline (_meta.timeoutMs) passed before it finished")
            : ProtocolError(.cancelled, "the request was cancelled")
    }

    /// Writes the one response for `id`, unless another path already did.
    func finish(id: RequestID, result: Result<JSONValue, ProtocolError>, stream: String?) {
        let (owned, timer, input) = state.withLock { s -> (Bool, Task<Void, Never>?, AsyncStream<AttachInput>.Continuation?) in
            guard let entry = s.inFlight.removeValue(forKey: id) else { return (false, nil, nil) }
            let input = stream.flatMap { s.streams[$0]?.input }
            if let stream { s.streams[stream] = nil }
            return (true, entry.timer, input)
        }
        timer?.cancel()
        input?.finish()
        guard owned else { return }
        let frame = Frame.response(id: id, result: result)
        let limit = hostMaxFrameBytes
        if frame.count - 1 > limit {
            // An answer the host would discard: say why instead (protocol.md §2).
            send(
                Frame.response(
                    id: id,
                    result: .failure(
                        ProtocolError(
                            .frameTooLarge, "the answer is \(frame.count - 1) bytes, over the host's limit of \(limit) bytes (limits.maxFrameBytes)",
                            reason: "answer_too_large", extra: ["limit": .int(Int64(limit))]))))
        } else {
            send(frame)
        }
    }

    /// The host's `limits.maxFrameBytes`.
    var hostMaxFrameBytes: Int { state.withLock { $0.hostMaxFrameBytes } }

    /// Payload bytes one `stream/data` item may carry so its frame stays within the host's limit
    /// even when every byte needs a six-byte escape (`\u0001`); at most 64 KiB (§7's batch size).
    func streamPieceBytes(stream: String) -> Int {
        let room = hostMaxFrameBytes - 160 - 2 * stream.utf8.count
        return min(64 * 1024, max(16, room / 6))
    }

    /// Cancels a request. Its handler gets `cancelGrace` to finish; after that the request is
    /// answered with the cancellation error anyway, so every request gets exactly one response.
    func cancel(_ id: RequestID, reason: ErrorCode) {
        let (task, grace): (Task<Void, Never>?, Duration) = state.withLock { s in
            guard var entry = s.inFlight[id], entry.cancelReason == nil else { return (nil, .zero) }
            // A $/cancel racing our own deadline timer is still a deadline.
            entry.cancelReason = entry.deadline.map { ContinuousClock.now >= $0 } == true ? .deadlineExceeded : reason
            s.inFlight[id] = entry
            return (entry.task, s.cancelGrace)
        }
        guard let task else { return }
        task.cancel()
        Task {
            try? await Task.sleep(for: grace)
            self.finish(id: id, result: .failure(self.cancellationError(reason)), stream: nil)
        }
    }

    func cancelAll() {
        let tasks = state.withLock { s in s.inFlight.values.compactMap(\.task) }
        for task in tasks { task.cancel() }
    }

    // MARK: - Lifecycle

    func initialize(id: RequestID, params: JSONValue) async {
        do {
            let (result, handlers, limits) = try await negotiate(params)
            state.withLock { s in
                s.handlers = handlers
                s.phase = .running
                if let grace = limits.cancelGraceMs { s.cancelGrace = .milliseconds(max(0, grace)) }
                if let bytes = limits.maxFrameBytes { s.hostMaxFrameBytes = Int(min(max(bytes, 1024), 64 << 20)) }
                s.inFlight[id] = nil
            }
            send(Frame.response(id: id, result: .success(result)))
        } catch let error as ProtocolError {
            state.withLock { s in
                s.inFlight[id] = nil
                s.phase = .awaitingInitialize
            }
            send(Frame.response(id: id, result: .failure(error)))
            if error.code == .unsupportedVersion { exit(3) }
        } catch {
            state.withLock { s in
                s.inFlight[id] = nil
                s.phase = .awaitingInitialize
            }
            send(Frame.response(id: id, result: .failure(ProtocolError(.invalidConfig, "the extension could not start", cause: error))))
        }
    }

    struct Limits {
        var cancelGraceMs: Int64?
        var maxFrameBytes: Int64?
    }

    func negotiate(_ params: JSONValue) async throws -> (JSONValue, [String: RequestHandler], Limits) {
        let mine = ProtocolVersion.supported
        guard let offeredRaw = params["protocolVersions"]?.arrayValue, !offeredRaw.isEmpty else {
            throw ProtocolError.invalidParams(diagnostics: [
                Diagnostic(path: "/protocolVersions", message: "required: the list of protocol versions the host speaks, e.g. [\"1.0\"]")
            ])
        }
        var offered: [ProtocolVersion] = []
        for (i, raw) in offeredRaw.enumerated() {
            guard let text = raw.stringValue, let v = ProtocolVersion(text) else {
                throw ProtocolError.invalidParams(diagnostics: [
                    Diagnostic(path: "/protocolVersions/\(i)", message: "expected \"MAJOR.MINOR\" such as \"1.0\", found \(raw)")
                ])
            }
            offered.append(v)
        }
        guard let chosen = ProtocolVersion.negotiate(offered: offered, supported: mine) else {
            throw ProtocolError(
                .unsupportedVersion,
                "no common protocol version: the host offers \(offered.map(\.description).joined(separator: ", ")); "
                    + "\(adapter.manifest.name) \(adapter.manifest.version) speaks \(mine.map(\.description).joined(separator: ", "))",
                extra: [
                    "supported": .array(mine.map { .string($0.description) }),
                    "requested": .array(offered.map { .string($0.description) }),
                ])
        }
        if let kind = params["kind"]?.stringValue, kind != adapter.kind.rawValue {
            throw ProtocolError.invalidParams(diagnostics: [
                Diagnostic(
                    path: "/kind",
                    message: "the host expects a \(kind) extension, but \(adapter.manifest.name) is a \(adapter.kind.rawValue)")
            ])
        }
        let admin = params["config"]?["admin"] ?? .emptyObject
        let problems = adapter.manifest.config.validate(admin, basePath: "/config/admin")
        if !problems.isEmpty {
            throw ProtocolError(.invalidConfig, "invalid configuration: \(problems[0])", diagnostics: problems)
        }
        let context = ExtensionContext(
            protocolVersion: chosen, system: params["config"]?["system"] ?? .emptyObject,
            stateDirectory: params["paths"]?["state"]?.stringValue, temporaryDirectory: params["paths"]?["tmp"]?.stringValue,
            hostName: params["host"]?["name"]?.stringValue ?? "unknown", hostVersion: params["host"]?["version"]?.stringValue ?? "unknown",
            runtime: self)
        let handlers: [String: RequestHandler]
        do {
            handlers = try await adapter.start(config: admin, context: context)
        } catch let error as ProtocolError where error.code == .invalidParams {
            throw ProtocolError(
                .invalidConfig, "invalid configuration: \(error.diagnostics.first?.description ?? error.message)",
                diagnostics: error.diagnostics.map { $0.prefixed("/config/admin") })
        }
        var manifest = adapter.manifest.json(kind: adapter.kind)
        manifest["protocolVersions"] = nil
        let capabilities = manifest["capabilities"] ?? .emptyObject
        manifest["capabilities"] = nil
        let configSchema = manifest["configSchema"] ?? .emptyObject
        let paramsSchema = manifest["paramsSchema"] ?? .emptyObject
        manifest["configSchema"] = nil
        manifest["paramsSchema"] = nil
        let result: JSONValue = [
            "protocolVersion": .string(chosen.description),
            "extension": manifest,
            "capabilities": capabilities,
            "configSchema": configSchema,
            "paramsSchema": paramsSchema,
            "limits": [
                "maxFrameBytes": .int(Int64(Self.maxFrameBytes)), "maxConcurrentRequests": .int(Int64(Self.maxConcurrentRequests)),
                "maxConcurrentWatches": .int(Int64(Self.maxConcurrentWatches)),
            ],
        ]
        let limits = Limits(
            cancelGraceMs: params["timeouts"]?["cancelGraceMs"]?.intValue, maxFrameBytes: params["limits"]?["maxFrameBytes"]?.intValue)
        return (result, handlers, limits)
    }

    func shutdown(id: RequestID, params: JSONValue) async {
        let deadlineMs = params["deadlineMs"]?.intValue ?? 10_000
        let deadline = ContinuousClock.now + .milliseconds(max(0, deadlineMs))
        // Let in-flight work drain, then cancel what is left shortly before the deadline.
        while ContinuousClock.now < deadline - .milliseconds(200) {
            if state.withLock({ $0.inFlight.isEmpty }) { break }
            try? await Task.sleep(for: .milliseconds(10))
        }
        cancelAll()
        state.withLock { $0.phase = .shutDown }
        send(Frame.response(id: id, result: .success(.emptyObject)))
    }

    // MARK: - Extension → host requests

    func callHost(_ method: String, _ params: JSONValue) async throws -> JSONValue {
        let (id, limit): (RequestID, Int) = state.withLock { s in
            defer { s.nextOutgoing += 1 }
            return (RequestID.string("e\(s.nextOutgoing)"), s.hostMaxFrameBytes)
        }
        let frame = Frame.request(id: id, method: method, params: params)
        if frame.count - 1 > limit {
            throw ProtocolError(
                .frameTooLarge, "\(method) would be a \(frame.count - 1)-byte frame, over the host's limit of \(limit) bytes (limits.maxFrameBytes)",
                reason: "request_too_large", extra: ["limit": .int(Int64(limit))])
        }
        return try await withCheckedThrowingContinuation { continuation in
            state.withLock { s in s.outgoing[id] = continuation }
            if !writer.write(frame) {
                let c = state.withLock { $0.outgoing.removeValue(forKey: id) }
                c?.resume(throwing: ProtocolError(.unavailable, "the host is gone"))
            }
        }
    }

    // MARK: - Streams

    func addCredit(stream: String, bytes: Int) {
        let ready: [(CheckedContinuation<Int, any Error>, Int)] = state.withLock { s in
            guard var st = s.streams[stream] else { return [] }
            st.credit += bytes
            var out: [(CheckedContinuation<Int, any Error>, Int)] = []
            while let first = st.waiters.first, st.credit > 0 {
                let grant = min(first.wanted, st.credit)
                st.credit -= grant
                st.waiters.removeFirst()
                out.append((first.continuation, grant))
            }
            s.streams[stream] = st
            return out
        }
        for (c, grant) in ready { c.resume(returning: grant) }
    }

    func refundCredit(stream: String, bytes: Int) {
        guard bytes > 0 else { return }
        state.withLock { s in s.streams[stream]?.credit += bytes }
    }

    /// Waits until the host has granted credit on `stream`, then takes up to `wanting` bytes of it.
    func takeCredit(stream: String, wanting: Int) async throws -> Int {
        let waiterID = UUID()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Int, any Error>) in
                let immediate: Int? = state.withLock { s in
                    guard var st = s.streams[stream] else { return -1 }
                    if st.credit > 0 && st.waiters.isEmpty {
                        let grant = min(wanting, st.credit)
                        st.credit -= grant
                        s.streams[stream] = st
                        return grant
                    }
                    if Task.isCancelled { return -1 }
                    st.waiters.append((waiterID, wanting, c))
                    s.streams[stream] = st
                    return nil
                }
                if let immediate {
                    if immediate < 0 { c.resume(throwing: CancellationError()) } else { c.resume(returning: immediate) }
                }
            }
        } onCancel: {
            let c: CheckedContinuation<Int, any Error>? = state.withLock { s in
                guard let i = s.streams[stream]?.waiters.firstIndex(where: { $0.id == waiterID }) else { return nil }
                return s.streams[stream]?.waiters.remove(at: i).continuation
            }
            c?.resume(throwing: CancellationError())
        }
    }

    /// Sends `bytes` as `stream/data` frames: one, unless its frame would exceed the host's limit,
    /// then halves (at character boundaries where the bytes are text) until each fits.
    func sendStreamData(stream: String, fd: String, bytes: [UInt8], cursor: String?) {
        let limit = hostMaxFrameBytes
        // Bytes of a frame besides its payload, at most: the frame is only measured when the
        // payload could not fit even with every byte escaped (never at the default 4 MiB limit).
        let overhead = 160 + 6 * (stream.utf8.count + fd.utf8.count + (cursor?.utf8.count ?? 0))
        var pending: [ArraySlice<UInt8>] = [bytes[...]]
        while let piece = pending.popLast() {
            let last = pending.isEmpty
            let mayNotFit = piece.count * 6 + overhead > limit
            if mayNotFit, piece.count > 1,
                streamDataFrame(stream: stream, fd: fd, bytes: piece, cursor: last ? cursor : nil).count - 1 > limit
            {
                var middle = piece.startIndex + piece.count / 2
                var back = middle
                while back > piece.startIndex, piece[back] & 0xC0 == 0x80 { back -= 1 }
                if back > piece.startIndex { middle = back }
                pending.append(piece[middle...])
                pending.append(piece[..<middle])
                continue
            }
            let seq: Int64 = state.withLock { s in
                let seq = s.streams[stream]?.seq ?? 0
                s.streams[stream]?.seq = seq + 1
                return seq
            }
            send(streamDataFrame(stream: stream, fd: fd, bytes: piece, cursor: last ? cursor : nil, seq: seq))
        }
    }

    func streamDataFrame(stream: String, fd: String, bytes: ArraySlice<UInt8>, cursor: String?, seq: Int64 = 0) -> [UInt8] {
        var item: [String: JSONValue] = ["fd": .string(fd)]
        if let text = String(validating: bytes, as: UTF8.self) {
            item["text"] = .string(text)
        } else {
            item["b64"] = .string(Data(bytes).base64EncodedString())
        }
        var params: [String: JSONValue] = ["streamId": .string(stream), "seq": .int(seq), "items": [.object(item)]]
        if let cursor { params["cursor"] = .string(cursor) }
        return Frame.notification(method: ProtocolMethod.streamData.rawValue, params: .object(params))
    }
}
