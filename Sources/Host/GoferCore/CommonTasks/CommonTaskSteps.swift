import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GoferStore

/// Common-task steps in progress, seen by the run engine as jobs of a scheduler: a `task/run`
/// call is "started", its streamed output is the job's log, its answer is the job's exit
/// (0 success, 1 failure, 2 the call failed, 143 stopped). So a step gets everything a container
/// task has — timeouts, cancel, logs with masking, states and reasons — from the same code.
///
/// Steps live in this process: after a server restart none is known, and the engine starts the
/// step again with the same idempotency key (the execution id), which the extension uses to do
/// its work once.
public actor CommonTaskSteps: SchedulerClient {
    final class Step {
        var task: Task<Void, Never>?
        var output: [UInt8] = []
        var status: JobStatus
        var waiters: [CheckedContinuation<Void, Never>] = []

        init(status: JobStatus) { self.status = status }
    }

    private var steps: [String: Step] = [:]
    /// Output kept per step (a common task's output is a report, not a build log).
    static let maxOutput = 8 << 20

    static func now() -> String { RFC3339.format(Date()) }

    /// Starts `task/run` on `extension` unless a step with this id is already known (idempotent).
    func startStep(
        id: String, extension name: String, params: JSONValue, variables: [String: String], labels: [String: String], timeout: Duration,
        tasks: CommonTasks
    ) -> String {
        if steps[id] != nil { return id }
        let step = Step(status: JobStatus(handle: id, state: .running, startedAt: Self.now(), labels: labels))
        steps[id] = step
        step.task = Task {
            let code: Int
            do {
                let answer = try await tasks.run(
                    name, params: params, variables: variables, idempotencyKey: id, timeout: timeout,
                    output: { bytes in await self.append(id, bytes) })
                let summary = answer["summary"]?.stringValue
                let success = answer["status"]?.stringValue == "success"
                if let summary, !summary.isEmpty { self.append(id, Array("[\(name)] \(summary)\n".utf8)) }
                code = success ? 0 : 1
            } catch is CancellationError {
                code = 143
            } catch let error as ProtocolError where error.code == .cancelled {
                code = 143
            } catch {
                self.append(id, Array("[\(name)] error: \(ErrorText.describe(error))\n".utf8))
                code = Task.isCancelled ? 143 : 2
            }
            self.finish(id, code)
        }
        return id
    }

    private func append(_ id: String, _ bytes: [UInt8]) {
        guard let step = steps[id] else { return }
        let room = Self.maxOutput - step.output.count
        if room > 0 { step.output += bytes.prefix(room) }
        wake(step)
    }

    private func finish(_ id: String, _ code: Int) {
        guard let step = steps[id] else { return }
        step.status.state = .exited
        step.status.exitCode = code
        step.status.finishedAt = Self.now()
        wake(step)
    }

    private func wake(_ step: Step) {
        let waiters = step.waiters
        step.waiters = []
        for w in waiters { w.resume() }
    }

    private func changed(_ id: String) async {
        guard let step = steps[id], step.status.state != .exited else { return }
        await withCheckedContinuation { step.waiters.append($0) }
    }

    private func require(_ id: String) throws -> Step {
        guard let step = steps[id] else { throw ProtocolError(.notFound, "no common-task step \(id) (the server restarted since)") }
        return step
    }

    // MARK: - SchedulerClient

    public func start(_ job: JobSpec) async throws -> String {
        throw ProtocolError(.invalidParams, "common-task steps start with startStep, not from a job spec")
    }

    public func wait(_ handle: String, timeout: Duration) async throws -> JobStatus {
        while true {
            let step = try require(handle)
            if step.status.state == .exited { return step.status }
            await changed(handle)
        }
    }

    public func inspect(_ handle: String) async throws -> JobStatus { try require(handle).status }

    public func list(labels: [String: String]) async throws -> [JobStatus] {
        steps.values.map(\.status).filter { s in labels.allSatisfy { s.labels[$0.key] == $0.value } }
    }

    public func stop(_ handle: String, grace: Duration) async throws {
        steps[handle]?.task?.cancel()
    }

    public func remove(_ handle: String) async throws {
        if let step = steps[handle], step.status.state == .exited { steps[handle] = nil }
    }

    public func logs(_ handle: String, follow: Bool, sink: @Sendable (String, [UInt8]) async throws -> Void) async throws {
        var offset = 0
        while true {
            let step = try require(handle)
            if offset < step.output.count {
                let chunk = Array(step.output[offset...])
                offset = step.output.count
                try await sink("stdout", chunk)
                continue
            }
            if !follow || step.status.state == .exited { return }
            await changed(handle)
        }
    }
}
