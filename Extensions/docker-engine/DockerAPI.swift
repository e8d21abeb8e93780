import ExtensionSDK
import Foundation
import Synchronization

/// The Docker Engine API calls Gofer's Docker and Swarm schedulers need, with Docker's answers
/// mapped to protocol errors.
public final class DockerAPI: Sendable {
    public let client: SimpleHTTPClient
    /// The lowest Engine API version we speak; newer daemons accept it too.
    public static let minimumVersion = ProtocolVersion(1, 41)
    /// The negotiated API version, or the request negotiating it.
    private let version = Mutex<Task<String, any Error>?>(nil)

    public init(client: SimpleHTTPClient, changeTimeout: Duration = DockerAPI.defaultChangeTimeout) {
        self.client = client
        self.changeTimeout = changeTimeout
    }

    /// The `reason` of the engine failures callers act on.
    public enum Reason {
        /// The engine could not be reached: the request never arrived.
        public static let unreachable = "docker.unreachable"
        /// The request was sent but no answer came in time (a busy engine): it may have taken effect.
        public static let noAnswer = "docker.no_answer"
    }

    /// How long a request that creates or starts a container waits for the engine's answer by
    /// default. A busy engine can take minutes to start a container (kubelet allows a runtime call
    /// 2 minutes).
    public static let defaultChangeTimeout: Duration = .seconds(180)
    /// How long a request that creates or starts a container waits for the engine's answer.
    public let changeTimeout: Duration

    /// The admin config that sets ``changeTimeout``, for the manifest of a scheduler using this API.
    public static let changeTimeoutConfig: [String: JSONSchema] = [
        "requestTimeoutSeconds": .integer(
            description:
                "How long a request that creates or starts a container waits for the engine's answer. A busy engine that answers later has often done it: Gofer then finds the container and carries on.",
            minimum: 1, default: Int(defaultChangeTimeout.components.seconds))
    ]

    /// ``changeTimeout`` from a `requestTimeoutSeconds` admin config value.
    public static func changeTimeout(seconds: Int?) -> Duration { seconds.map { .seconds($0) } ?? defaultChangeTimeout }

    /// Runs `attempt` again while the engine took its request without answering in time, for at
    /// most `budget`. Each attempt must first look for what an unanswered one may have done (a
    /// container or service found by its label), so a slow engine delays the work instead of
    /// failing it, and never does it twice.
    public static func retryingUnanswered<T: Sendable>(
        for budget: Duration, logging context: [String: String], _ attempt: () async throws -> T
    ) async throws -> T {
        let giveUp = ContinuousClock.now + budget
        var attempts = 0
        while true {
            do {
                return try await attempt()
            } catch let error as ProtocolError where error.reason == Reason.noAnswer && ContinuousClock.now < giveUp {
                attempts += 1
                ExtensionLog().warning(
                    "the Docker engine did not answer in time; finding out what it did",
                    context.merging(["attempt": "\(attempts)", "error": error.message]) { a, _ in a })
                try await Task.sleep(for: .seconds(min(attempts, 5)))
            }
        }
    }

    public struct Summary: Sendable {
        public var handle: String
    }

    /// Finds the API version to use: the daemon's, if it is at least 1.41. Says clearly when the
    /// daemon cannot be reached.
    ///
    /// Concurrent callers share one `/version` request (a burst of calls on a fresh process must
    /// not become a burst of `/version` requests on a loaded engine); a failure is not kept, so the
    /// next call asks again.
    @discardableResult
    public func negotiate() async throws -> String {
        let shared: Task<String, any Error> = version.withLock { state in
            if let inFlight = state { return inFlight }
            let task = Task { try await self.fetchVersion() }
            state = task
            return task
        }
        do {
            return try await shared.value
        } catch {
            version.withLock { if $0 == shared { $0 = nil } }
            throw error
        }
    }

    private func fetchVersion() async throws -> String {
        let response: HTTPResponse
        do {
            response = try await client.send("GET", path: "/version", timeout: .seconds(15))
        } catch {
            throw ProtocolError(
                .unavailable,
                ErrorText.wrapping("cannot reach the Docker engine at \(client.endpoint)", error)
                    + ". Is dockerd running, and may this user use its socket?", reason: Reason.unreachable)
        }
        guard response.status == 200, let json = try? JSONParser().parse(response.body), let api = json["ApiVersion"]?.stringValue,
            let v = ProtocolVersion(api)
        else {
            throw ProtocolError(
                .unavailable, "unexpected answer from Docker /version: HTTP \(response.status)", reason: Reason.unreachable)
        }
        guard v >= Self.minimumVersion else {
            throw ProtocolError(
                .failedPrecondition, "the Docker engine speaks API \(api); Gofer needs \(Self.minimumVersion) or newer (Docker 20.10+)",
                reason: "docker.too_old")
        }
        // 1.41 is the subset we use; pin it so newer daemons behave the same.
        return Self.minimumVersion.description
    }

