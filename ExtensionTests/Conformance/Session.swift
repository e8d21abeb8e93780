import ExtensionClient
import ExtensionSDK
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A check failed: what was expected and what happened.
struct CheckFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A check does not apply to this extension.
struct CheckSkipped: Error {
    var reason: String
    init(_ reason: String) { self.reason = reason }
}

/// What a check gets: the options, the shared journal and helpers to open sessions.
struct CheckContext: Sendable {
    let options: ConformanceOptions
    let journal: Journal
    let checkID: String
    let canary: String
    /// `--describe` output, when it parsed.
    let manifest: JSONValue?
    /// Every session the check opened: closed (and their process groups killed) when the check
    /// ends, however it ends, before the next check starts — so the suite never leaves a process
    /// behind, also when an extension ignores `shutdown`.
    let sessions = SessionRegistry()

    /// How long one job-level call (start, wait, a whole log stream) may take: most of the
    /// check's time limit, so a slow engine fails the call with its own message rather than the
    /// check with "did not finish", and never less than 20 seconds.
    var jobTimeout: Duration { max(.seconds(20), options.checkTimeout * 2 / 3) }

    /// Starts the extension. With `initialize`, also handshakes (using the suite's admin config
    /// unless `admin` is given) and fails the check if that does not work.
    /// `maxFrameBytes` is the `limits.maxFrameBytes` announced to it (the host's 4 MiB unless given):
    /// a larger frame from the extension is discarded and recorded in the connection's violations.
    func open(
        initialize: Bool = true, admin: JSONValue? = nil, emitHandler: ExtensionConnection.RequestHandler? = nil,
        maxFrameBytes: Int? = nil
    ) async throws -> Session {
        let id = journal.newSession()
        let journal = self.journal
        let check = checkID
        let connection: ExtensionConnection
        do {
            connection = try ExtensionConnection.spawn(
                options.launch,
                requestHandler: emitHandler ?? { method, _ in
                    if method == ProtocolMethod.triggerEmit.rawValue { return ["accepted": true] }
                    throw ProtocolError.methodNotFound(method)
                },
                onStderr: { journal.recordStderr($0, session: id, check: check) },
                tap: { journal.record($0, session: id, check: check) })
        } catch {
            throw CheckFailure("cannot start the extension: \(error)")
        }
        let session = Session(connection: connection, id: id, context: self)
        sessions.add(session)
        if initialize {
            do {
                var initialize = initializeOptions(admin: admin ?? options.adminConfig)
                if let maxFrameBytes { initialize.maxFrameBytes = maxFrameBytes }
                session.handshake = try await connection.initialize(initialize)
            } catch let error as ProtocolError where !error.diagnostics.isEmpty {
                await session.close()
                let fields = error.diagnostics.map { "\($0.path): \($0.message)" }.joined(separator: "; ")
                throw CheckFailure(
                    "handshake failed: \(error.message) (\(fields)); give a valid admin config with --config FILE ({\"config\": {…}})")
            } catch {
                await session.close()
                throw CheckFailure("handshake failed: \(error)")
            }
        }
        return session
    }

    func initializeOptions(admin: JSONValue, versions: [String]? = nil) -> InitializeOptions {
        InitializeOptions(
            kind: options.kind, protocolVersions: versions ?? ProtocolVersion.supported.map(\.description), adminConfig: admin,
            systemConfig: ["conformance": true], stateDirectory: options.stateDirectory, temporaryDirectory: NSTemporaryDirectory(),
            cancelGrace: .seconds(2), timeout: .seconds(10))
    }
}

/// One running extension process under test.
final class Session: Sendable {
    let connection: ExtensionConnection
    let id: Int
    let context: CheckContext
    private let shake = Mutex<Handshake?>(nil)
    private let rawIDs = Mutex<Int64>(900_000)
    private let closed = Mutex(false)

    init(connection: ExtensionConnection, id: Int, context: CheckContext) {
        self.connection = connection
        self.id = id
        self.context = context
    }

    var handshake: Handshake? {
        get { shake.withLock { $0 } }
        set { shake.withLock { $0 = newValue } }
    }

    /// Calls a method; an error response is thrown as ``ProtocolError``.
    func call(_ method: String, _ params: JSONValue = .emptyObject, timeout: Duration = .seconds(10)) async throws -> JSONValue {
        do {
            return try await connection.request(method, params, timeout: timeout, cancelGrace: .seconds(2))
        } catch let error as ExtensionFailure {
            throw CheckFailure("\(method): \(error.message)")
        }
    }

