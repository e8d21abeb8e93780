import Synchronization

/// Since when each job has waited to be placed on a node, for a scheduler whose jobs may wait after
/// `scheduler/start` (capability ``Capability/placement``). The host follows such a job with
/// `scheduler/inspect` until it runs, so a placement timeout must run from the first look —
/// `inspect` or `wait`, whichever came first — not restart with each call.
///
/// ```swift
/// let waits = PlacementWaits()
/// // in inspect and wait, while the engine says no node can take the job:
/// if waits.waiting(handle) > placementTimeout {
///     throw JobFailure.unplaceable.error("no node could take the job within \(placementTimeout)")
/// }
/// // once it is placed, stopped or removed:
/// waits.forget(handle)
/// ```
public final class PlacementWaits: Sendable {
    private let since = Mutex<[String: ContinuousClock.Instant]>([:])

    /// No job waiting yet.
    public init() {}

    /// How long `handle` has waited, its clock starting now if this is the first look.
    public func waiting(_ handle: String) -> Duration {
        let now = ContinuousClock.now
        return now - since.withLock { times in
            if let first = times[handle] { return first }
            times[handle] = now
            return now
        }
    }

    /// Stops the clock of `handle` (it was placed, stopped or removed).
    public func forget(_ handle: String) { _ = since.withLock { $0.removeValue(forKey: handle) } }
}
