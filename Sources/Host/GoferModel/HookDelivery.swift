import ExtensionSDK
import Foundation
import GoferConfig

/// When a hook is called: the SDK's own type, so the stored phase, the wire and the task agree.
public typealias HookPhase = RunHook.Phase

/// One call a hook owes: stored in the same transaction as the run state that causes it, so it
/// is never lost (a server killed right after a run ends delivers it after the restart), and
/// delivered at least once, retried with backoff.
public struct HookDelivery: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        case pending, delivered
        /// Gave up after ``HookDispatcher/maxAttempts``.
        case failed
    }
    public var id: Int64
    public var namespace: String
    public var pipeline: String
    public var run: Int
    public var label: String
    public var `extension`: String
    public var phase: HookPhase
    public var state: State
    public var attempts: Int
    public var nextAttemptAt: Date
    public var lastError: String?
    /// What the hook said it did on its delivery ("set success on octo/app@6dcb09b5",
    /// "no commit to mark: …") — shown with the run, so a hook that did nothing says so.
    public var summary: String?
    public var createdAt: Date
    public var deliveredAt: Date?

    package init(id: Int64, namespace: String, pipeline: String, run: Int, label: String, extension: String, phase: HookPhase, state: State, attempts: Int, nextAttemptAt: Date, lastError: String? = nil, summary: String? = nil, createdAt: Date, deliveredAt: Date? = nil) {
        self.id = id
        self.namespace = namespace
        self.pipeline = pipeline
        self.run = run
        self.label = label
        self.extension = `extension`
        self.phase = phase
        self.state = state
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.lastError = lastError
        self.summary = summary
        self.createdAt = createdAt
        self.deliveredAt = deliveredAt
    }
}