    /// Calls a method that must fail with one of `codes`; returns the error.
    @discardableResult
    func expectError(_ method: String, _ params: JSONValue = .emptyObject, _ codes: [ErrorCode], _ why: String = "") async throws
        -> ProtocolError
    {
        do {
            let result = try await call(method, params)
            throw CheckFailure(
                "\(method) should fail with \(codes.map(\.description).joined(separator: " or "))\(why.isEmpty ? "" : " (\(why))") but succeeded: \(result)"
            )
        } catch let error as ProtocolError {
            guard codes.contains(error.code) else {
                throw CheckFailure(
                    "\(method)\(why.isEmpty ? "" : " (\(why))"): expected error \(codes.map(\.description).joined(separator: " or ")), got \(error.code): \(error.message)"
                )
            }
            return error
        }
    }

    /// How long an answer "at once" may take on this machine now: 1 s, or ten `$/ping` round
    /// trips when one takes longer than 100 ms (a loaded CI runner) — a check for promptness
    /// must not fail because the machine is slow, only because the extension is.
    func promptBound() async throws -> Duration {
        let start = ContinuousClock.now
        try await assertAlive("a ping that times this machine")
        return max(.seconds(1), (ContinuousClock.now - start) * 10)
    }

    /// The extension must still answer `$/ping` promptly.
    func assertAlive(_ after: String) async throws {
        do {
            _ = try await connection.request(ProtocolMethod.ping.rawValue, timeout: .seconds(3), cancelGrace: .zero)
        } catch {
            let exit = connection.process.exitStatus.map { " (\($0))" } ?? ""
            throw CheckFailure("the extension stopped answering after \(after)\(exit): \(error)")
        }
    }

    /// A fresh id for a raw frame.
    func nextRawID() -> Int64 {
        rawIDs.withLock { n in
            n += 1
            return n
        }
    }

    /// Sends raw bytes, then waits for the first frame from the extension that arrives after them
    /// and satisfies `match`.
    func sendRaw(_ bytes: [UInt8], waitFor match: @escaping @Sendable (JSONValue) -> Bool, timeout: Duration = .seconds(5)) async throws
        -> JSONValue?
    {
        let before = context.journal.frames(session: id).count
        connection.sendRaw(bytes)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let frames = context.journal.frames(session: id).dropFirst(before)
            for entry in frames where entry.frame.direction == .fromExtension {
                if let value = try? JSONParser().parse(entry.frame.bytes), match(value) { return value }
            }
            if connection.isClosed { return nil }
            try await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }

    /// Sends a raw line and expects an error response with `code` and `id` (nil: `"id": null`).
    func expectRawError(_ line: [UInt8], id: JSONValue, codes: [ErrorCode], what: String) async throws {
        var bytes = line
        bytes.append(0x0A)
        let answer = try await sendRaw(bytes) { frame in frame["error"] != nil && frame["id"] == id }
        guard let answer else {
            throw CheckFailure("\(what): no error response with id \(id) within 5 s")
        }
        let code = Int(answer["error"]?["code"]?.intValue ?? 0)
        guard codes.map(\.rawValue).contains(code) else {
            throw CheckFailure(
                "\(what): expected error \(codes.map(\.description).joined(separator: " or ")), got \(code): \(answer["error"]?["message"] ?? .null)"
            )
        }
        try await assertAlive(what)
    }

    /// Frames from the extension in this session.
    var receivedFrames: [[UInt8]] {
        context.journal.frames(session: id).filter { $0.frame.direction == .fromExtension }.map(\.frame.bytes)
    }

    /// Ends the process quickly: close stdin (an extension must exit on EOF), then SIGTERM and
    /// SIGKILL to its group.
    /// Ends the session once: EOF, then SIGTERM and SIGKILL to its process group if it lingers.
    func close() async {
        let first = closed.withLock { c -> Bool in
            defer { c = true }
            return !c
        }
        guard first else { return }
        connection.process.closeStdin()
        // Cleanup, not a check: an extension that does not leave on EOF within half a second is
        // terminated (the shutdown checks judge its manners separately).
        if await connection.process.waitForExit(timeout: .milliseconds(500)) == nil {
            _ = await connection.process.terminate(grace: .milliseconds(500))
        }
        // Whatever the extension started in its process group goes too.
        connection.process.signalGroup(SIGKILL)
    }
}

/// The sessions of one check.
final class SessionRegistry: Sendable {
    private let sessions = Mutex<[Session]>([])

    func add(_ session: Session) { sessions.withLock { $0.append(session) } }

    /// Closes every session (politely, then by force) and waits until each process has exited.
    func closeAll() async {
        let all = sessions.withLock { s -> [Session] in
            defer { s = [] }
            return s
        }
        await withTaskGroup(of: Void.self) { group in
            for session in all { group.addTask { await session.close() } }
        }
    }
}
