/// How a request counts against the receiver's limits (protocol.md §6).
///
/// A **call** does some work and answers: at most `maxConcurrentRequests` of them are in flight.
/// A **watch** is long-lived — it opens a stream (`_meta.stream`) or waits for something to
/// happen (`scheduler/wait`) — and counts against `maxConcurrentWatches` instead, so a host
/// following hundreds of running jobs can still make calls.
public enum RequestClass: Sendable, Equatable {
    /// Does work and answers; limited by `maxConcurrentRequests`.
    case call
    /// Long-lived (a stream, a wait); limited by `maxConcurrentWatches`.
    case watch

    /// The class of a request with this method and params.
    public init(method: String, params: JSONValue) {
        self = params["_meta"]?["stream"] != nil || ProtocolMethod(rawValue: method)?.waits == true ? .watch : .call
    }
}
