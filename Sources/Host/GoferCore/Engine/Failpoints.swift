import Foundation
import Synchronization

/// Named places where a test can make the server fail on purpose, to prove that a crash exactly
/// there loses nothing. Off unless `GOFER_FAILPOINTS` lists them (comma-separated); each fires
/// once per process. Never set in production.
enum Failpoint: String, CaseIterable {
    /// The server dies (SIGKILL) after storing a trigger event, before answering the trigger.
    case emitCrashAfterStore = "emit-crash-after-store"
    /// The trigger extension dies (SIGKILL) after its event was stored, before it gets the answer.
    case emitKillTriggerAfterStore = "emit-kill-trigger-after-store"
    /// The server dies (SIGKILL) right after a run's end is stored, before its hooks are called.
    case runEndCrashBeforeHooks = "run-end-crash-before-hooks"

    private static let armed = Mutex<Set<String>>(
        Set(
            (ProcessInfo.processInfo.environment["GOFER_FAILPOINTS"] ?? "").split(separator: ",").map {
                $0.trimmingCharacters(in: .whitespaces)
            }))

    /// True the first time this failpoint is reached while armed.
    var fires: Bool { Self.armed.withLock { $0.remove(rawValue) != nil } }
}
