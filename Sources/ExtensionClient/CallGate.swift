import Foundation
import Synchronization

/// A counting gate: at most `limit` holders at once; the rest wait in order. Waiting ends with
/// `CancellationError` if the waiting task is cancelled.
final class CallGate: Sendable {
    private struct State {
        var limit: Int
        var inUse = 0
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextWaiter: UInt64 = 0
    }

    private let state: Mutex<State>

    init(limit: Int) { state = Mutex(State(limit: max(1, limit))) }

    /// Changes the limit (after the handshake); waiters are let in if it grew.
    func setLimit(_ limit: Int) {
        let admitted = state.withLock { s -> [CheckedContinuation<Void, any Error>] in
            s.limit = max(1, limit)
            return Self.admit(&s)
        }
        for c in admitted { c.resume() }
    }

    func acquire() async throws {
        let id = state.withLock { s -> UInt64 in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let now = state.withLock { s -> Bool in
                    if Task.isCancelled { return false }
                    if s.inUse < s.limit && s.waiters.isEmpty {
                        s.inUse += 1
                        return true
                    }
                    s.waiters.append((id, c))
                    return false
                }
                if now {
                    c.resume()
                } else if Task.isCancelled, state.withLock({ s in !s.waiters.contains { $0.id == id } }) {
                    c.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let c = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: i).continuation
            }
            c?.resume(throwing: CancellationError())
        }
    }

    func release() {
        let admitted = state.withLock { s -> [CheckedContinuation<Void, any Error>] in
            s.inUse -= 1
            return Self.admit(&s)
        }
        for c in admitted { c.resume() }
    }

    private static func admit(_ s: inout State) -> [CheckedContinuation<Void, any Error>] {
        var out: [CheckedContinuation<Void, any Error>] = []
        while s.inUse < s.limit, !s.waiters.isEmpty {
            s.inUse += 1
            out.append(s.waiters.removeFirst().continuation)
        }
        return out
    }
}
