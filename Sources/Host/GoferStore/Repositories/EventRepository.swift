import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel

/// The event log: every state change appends one, in the same transaction.
package protocol EventRepository: Sendable {
    /// Events after `cursor` (an event id), oldest first.
    func events(namespace: String?, pipeline: String?, after cursor: Int64, limit: Int) async throws -> Page<Event>

    /// Appends an event on its own (for changes stored elsewhere, such as secret values).
    func recordEvent(_ kind: EventKind, namespace: String?, pipeline: String?, run: Int?, task: String?, by: Principal, details: [String: String]) async throws
}

/// The defaults callers leave out.
extension EventRepository {
    package func events(namespace: String? = nil, pipeline: String? = nil, after cursor: Int64 = 0, limit: Int = 100) async throws -> Page<Event> {
        try await events(namespace: namespace, pipeline: pipeline, after: cursor, limit: limit)
    }

    package func recordEvent(_ kind: EventKind, namespace: String? = nil, pipeline: String? = nil, run: Int? = nil, task: String? = nil, by: Principal, details: [String: String] = [:]) async throws {
        try await recordEvent(kind, namespace: namespace, pipeline: pipeline, run: run, task: task, by: by, details: details)
    }
}
