import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel

/// Runs and their task executions, and their state changes (each with its event, in one transaction).
package protocol RunRepository: Sendable {
    /// Creates a pending run with one waiting task execution per task: of `version` when given
    /// (pinned), else of the version the pipeline's routing picks (live, or a canary's share).
    func createRun(namespace: String, pipeline: String, initiator: Principal, variables: [String: String], version: Int?) async throws -> CreatedRun

    /// The run `id` of a pipeline, or ``StoreError/notFound(what:id:)``.
    func run(namespace: String, pipeline: String, id: Int) async throws -> Run

    /// Runs newest first; the cursor is the last run id of the previous page.
    func runs(namespace: String, pipeline: String, before cursor: Int?, limit: Int) async throws -> Page<Run>

    /// Runs not yet finished (for recovery and scheduling).
    func unfinishedRuns() async throws -> [Run]

    /// A run's task executions.
    func tasks(namespace: String, pipeline: String, run: Int) async throws -> [TaskExecution]

    /// A run and its task executions, read together (one snapshot).
    func runDetail(namespace: String, pipeline: String, id: Int) async throws -> RunDetail

    /// One task execution of a run, or ``StoreError/notFound(what:id:)``.
    func task(namespace: String, pipeline: String, run: Int, task: String) async throws -> TaskExecution

    /// The pipeline config a run executes.
    func config(forRun run: Run) async throws -> PipelineConfig

    /// Records that a run is being stopped and why (first request wins), with its event.
    func requestRunStop(_ run: Run, reason: StateReason, by: Principal) async throws -> Event

    /// Records a run's new state (and why) with its event in one transaction; the event is returned for the live views.
    func setRunState(_ run: Run, _ state: RunState, reason: StateReason?) async throws -> Event

    /// Records a task execution's new state (and handle, exit code, times) with its event in one transaction.
    @discardableResult func setTaskState(_ t: TaskExecution, _ state: TaskState, reason: StateReason?, exitCode: Int?, handle: String?, startedAt: Date?, endedAt: Date?, deadline: Date?) async throws -> Event
}

/// The defaults callers leave out.
extension RunRepository {
    package func createRun(namespace: String, pipeline: String, initiator: Principal, variables: [String: String] = [:], version: Int? = nil) async throws -> CreatedRun {
        try await createRun(namespace: namespace, pipeline: pipeline, initiator: initiator, variables: variables, version: version)
    }

    package func runs(namespace: String, pipeline: String, before cursor: Int? = nil, limit: Int = 20) async throws -> Page<Run> {
        try await runs(namespace: namespace, pipeline: pipeline, before: cursor, limit: limit)
    }

    package func setRunState(_ run: Run, _ state: RunState, reason: StateReason? = nil) async throws -> Event {
        try await setRunState(run, state, reason: reason)
    }

    @discardableResult package func setTaskState(_ t: TaskExecution, _ state: TaskState, reason: StateReason? = nil, exitCode: Int? = nil, handle: String? = nil, startedAt: Date? = nil, endedAt: Date? = nil, deadline: Date? = nil) async throws -> Event {
        try await setTaskState(t, state, reason: reason, exitCode: exitCode, handle: handle, startedAt: startedAt, endedAt: endedAt, deadline: deadline)
    }
}

/// A run just stored, with what the engine needs to start it.
public struct CreatedRun: Sendable {
    public var run: Run
    public var tasks: [TaskExecution]
    public var config: PipelineConfig
    public var event: Event
}
