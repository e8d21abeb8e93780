/// An optional feature an extension advertises in its `initialize` result (`capabilities`,
/// docs/protocol.md §11): the host uses the feature only when the extension says it has it.
///
/// Declare one in the manifest:
///
/// ```swift
/// static let manifest = Manifest(
///     name: "swarm", version: "1.0.0", kind: .scheduler,
///     capabilities: Capability.set([.attach, .placement]))
/// ```
public enum Capability: String, Sendable, CaseIterable {
    /// A trigger that accepts webhooks forwarded by the host (`trigger/external`).
    case external
    /// A scheduler that runs commands inside its jobs (`scheduler/attach`).
    case attach
    /// A scheduler whose jobs may wait to be placed on a node after `scheduler/start` (protocol
    /// 1.1): the host follows a started job with `scheduler/inspect` until it is not `created`,
    /// showing ``JobStatus/message`` (why it waits) on the task meanwhile.
    case placement
    /// A scheduler whose jobs end with it (protocol 1.1, docs/protocol.md §11.1): it keeps them in
    /// memory, so after a restart their tasks fail as orphaned. Only for tests and benchmarks (the
    /// bundled `process` scheduler); every other scheduler's jobs outlive it, and the conformance
    /// suite's `scheduler.restart-finds-job` checks that unless this is advertised.
    case ephemeralJobs

    /// The `capabilities` object of a manifest: each capability with no options (`{}`).
    public static func set(_ capabilities: [Capability]) -> [String: JSONValue] {
        Dictionary(uniqueKeysWithValues: capabilities.map { ($0.rawValue, JSONValue.emptyObject) })
    }
}

extension [String: JSONValue] {
    /// Whether this `capabilities` object advertises `capability`.
    public func has(_ capability: Capability) -> Bool { self[capability.rawValue] != nil }
}
