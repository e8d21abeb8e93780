/// Every method of protocol v1, by its wire name: the one list that the SDK's dispatch, the host's
/// calls, the conformance suite and the published schemas (``ProtocolSchemas``) are written against.
/// A method added here without its schema does not compile (``ProtocolSchemas/method(_:)`` is an
/// exhaustive switch).
public enum ProtocolMethod: String, CaseIterable, Sendable {
    /// The handshake (host → extension): versions, config, limits.
    case initialize = "initialize"
    /// The handshake is done (host → extension notification).
    case initialized = "initialized"
    /// Finish in-flight work within a deadline; answer, then expect `exit`.
    case shutdown = "shutdown"
    /// End the process (notification): code 0 after `shutdown`, else 1.
    case exit = "exit"
    /// Liveness, either direction, answered even before `initialize`.
    case ping = "$/ping"
    /// Cancel a request by id (notification); it is still answered once.
    case cancel = "$/cancel"
    /// Whether the extension can do its work now.
    case health = "health"
    /// Output of a stream (notification, in `seq` order, within credit).
    case streamData = "stream/data"
    /// More credit for a stream (notification).
    case streamCredit = "stream/credit"
    /// Check a pipeline's trigger settings.
    case triggerValidate = "trigger/validate"
    /// Start emitting events for a pipeline.
    case triggerSubscribe = "trigger/subscribe"
    /// Stop emitting for a subscription.
    case triggerUnsubscribe = "trigger/unsubscribe"
    /// A webhook forwarded by the host.
    case triggerExternal = "trigger/external"
    /// An event (extension → host), answered once stored.
    case triggerEmit = "trigger/emit"
    /// Check a pipeline's task inputs.
    case taskValidate = "task/validate"
    /// Run the common task once.
    case taskRun = "task/run"
    /// Start a job (idempotent per task execution).
    case schedulerStart = "scheduler/start"
    /// A job's status now.
    case schedulerInspect = "scheduler/inspect"
    /// A job's status once it exited.
    case schedulerWait = "scheduler/wait"
    /// SIGTERM, then SIGKILL after the grace.
    case schedulerStop = "scheduler/stop"
    /// Forget an exited job.
    case schedulerRemove = "scheduler/remove"
    /// A job's output as a stream.
    case schedulerLogs = "scheduler/logs"
    /// The jobs carrying some labels.
    case schedulerList = "scheduler/list"
    /// A command inside a running job, its terminal carried both ways (capability `attach`).
    case schedulerAttach = "scheduler/attach"
    /// Input and terminal size for an open `scheduler/attach` (host → extension notification).
    case attachInput = "attach/input"
    /// One secret's value.
    case secretsGet = "secrets/get"
    /// Store a secret.
    case secretsPut = "secrets/put"
    /// Remove a secret.
    case secretsDelete = "secrets/delete"
    /// The keys under a prefix, never values.
    case secretsList = "secrets/list"
    /// An extension's own objects, kept by the host (extension → host).
    case objectsGet = "objects/get"
    /// Store one of the extension's objects.
    case objectsPut = "objects/put"
    /// Remove one of its objects.
    case objectsDelete = "objects/delete"
    /// The keys of its objects.
    case objectsList = "objects/list"

    /// Requests that wait for something to happen rather than do work: they count as watches (§6).
    public var waits: Bool { self == .schedulerWait }
}
