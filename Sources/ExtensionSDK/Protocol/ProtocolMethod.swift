/// Every method of protocol v1, by its wire name: the one list that the SDK's dispatch, the host's
/// calls, the conformance suite and the published schemas (``ProtocolSchemas``) are written against.
/// A method added here without its schema does not compile (``ProtocolSchemas/method(_:)`` is an
/// exhaustive switch).
public enum ProtocolMethod: String, CaseIterable, Sendable {
    case initialize = "initialize"
    case initialized = "initialized"
    case shutdown = "shutdown"
    case exit = "exit"
    case ping = "$/ping"
    case cancel = "$/cancel"
    case health = "health"
    case streamData = "stream/data"
    case streamCredit = "stream/credit"
    case triggerValidate = "trigger/validate"
    case triggerSubscribe = "trigger/subscribe"
    case triggerUnsubscribe = "trigger/unsubscribe"
    case triggerExternal = "trigger/external"
    case triggerEmit = "trigger/emit"
    case taskValidate = "task/validate"
    case taskRun = "task/run"
    case schedulerStart = "scheduler/start"
    case schedulerInspect = "scheduler/inspect"
    case schedulerWait = "scheduler/wait"
    case schedulerStop = "scheduler/stop"
    case schedulerRemove = "scheduler/remove"
    case schedulerLogs = "scheduler/logs"
    case schedulerList = "scheduler/list"
    /// A command inside a running job, its terminal carried both ways (capability `attach`).
    case schedulerAttach = "scheduler/attach"
    /// Input and terminal size for an open `scheduler/attach` (host → extension notification).
    case attachInput = "attach/input"
    case secretsGet = "secrets/get"
    case secretsPut = "secrets/put"
    case secretsDelete = "secrets/delete"
    case secretsList = "secrets/list"
    /// An extension's own objects, kept by the host (extension → host).
    case objectsGet = "objects/get"
    case objectsPut = "objects/put"
    case objectsDelete = "objects/delete"
    case objectsList = "objects/list"

    /// Requests that wait for something to happen rather than do work: they count as watches (§6).
    public var waits: Bool { self == .schedulerWait }
}