    /// How many CPUs the engine's host has (`NCPU` of `GET /info`); nil when it does not say.
    public func cpuCount() async throws -> Int64? {
        let response = try await call("GET", "/info", timeout: .seconds(30))
        guard response.status == 200, let json = try? JSONParser().parse(response.body) else { return nil }
        return json["NCPU"]?.intValue
    }

    public func call(
        _ method: String, _ path: String, body: JSONValue? = nil, headers: [String: String] = [:], timeout: Duration = .seconds(60)
    ) async throws -> HTTPResponse {
        let v = try await negotiate()
        var h = headers
        var bytes: [UInt8]?
        if let body {
            bytes = body.serialized()
            h["Content-Type"] = "application/json"
        }
        do {
            return try await client.send(method, path: "/v\(v)\(path)", headers: h, body: bytes, timeout: timeout)
        } catch let error as HTTPClientError {
            try Task.checkCancellation()
            if error.requestSent {
                throw ProtocolError(
                    .unavailable, "Docker engine: \(error.message) (\(method) \(path) was sent; it may have taken effect)",
                    reason: Reason.noAnswer)
            }
            throw ProtocolError(.unavailable, "Docker engine: \(error.message)", reason: Reason.unreachable)
        }
    }

    public static func message(_ r: HTTPResponse) -> String {
        (try? JSONParser().parse(r.body))?["message"]?.stringValue ?? r.text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public static func escape(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? s
    }

    public func imageExists(_ image: String) async throws -> Bool {
        let r = try await call("GET", "/images/\(Self.escape(image))/json")
        switch r.status {
        case 200: return true
        case 404: return false
        default: throw ProtocolError(.unavailable, "Docker: checking image \(image): \(Self.message(r))", reason: "docker.error")
        }
    }

    /// Pulls an image. Errors can arrive inside an HTTP 200 progress stream, so every line is read.
    public func pull(_ image: String, auth: RegistryAuth?) async throws {
        var name = image
        var tag = "latest"
        if let at = image.firstIndex(of: "@") {
            name = String(image[..<at])
            tag = String(image[image.index(after: at)...])
        } else if let colon = image.lastIndex(of: ":"), !image[colon...].contains("/") {
            name = String(image[..<colon])
            tag = String(image[image.index(after: colon)...])
        }
        let headers = Self.registryAuthHeaders(auth)
        let r = try await call(
            "POST", "/images/create?fromImage=\(Self.escape(name))&tag=\(Self.escape(tag))", headers: headers, timeout: .seconds(600))
        guard r.status == 200 else {
            let msg = Self.message(r)
            throw Self.pullFailure(status: r.status, message: msg).error("cannot pull image \(image): \(msg)")
        }
        for line in r.body.split(separator: 0x0A) {
            if let json = try? JSONParser().parse(Array(line)),
                let refusal = json["error"]?.stringValue ?? json["errorDetail"]?["message"]?.stringValue
            {
                throw Self.pullFailure(status: 200, message: refusal).error("cannot pull image \(image): \(refusal)")
            }
        }
    }

    /// What a failed pull means, from the engine's status and message: the registry could not be
    /// reached (a DNS or network failure is not a missing image), refused the pull, or has no such image.
    public static func pullFailure(status: Int, message: String) -> ImageFailure {
        let m = message.lowercased()
        let unreachable = [
            "no such host", "dial tcp", "i/o timeout", "connection refused", "network is unreachable", "server misbehaving",
            "tls handshake timeout", "timeout exceeded", "connection reset", "no route to host", "temporary failure in name resolution",
            "x509:", "certificate",
        ]
        if unreachable.contains(where: m.contains) { return .registryUnreachable }
        // Docker Hub answers a missing repository with "pull access denied …, repository does not exist".
        if ["does not exist", "manifest unknown", "not found"].contains(where: m.contains) { return .notFound }
        let denied = ["unauthorized", "authentication required", "incorrect username or password", "denied: ", "forbidden"]
        if status == 401 || status == 403 || denied.contains(where: m.contains) { return .denied }
        return .notFound
    }

    /// `X-Registry-Auth` for pulls and service creation (empty without credentials).
    public static func registryAuthHeaders(_ auth: RegistryAuth?) -> [String: String] {
        guard let auth else { return [:] }
        let json: JSONValue = ["username": .string(auth.username), "password": .string(auth.password)]
        // Docker wants base64url with padding; a malformed header is silently ignored.
        return [
            "X-Registry-Auth": Data(json.serialized()).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        ]
    }

    public func create(name: String, body: JSONValue) async throws -> String {
        let r = try await call("POST", "/containers/create?name=\(Self.escape(name))", body: body, timeout: changeTimeout)
        switch r.status {
        case 201:
            guard let id = (try? JSONParser().parse(r.body))?["Id"]?.stringValue else {
                throw ProtocolError(.internalError, "Docker create returned no Id")
            }
            return id
        case 404: throw ImageFailure.notFound.error("image not found: \(Self.message(r))")
        case 409: throw ProtocolError(.conflict, "container \(name) already exists", reason: "docker.name_conflict")
        case 400: throw ProtocolError(.invalidParams, "Docker refused the container: \(Self.message(r))", reason: "docker.bad_request")
        default: throw ProtocolError(.unavailable, "Docker create failed: HTTP \(r.status) \(Self.message(r))", reason: "docker.error")
        }
    }

    public func start(_ id: String) async throws {
        let r = try await call("POST", "/containers/\(Self.escape(id))/start", timeout: changeTimeout)
        guard r.status == 204 || r.status == 304 else {
            throw ProtocolError(
                r.status == 404 ? .notFound : .unavailable, "Docker start failed: HTTP \(r.status) \(Self.message(r))",
                reason: "docker.start_failed")
        }
    }

    public func inspect(_ id: String) async throws -> JobStatus {
        let r = try await call("GET", "/containers/\(Self.escape(id))/json")
        if r.status == 404 { throw ProtocolError(.notFound, "no container \(id)", reason: "docker.no_such_container") }
        guard r.status == 200, let json = try? JSONParser().parse(r.body) else {
            throw ProtocolError(.unavailable, "Docker inspect failed: HTTP \(r.status) \(Self.message(r))", reason: "docker.error")
        }
        let state = json["State"] ?? .null
        let status = state["Status"]?.stringValue ?? "unknown"
        let mapped: JobStatus.State
        switch status {
        case "created": mapped = .created
        case "running", "paused", "restarting": mapped = .running
        case "exited", "dead": mapped = .exited
        default: mapped = .unknown
        }
        var labels: [String: String] = [:]
        for (k, v) in json["Config"]?["Labels"]?.objectValue ?? [:] { labels[k] = v.stringValue }
        func time(_ key: String) -> String? {
            guard let t = state[key]?.stringValue, !t.hasPrefix("0001-") else { return nil }
            return t
        }
        return JobStatus(
            handle: json["Id"]?.stringValue ?? id, state: mapped,
            exitCode: mapped == .exited ? state["ExitCode"]?.intValue.map { Int($0) } : nil,
            oomKilled: state["OOMKilled"]?.boolValue ?? false, startedAt: time("StartedAt"),
            finishedAt: mapped == .exited ? time("FinishedAt") : nil,
            labels: labels)
    }

    public func wait(_ id: String) async throws {
        let r = try await call("POST", "/containers/\(Self.escape(id))/wait", timeout: .seconds(365 * 24 * 3600))
        if r.status == 404 { throw ProtocolError(.notFound, "no container \(id)", reason: "docker.no_such_container") }
        guard r.status == 200 else {
            throw ProtocolError(.unavailable, "Docker wait failed: HTTP \(r.status) \(Self.message(r))", reason: "docker.error")
        }
    }

    public func stop(_ id: String, grace: Duration) async throws {
        let seconds = max(0, Int((Double(grace.components.seconds) + Double(grace.components.attoseconds) / 1e18).rounded(.up)))
        let r = try await call("POST", "/containers/\(Self.escape(id))/stop?t=\(seconds)", timeout: grace + .seconds(30))
        guard [204, 304, 404].contains(r.status) else {
            throw ProtocolError(.unavailable, "Docker stop failed: HTTP \(r.status) \(Self.message(r))", reason: "docker.error")
        }
    }

    /// Removes a container and its anonymous volumes; `force` kills it first if it still runs.
    /// Removing one that is gone succeeds.
    public func remove(_ id: String, force: Bool = false) async throws {
        let r = try await call("DELETE", "/containers/\(Self.escape(id))?v=1" + (force ? "&force=1" : ""))
        switch r.status {
        case 204, 404: return
        case 409: throw ProtocolError(.failedPrecondition, "container \(id) is still running; stop it first", reason: "docker.running")
        default: throw ProtocolError(.unavailable, "Docker remove failed: HTTP \(r.status) \(Self.message(r))", reason: "docker.error")
        }
    }

    public func containers(labels: [String: String]) async throws -> [Summary] {
        let filter: JSONValue = ["label": .array(labels.sorted { $0.key < $1.key }.map { .string("\($0.key)=\($0.value)") })]
        let r = try await call("GET", "/containers/json?all=1&filters=\(Self.escape(filter.description))")
        guard r.status == 200, let list = (try? JSONParser().parse(r.body))?.arrayValue else {
            throw ProtocolError(.unavailable, "Docker list failed: HTTP \(r.status) \(Self.message(r))", reason: "docker.error")
        }
        return list.compactMap { $0["Id"]?.stringValue }.map { Summary(handle: $0) }
    }

    /// Streams logs, demultiplexing Docker's 8-byte frame headers into stdout and stderr, and
    /// batching small frames into chunks of up to 64 KiB.
    ///
    /// dockerd can end a follow early (seen under load with the json-file driver: output written
    /// after a pause never arrives). So a follow asks for timestamps, and when the stream ends
    /// while the container still runs — or ended before its last output — it picks up again
    /// from the last timestamp seen, skipping what was already delivered.
    public func logs(_ id: String, follow: Bool, into write: (String, [UInt8]) async throws -> Void) async throws {
        // Per stream, the newest timestamp delivered: the engine's timestamps are in order within a
        // stream but not across stdout and stderr, so a resume skips per stream.
        var last: [String: String] = [:]
        for attempt in 0..<1000 {
            try await logStream(.container(id), follow: follow, resumingAfter: last) { fd, ts, bytes in
                if let ts { last[fd] = ts }
                try await write(fd, bytes)
            }
            guard follow else { return }
            let state = (try? await inspect(id))?.state
            if state == .running {
                try await Task.sleep(for: .milliseconds(min(1000, 50 * (attempt + 1))))
                continue
            }
            // Exited: one last read from where we were catches output an early end cut off.
            if state == nil { return }
            try await logStream(.container(id), follow: false, resumingAfter: last) { fd, _, bytes in try await write(fd, bytes) }
            return
        }
    }

    /// Attaches to a container's stdout and stderr — before it starts, so nothing is missed — and
    /// returns once dockerd has attached (its answer arrived). From then on the output goes,
    /// demultiplexed, into `spool` until the container's streams close; `ended` is then called
    /// with nil, or with the error that cut the stream first.
    ///
    /// This is the fast path for logs: the bytes come straight from the container's streams, not
    /// read back through the engine's log driver (which serves a json-file log at ~9 MB/s).
    public func attach(_ id: String, into spool: OutputSpool, ended: @escaping @Sendable ((any Error)?) -> Void) async throws -> Task<Void, Never> {
        let v = try await negotiate()
        let stream = client.stream("POST", path: "/v\(v)/containers/\(Self.escape(id))/attach?stream=1&stdout=1&stderr=1", timeout: nil)
        let (answers, answered) = AsyncStream<Int>.makeStream()
        let reader = Task {
            var pending: [UInt8] = []
            var attached = false
            do {
                for try await event in stream {
                    switch event {
                    case .head(let status, _):
                        answered.yield(status)
                        answered.finish()
                        attached = status == 200 || status == 101
                        if !attached { return }
                    case .body(let bytes):
                        pending += bytes
                        var offset = 0
                        while let (fd, size) = Self.frameHeader(pending, at: offset) {
                            guard spool.append(pending[(offset + 8)..<(offset + 8 + size)], fd: fd) else {
                                // Past the live capture limit: detach (a reader that stops reading
                                // would hold the container up); the rest comes from the engine.
                                ended(LiveCaptureLimit(limit: spool.limit))
                                return
                            }
                            offset += 8 + size
                        }
                        pending.removeFirst(offset)
                    }
                }
                answered.finish()
                if attached { ended(nil) }
            } catch {
                answered.finish()
                if attached { ended(error) }
            }
        }
        var iterator = answers.makeAsyncIterator()
        guard let status = await iterator.next() else {
            reader.cancel()
            throw ProtocolError(.unavailable, "Docker attach to \(id) ended before the engine answered", reason: "docker.error")
        }
        guard status == 200 || status == 101 else {
            reader.cancel()
            if status == 404 { throw ProtocolError(.notFound, "no container \(id)", reason: "docker.no_such_container") }
            throw ProtocolError(.unavailable, "Docker attach to \(id) failed: HTTP \(status)", reason: "docker.error")
        }
        return reader
    }

    /// Runs `command` inside running container `id` with stdin attached (`tty`: with a terminal,
    /// output unmultiplexed), returning the exec's id and its raw two-way connection.
    public func exec(_ id: String, command: [String], tty: Bool, size: TerminalSize?) async throws -> (String, UpgradedConnection) {
        var body: JSONValue = [
            "AttachStdin": true, "AttachStdout": true, "AttachStderr": true, "Tty": .bool(tty),
            "Cmd": .array(command.map(JSONValue.string)),
        ]
        if tty, let size { body["ConsoleSize"] = [.int(Int64(size.rows)), .int(Int64(size.cols))] }
        let created = try await call("POST", "/containers/\(Self.escape(id))/exec", body: body)
        switch created.status {
        case 201: break
        case 404: throw ProtocolError(.notFound, "no container \(id)", reason: "docker.no_such_container")
        case 409: throw ProtocolError(.failedPrecondition, "container \(id) is not running: \(Self.message(created))", reason: "docker.not_running")
        default: throw ProtocolError(.unavailable, "Docker exec in \(id) failed: \(Self.message(created))", reason: "docker.error")
        }
        guard let execID = (try? JSONParser().parse(created.body))?["Id"]?.stringValue else {
            throw ProtocolError(.unavailable, "Docker exec in \(id): no exec id in the answer", reason: "docker.error")
        }
        let v = try await negotiate()
        do {
            let connection = try await client.upgrade(
                "POST", path: "/v\(v)/exec/\(execID)/start", headers: ["Content-Type": "application/json"],
                body: JSONValue.object(["Detach": false, "Tty": .bool(tty)]).serialized())
            return (execID, connection)
        } catch let refused as UpgradeRefused {
            throw ProtocolError(.unavailable, "Docker exec start failed: HTTP \(refused.status) \(String(decoding: refused.body.prefix(200), as: UTF8.self))", reason: "docker.error")
        } catch let error as HTTPClientError {
            throw ProtocolError(.unavailable, "Docker engine: \(error.message)", reason: Reason.unreachable)
        }
    }

    /// Resizes an exec's terminal.
    public func resizeExec(_ execID: String, _ size: TerminalSize) async throws {
        _ = try await call("POST", "/exec/\(execID)/resize?h=\(size.rows)&w=\(size.cols)")
    }

    /// An exec's exit code once it has ended (nil while it runs).
    public func execExitCode(_ execID: String) async throws -> Int? {
        let r = try await call("GET", "/exec/\(execID)/json")
        guard r.status == 200, let json = try? JSONParser().parse(r.body) else { return nil }
        if json["Running"] == true { return nil }
        return json["ExitCode"]?.intValue.map(Int.init)
    }

    /// The stream and payload size of the multiplexed frame at `offset` (an 8-byte header: stream
    /// 1 stdout or 2 stderr, three zero bytes, the big-endian size), when the whole frame is there.
    public static func frameHeader(_ bytes: [UInt8], at offset: Int) -> (fd: String, size: Int)? {
        guard bytes.count - offset >= 8 else { return nil }
        let size = Int(bytes[offset + 4]) << 24 | Int(bytes[offset + 5]) << 16 | Int(bytes[offset + 6]) << 8 | Int(bytes[offset + 7])
        guard bytes.count - offset >= 8 + size else { return nil }
        return (bytes[offset] == 2 ? "stderr" : "stdout", size)
    }

    /// `2026-11-29T12:00:00.1234Z` → sortable text with 9 fraction digits.
    public static func normalized(_ ts: String) -> String {
        guard let dot = ts.firstIndex(of: "."), let end = ts[dot...].firstIndex(where: { !$0.isNumber && $0 != "." }) else { return ts }
        let fraction = ts[ts.index(after: dot)..<end]
        return String(ts[..<dot]) + "." + fraction.padding(toLength: 9, withPad: "0", startingAt: 0) + String(ts[end...])
    }

    /// Whole seconds since 1970 of an RFC 3339 time, one second early (Docker's `since` is inclusive
    /// and whole seconds are enough: later frames are filtered by their own timestamp).
    public static func unixSeconds(_ ts: String) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        let whole = ts.firstIndex(of: ".").map { String(ts[..<$0]) + "Z" } ?? ts
        return f.date(from: whole).map { String(Int($0.timeIntervalSince1970) - 1) } ?? "0"
    }

