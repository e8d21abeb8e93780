import Dispatch
import Foundation
import Synchronization

/// A sleep whose cancellation frees it at once.
///
/// `Task.sleep` on Linux arms a dispatch timer that keeps the sleeping task's memory until the
/// deadline, even when the task is cancelled long before: a timeout of hours, armed per request or
/// per task and cancelled when the work ends, then holds a few hundred bytes per use for hours —
/// memory that grows with every run. Use this for deadlines that usually do not fire (timeouts);
/// short pauses and poll intervals can stay `Task.sleep`.
///
/// ```swift
/// let timer = Task {
///     try await CancellableSleep.sleep(for: .seconds(3600))
///     print("timed out")
/// }
/// // … the work ends first:
/// timer.cancel()  // its timer is released now, not in an hour
/// ```
public enum CancellableSleep {
    /// The longest sleep: anything longer sleeps this long (ten years).
    public static let longest: Duration = .seconds(10 * 365 * 86_400)

    /// Sleeps for `duration` (at most ``longest``).
    ///
    /// - Throws: `CancellationError` when the calling task is cancelled before the time is up
    ///   (at once, the timer released), as `Task.sleep` does.
    public static func sleep(for duration: Duration) async throws {
        let timer = OneShot()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                timer.start(after: min(max(duration, .zero), longest), resuming: c)
            }
        } onCancel: {
            timer.finish()
        }
        try Task.checkCancellation()
    }

    /// One dispatch timer and the continuation it resumes; finished once, by the deadline or by a
    /// cancel, whichever comes first — and then the timer is cancelled, which releases it.
    final class OneShot: Sendable {
        /// A dispatch source is safe to use from any thread (libdispatch's own guarantee); the
        /// protocol just does not say so to the compiler.
        private struct Source: @unchecked Sendable {
            let timer: any DispatchSourceTimer
        }

        private struct State {
            var source: Source?
            var continuation: CheckedContinuation<Void, Never>?
            var finished = false
        }

        private let state = Mutex(State())

        func start(after duration: Duration, resuming c: CheckedContinuation<Void, Never>) {
            let nanoseconds = Checked.multiply(duration.components.seconds, 1_000_000_000).flatMap {
                Checked.add($0, duration.components.attoseconds / 1_000_000_000)
            }
            let source = DispatchSource.makeTimerSource()
            source.schedule(deadline: .now() + .nanoseconds(Int(clamping: nanoseconds ?? Int64.max / 2)))
            source.setEventHandler { [weak self] in self?.finish() }
            // Active before it can be released: libdispatch traps on releasing an inactive source.
            source.activate()
            let now = state.withLock { s -> Bool in
                if s.finished { return true }  // cancelled (or fired) before it was in place
                s.source = Source(timer: source)
                s.continuation = c
                return false
            }
            if now {
                source.cancel()
                c.resume()
            }
        }

        /// Resumes the sleeper (once) and releases the timer.
        func finish() {
            let (source, continuation) = state.withLock { s -> (Source?, CheckedContinuation<Void, Never>?) in
                s.finished = true
                defer {
                    s.source = nil
                    s.continuation = nil
                }
                return (s.source, s.continuation)
            }
            source?.timer.cancel()
            continuation?.resume()
        }
    }
}
