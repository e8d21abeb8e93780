import ExtensionSDK
import Foundation
import GoferModel

/// How runs and task executions are read: their columns named once, in the order queries select
/// them, and decoded by position — the run list and a run are the busiest reads, and a lookup by
/// column name costs a case-insensitive search per field.
extension SQLStore {
    /// The columns of `runs` a ``Run`` is made of, in selection order.
    package enum RunColumn: Int, CaseIterable {
        case namespace, pipeline, id, pipelineVersion, state, reasonKind, reasonMessage, stopReasonKind, stopReasonMessage
        case initiator, variables, versionReason, rollout, rerunOf, createdAt, startedAt, endedAt

        var name: String {
            switch self {
            case .namespace: "namespace"
            case .pipeline: "pipeline"
            case .id: "id"
            case .pipelineVersion: "pipeline_version"
            case .state: "state"
            case .reasonKind: "reason_kind"
            case .reasonMessage: "reason_message"
            case .stopReasonKind: "stop_reason_kind"
            case .stopReasonMessage: "stop_reason_message"
            case .initiator: "initiator"
            case .variables: "variables"
            case .versionReason: "version_reason"
            case .rollout: "rollout"
            case .rerunOf: "rerun_of"
            case .createdAt: "created_at"
            case .startedAt: "started_at"
            case .endedAt: "ended_at"
            }
        }

        /// `namespace, pipeline, …`: what a query selects for ``SQLStore/run(_:)``.
        package static let selection = allCases.map(\.name).joined(separator: ", ")
    }

    /// The columns of `task_executions` a ``TaskExecution`` is made of, in selection order.
    package enum TaskColumn: Int, CaseIterable {
        case namespace, pipeline, run, task, state, reasonKind, reasonMessage, exitCode, handle, image
        case createdAt, startedAt, endedAt, deadline, logging, carriedFrom

        var name: String {
            switch self {
            case .namespace: "namespace"
            case .pipeline: "pipeline"
            case .run: "run"
            case .task: "task"
            case .state: "state"
            case .reasonKind: "reason_kind"
            case .reasonMessage: "reason_message"
            case .exitCode: "exit_code"
            case .handle: "handle"
            case .image: "image"
            case .createdAt: "created_at"
            case .startedAt: "started_at"
            case .endedAt: "ended_at"
            case .deadline: "deadline"
            case .logging: "logging"
            case .carriedFrom: "carried_from"
            }
        }

        /// `namespace, pipeline, …`: what a query selects for ``SQLStore/task(_:)``.
        package static let selection = allCases.map(\.name).joined(separator: ", ")
    }

    /// A run from a row that selected ``RunColumn/selection``.
    package static func run(_ row: Row) -> Run {
        func c(_ column: RunColumn) -> Int { column.rawValue }
        return Run(
            namespace: row[c(.namespace)], pipeline: row[c(.pipeline)], id: row[c(.id)], pipelineVersion: row[c(.pipelineVersion)],
            state: RunState(rawValue: row[c(.state)]) ?? .failed,
            reason: reason(row[c(.reasonKind)], row[c(.reasonMessage)]),
            stopRequested: reason(row[c(.stopReasonKind)], row[c(.stopReasonMessage)]),
            initiator: Principal.stored(row[c(.initiator)] ?? ""),
            variables: stringMap(row[c(.variables)]),
            versionReason: VersionReason(rawValue: row[c(.versionReason)] ?? "") ?? .live, rollout: row[c(.rollout)],
            rerunOf: row[c(.rerunOf)],
            createdAt: row[c(.createdAt)], startedAt: row[c(.startedAt)], endedAt: row[c(.endedAt)])
    }

    /// A task execution from a row that selected ``TaskColumn/selection``.
    package static func task(_ row: Row) -> TaskExecution {
        func c(_ column: TaskColumn) -> Int { column.rawValue }
        return TaskExecution(
            namespace: row[c(.namespace)], pipeline: row[c(.pipeline)], run: row[c(.run)], task: row[c(.task)],
            state: TaskState(rawValue: row[c(.state)]) ?? .failed, reason: reason(row[c(.reasonKind)], row[c(.reasonMessage)]),
            exitCode: row[c(.exitCode)], handle: row[c(.handle)], image: row[c(.image)], createdAt: row[c(.createdAt)],
            startedAt: row[c(.startedAt)], endedAt: row[c(.endedAt)], deadline: row[c(.deadline)], logging: row[c(.logging)],
            carriedFrom: row[c(.carriedFrom)])
    }

    /// A state reason from its two columns; none when the kind is empty or unknown.
    package static func reason(_ kind: String?, _ message: String?) -> StateReason? {
        guard let kind, let k = StateReason.Kind(rawValue: kind) else { return nil }
        return StateReason(k, message ?? "")
    }

    /// A JSON object of strings (run variables), `[:]` when empty or unreadable.
    package static func stringMap(_ text: String?) -> [String: String] {
        guard let text, let object = (try? JSONParser().parse(text))?.objectValue else { return [:] }
        return object.compactMapValues(\.stringValue)
    }
}