    /// One logs request; calls `deliver(fd, timestamp of its newest frame, bytes)` per batch.
    /// `resumingAfter` holds, per stream, the newest timestamp delivered before: frames of that
    /// stream up to and including it are skipped.
    public func logStream(
        _ source: LogSource, follow: Bool, resumingAfter: [String: String], deliver: (String, String?, [UInt8]) async throws -> Void
    ) async throws {
        let v = try await negotiate()
        let id = source.id
        let skipThrough = resumingAfter.mapValues(Self.normalized)
        let since = resumingAfter.values.min { Self.normalized($0) < Self.normalized($1) }.map(Self.unixSeconds)
        let path =
            "/v\(v)\(source.path)/logs?stdout=1&stderr=1&timestamps=1\(follow ? "&follow=1" : "")\(since.map { "&since=\($0)" } ?? "")"
        var pending: [UInt8] = []
        var batchFD = "stdout"
        var batch: [UInt8] = []
        // The newest frame's timestamp, as a range of `pending`: made a String only when a batch
        // is delivered, not for every line.
        var batchTS: Range<Int>?
        func flush() async throws {
            if !batch.isEmpty {
                try await deliver(batchFD, batchTS.map { String(decoding: pending[$0], as: UTF8.self) }, batch)
                batch.removeAll(keepingCapacity: true)
                batchTS = nil
            }
        }
        for try await event in client.stream("GET", path: path, timeout: follow ? nil : .seconds(60)) {
            switch event {
            case .head(let status, _):
                if status == 404 { throw ProtocolError(.notFound, "no \(source.noun) \(id)", reason: "docker.no_such_\(source.noun)") }
                if status != 200 { throw ProtocolError(.unavailable, "Docker logs of \(source.noun) \(id) failed: HTTP \(status)", reason: "docker.error") }
            case .body(let bytes):
                pending += bytes
                var offset = 0
                while let (fd, size) = Self.frameHeader(pending, at: offset) {
                    var payload = pending[(offset + 8)..<(offset + 8 + size)]
                    // "<RFC 3339 nano timestamp> <output>"
                    var ts: Range<Int>?
                    if let space = payload.firstIndex(of: 0x20), space - payload.startIndex <= 40 {
                        ts = payload.startIndex..<space
                        payload = payload[(space + 1)...]
                    }
                    if let through = skipThrough[fd], let ts, Self.normalized(String(decoding: pending[ts], as: UTF8.self)) <= through {
                        offset += 8 + size
                        continue
                    }
                    if fd != batchFD || batch.count + payload.count > 64 * 1024 { try await flush() }
                    batchFD = fd
                    batchTS = ts
                    batch += payload
                    offset += 8 + size
                }
                try await flush()  // before dropping the frames its timestamp points into
                pending.removeFirst(offset)
            }
        }
        try await flush()
    }
}

/// Whose logs to read: a container's, or a Swarm service's (all its tasks', wherever they ran).
public enum LogSource: Sendable {
    case container(String)
    case service(String)

    public var id: String {
        switch self {
        case .container(let id), .service(let id): return id
        }
    }

    public var noun: String {
        switch self {
        case .container: return "container"
        case .service: return "service"
        }
    }

    var path: String {
        switch self {
        case .container(let id): return "/containers/\(DockerAPI.escape(id))"
        case .service(let id): return "/services/\(DockerAPI.escape(id))"
        }
    }
}

/// The live capture of a container's output reached its limit.
public struct LiveCaptureLimit: Error, CustomStringConvertible {
    public var limit: Int
    public var description: String { "the live capture limit (\(limit) bytes, liveLogMaxBytes) was reached" }
}
