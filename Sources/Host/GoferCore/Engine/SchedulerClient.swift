import ExtensionClient
import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GoferStore

/// What the run engine needs from a scheduler. The real one talks to a scheduler extension.
public protocol SchedulerClient: Sendable {
    func start(_ job: JobSpec) async throws -> String
    func wait(_ handle: String, timeout: Duration) async throws -> JobStatus
    /// The job's state now; throws a ``ProtocolError`` with ``ErrorCode/notFound`` when it is gone.
    func inspect(_ handle: String) async throws -> JobStatus
    /// Jobs carrying all of `labels`.
    func list(labels: [String: String]) async throws -> [JobStatus]
    func stop(_ handle: String, grace: Duration) async throws
    func remove(_ handle: String) async throws
    /// Streams logs into `sink` until they end (with `follow`, until the job exits).
    func logs(_ handle: String, follow: Bool, sink: @Sendable (String, [UInt8]) async throws -> Void) async throws
    /// Whether the scheduler can run commands inside its jobs (capability `attach`).
    func canAttach() async -> Bool
    /// Whether a started job may wait to be placed on a node before it runs (capability
    /// `placement`, Swarm and Nomad): the task is then followed until it runs.
    func placesJobs() async -> Bool
    /// Runs a command inside a running job, `input` in, output to `sink` (fd, bytes); returns its exit code.
    func attach(
        _ handle: String, command: [String], tty: Bool, size: TerminalSize?, input: AsyncStream<AttachInput>,
        sink: @escaping @Sendable (String, [UInt8]) async throws -> Void
    ) async throws -> Int
}

/// A scheduler extension behind a supervisor.
///
/// Calls that are safe to repeat (start is idempotent per task execution; inspect, list, stop and
/// remove are idempotent by contract) are retried when the extension dies under them (the
/// supervisor restarts it and the jobs live on in the engine) and when it answers that it is at
/// its concurrency limit.
extension SchedulerClient {
    public func canAttach() async -> Bool { false }
    public func placesJobs() async -> Bool { false }
    public func attach(
        _ handle: String, command: [String], tty: Bool, size: TerminalSize?, input: AsyncStream<AttachInput>,
        sink: @escaping @Sendable (String, [UInt8]) async throws -> Void
    ) async throws -> Int {
        throw ProtocolError(.notSupported, "this scheduler cannot run commands inside its jobs")
    }
}

public struct ExtensionSchedulerClient: SchedulerClient {
    public let supervisor: ExtensionSupervisor

    public init(supervisor: ExtensionSupervisor) { self.supervisor = supervisor }

    /// A typed call, retried as described above. `key` names the task execution a call is for:
    /// one that keeps crashing the extension is quarantined (``ExtensionSupervisor``) instead of
    /// retried until the extension is marked failed for everyone.
    func call<P, R>(_ call: ProtocolCall<P, R>, _ params: P, timeout: Duration, key: String? = nil) async throws -> R {
        var attempt = 0
        while true {
            do {
                return try await supervisor.call(call, params, timeout: timeout, key: key)
            } catch let failure as ExtensionFailure where failure.kind == .exited && attempt < 10 {
                attempt += 1
                try await Task.sleep(for: .milliseconds(200 * attempt))
            } catch let error as ProtocolError where error.code == .resourceExhausted && attempt < 50 {
                // The extension is at its limit (calls the host gave up on may still be running
                // there): wait as it asks and try again, rather than fail a task on Gofer's account.
                attempt += 1
                let wait = error.extra["retryAfterMs"]?.intValue ?? 100
                try await Task.sleep(for: .milliseconds(min(max(wait, 50), 2000)))
            }
        }
    }

    public func start(_ job: JobSpec) async throws -> String {
        let started = try await call(ProtocolCalls.schedulerStart, job, timeout: .seconds(600), key: job.taskExecutionID)
        guard !started.handle.isEmpty else {
            throw ExtensionFailure(kind: .protocolViolation, message: "scheduler/start returned an empty handle")
        }
        return started.handle
    }

    public func wait(_ handle: String, timeout: Duration) async throws -> JobStatus {
        try await supervisor.call(ProtocolCalls.schedulerWait, JobRef(handle: handle), timeout: timeout)
    }

    public func inspect(_ handle: String) async throws -> JobStatus {
        try await call(ProtocolCalls.schedulerInspect, JobRef(handle: handle), timeout: .seconds(60))
    }

    public func list(labels: [String: String]) async throws -> [JobStatus] {
        try await call(ProtocolCalls.schedulerList, JobFilter(labels: labels), timeout: .seconds(60)).jobs
    }

    public func stop(_ handle: String, grace: Duration) async throws {
        _ = try await call(
            ProtocolCalls.schedulerStop, StopJob(handle: handle, graceMs: Int(grace.components.seconds * 1000)), timeout: grace + .seconds(30))
    }

    public func remove(_ handle: String) async throws {
        _ = try await call(ProtocolCalls.schedulerRemove, JobRef(handle: handle), timeout: .seconds(60))
    }

    public func logs(_ handle: String, follow: Bool, sink: @Sendable (String, [UInt8]) async throws -> Void) async throws {
        let connection = try await supervisor.ready(timeout: .seconds(30))
        let call = ProtocolCalls.schedulerLogs
        let (chunks, result) = connection.requestStream(
            call.method.rawValue, try call.encode(JobLogs(handle: handle, follow: follow)), windowBytes: 1 << 20)
        // The request runs in its own task: a caller that gives up must cancel it too, or it
        // waits for an answer that comes only once the extension has sent everything — which it
        // cannot, since nobody grants it credit any more.
        try await withTaskCancellationHandler {
            do {
                for await chunk in chunks { try await sink(chunk.fd, chunk.bytes) }
            } catch {
                result.cancel()
                throw error
            }
            try Task.checkCancellation()
            _ = try await result.value
        } onCancel: {
            result.cancel()
        }
    }

    public func canAttach() async -> Bool { await supervisor.handshake?.capabilities.has(.attach) == true }
    public func placesJobs() async -> Bool { await supervisor.handshake?.capabilities.has(.placement) == true }

    public func attach(
        _ handle: String, command: [String], tty: Bool, size: TerminalSize?, input: AsyncStream<AttachInput>,
        sink: @escaping @Sendable (String, [UInt8]) async throws -> Void
    ) async throws -> Int {
        let connection = try await supervisor.ready(timeout: .seconds(30))
        let call = ProtocolCalls.schedulerAttach
        let (chunks, result) = connection.requestStream(
            call.method.rawValue, try call.encode(AttachRequest(handle: handle, command: command, tty: tty, rows: size?.rows, cols: size?.cols)),
            windowBytes: 256 * 1024)
        let streamID = chunks.streamID
        return try await withTaskCancellationHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                // Keystrokes and resizes, in order, after the request itself.
                group.addTask {
                    for await i in input {
                        let notice = AttachInputNotice(streamId: streamID, bytes: i.bytes, eof: i.eof ? true : nil, rows: i.size?.rows, cols: i.size?.cols)
                        connection.notifyStream(streamID, ProtocolMethod.attachInput.rawValue, try JSONCodec.encode(notice))
                    }
                }
                do {
                    for await chunk in chunks { try await sink(chunk.fd, chunk.bytes) }
                } catch {
                    result.cancel()
                    throw error
                }
                group.cancelAll()
                try Task.checkCancellation()
                return try call.decodeResult(try await result.value).exitCode
            }
        } onCancel: {
            result.cancel()
        }
    }
}
