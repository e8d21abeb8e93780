import GoferModel
import Synchronization

/// A stop request, delivered once; or a detach: the server is going down and leaves the task
/// running for the next start to pick up.
final class TaskControl: Sendable {
    private let state = Mutex<(cancelled: Bool, reason: StateReason?, handlers: [@Sendable () -> Void])>((false, nil, []))
    private let detachState = Mutex<(detached: Bool, handlers: [@Sendable () -> Void])>((false, []))

    var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Set when the server stops following the task (a graceful stop): nothing about the task
    /// is recorded from then on, and its job is neither stopped nor removed.
    var isDetached: Bool { detachState.withLock { $0.detached } }

    func detach() {
        let handlers = detachState.withLock { s -> [@Sendable () -> Void] in
            guard !s.detached else { return [] }
            s.detached = true
            defer { s.handlers = [] }
            return s.handlers
        }
        for h in handlers { h() }
    }

    /// Runs `handler` on detach (at once if already detached).
    func onDetach(_ handler: @escaping @Sendable () -> Void) {
        let now = detachState.withLock { s -> Bool in
            if s.detached { return true }
            s.handlers.append(handler)
            return false
        }
        if now { handler() }
    }
    /// Why this one task was cancelled, when it was cancelled on its own (not with its run).
    var reason: StateReason? { state.withLock { $0.reason } }

    func cancel(reason: StateReason? = nil) {
        let handlers = state.withLock { s -> [@Sendable () -> Void] in
            guard !s.cancelled else { return [] }
            s.cancelled = true
            s.reason = reason
            defer { s.handlers = [] }
            return s.handlers
        }
        for h in handlers { h() }
    }

    /// Runs `handler` on cancel (at once if already cancelled).
    func onCancel(_ handler: @escaping @Sendable () -> Void) {
        let now = state.withLock { s -> Bool in
            if s.cancelled { return true }
            s.handlers.append(handler)
            return false
        }
        if now { handler() }
    }
}
