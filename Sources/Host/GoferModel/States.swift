import Foundation

/// Where a run is. Terminal states carry a ``StateReason``.
public enum RunState: String, Codable, Sendable, CaseIterable {
    /// Accepted, waiting for the pipeline's parallelism or the global limit.
    case pending
    case running
    case succeeded
    case failed
    case cancelled

    public var isTerminal: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// Where a task execution is.
public enum TaskState: String, Codable, Sendable, CaseIterable {
    /// Waiting for the tasks it depends on.
    case waiting
    /// Its container is being created (image pull included).
    case starting
    case running
    case succeeded
    case failed
    /// Not run: a dependency ended in a way its condition does not accept.
    case skipped
    case cancelled

    public var isTerminal: Bool { [.succeeded, .failed, .skipped, .cancelled].contains(self) }
}

/// Why a run or task ended the way it did, machine-readable plus a sentence for people.
public struct StateReason: Codable, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Codable, Sendable {
        /// The task's process exited non-zero.
        case exitCode = "exit_code"
        /// The task ran past its timeout and was stopped.
        case timeout
        /// The run ran past the server's run timeout.
        case runTimeout = "run_timeout"
        /// The container ran out of memory.
        case outOfMemory = "out_of_memory"
        /// The image does not exist or could not be pulled.
        case imageNotFound = "image_not_found"
        /// The image's registry could not be reached (DNS, network, TLS) or refused the pull
        /// (credentials): not the pipeline's image name; retrying or fixing access may help.
        case imagePullFailed = "image_pull_failed"
        /// The scheduler could not start or watch the task.
        case schedulerError = "scheduler_error"
        /// The container engine went away while the task ran and killed it (a dockerd restart):
        /// infrastructure, not the task's code.
        case schedulerLost = "scheduler_lost"
        /// Someone cancelled it.
        case cancelled
        /// A dependency ended in a way the condition does not accept.
        case conditionNotMet = "condition_not_met"
        /// One or more tasks failed.
        case taskFailed = "task_failed"
        /// The scheduler no longer knows the task (found on recovery).
        case orphaned
        /// The server could not store what the task produced (its log), most often because the
        /// disk is full; the task was stopped.
        case storageError = "storage_error"
        /// A secret the task's env references does not exist, is not allowed for the pipeline's
        /// namespace, or the secret store could not be reached.
        case secretError = "secret_error"
        /// A `pipeline_object{{…}}` / `run_object{{…}}` the task's env references does not exist,
        /// is too large for an env value, or is not text.
        case objectError = "object_error"
        /// Not an end: the task is `starting` because its job waits for a node (Swarm, Nomad);
        /// the message is the scheduler's reason.
        case waitingForPlacement = "waiting_for_placement"
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}

/// The kinds of entry in the event log.
public enum EventKind: String, Codable, Sendable {
    case namespaceCreated = "namespace_created"
    case namespaceDeleted = "namespace_deleted"
    case pipelineApplied = "pipeline_applied"
    case pipelineDeleted = "pipeline_deleted"
    /// An earlier version was made live again as a new version (details: version, rolled_back_to).
    case pipelineRolledBack = "pipeline_rolled_back"
    /// Old versions were deleted by the retention limit (details: versions, keep).
    case pipelineVersionsPruned = "pipeline_versions_pruned"
    /// A canary rollout began, was promoted, rolled back (too many failures) or aborted by hand
    /// (details: rollout, version, base_version, reason).
    case rolloutStarted = "rollout_started"
    case rolloutPromoted = "rollout_promoted"
    case rolloutRolledBack = "rollout_rolled_back"
    case rolloutAborted = "rollout_aborted"
    /// A run hook was called (details: hook, extension, phase, attempt) or failed (and error).
    case hookDelivered = "hook_delivered"
    case hookFailed = "hook_failed"
    case runQueued = "run_queued"
    case runStateChanged = "run_state_changed"
    /// A cancel or the run timeout began stopping a run.
    case runStopRequested = "run_stop_requested"
    /// A trigger delivered an event (details: trigger, label, event_id, outcome, run).
    case triggerFired = "trigger_fired"
    /// An extension was installed or upgraded (details: name, version, upgrade).
    case extensionInstalled = "extension_installed"
    case extensionUninstalled = "extension_uninstalled"
    /// A pipeline became active, updating or disabled.
    case pipelineStateChanged = "pipeline_state_changed"
    case taskStateChanged = "task_state_changed"
    /// A pipeline secret or global secret was written or deleted (details: scope, name, actor).
    case secretWritten = "secret_written"
    case secretDeleted = "secret_deleted"
    /// API tokens and roles (details: token_id/token_name or role, actor).
    case tokenCreated = "token_created"
    case tokenRevoked = "token_revoked"
    case roleCreated = "role_created"
    case roleDeleted = "role_deleted"
    /// An object was written or deleted (details: scope, key, size, sha256, actor), evicted to make
    /// room in its pipeline, or expired with its run (details: scope, key, size, reason).
    case objectWritten = "object_written"
    case objectDeleted = "object_deleted"
    case objectEvicted = "object_evicted"
    case objectExpired = "object_expired"
    /// Someone opened a shell in a running task (details: command, actor) and left it (details: exit_code).
    case taskAttached = "task_attached"
    case taskDetached = "task_detached"
}
