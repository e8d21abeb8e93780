import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel

/// Public-mode trials: anonymous pipelines, their runs and container time.
package protocol TrialRepository: Sendable {
    /// Creates a trial's namespace, its token (stored as a hash) and the record tying both to the
    /// client address, with their events, in one transaction.
    func createTrial(namespace: String, address: String, token: APIToken, hash: Data) async throws

    /// The client address a trial namespace was given to; nil when it is not a trial's.
    func trialAddress(namespace: String) async throws -> String?

    /// Marks a trial's budget spent: a run of it was stopped when its share of the budget ran out.
    func markTrialSpent(namespace: String) async throws

    /// Whether a trial's budget was marked spent.
    func trialSpent(namespace: String) async throws -> Bool

    /// The namespaces of the trials given to `address`.
    func trialNamespaces(address: String) async throws -> [String]

    /// Container time the tasks of `namespaces` have used: each started task from its start to its
    /// end, or to `now` while it runs.
    func containerTime(namespaces: [String], now: Date) async throws -> Duration

    /// Runs of `namespaces` that have not ended, and every run of them ever started.
    func trialRunCounts(namespaces: [String]) async throws -> (active: Int, total: Int)

    /// Pipelines in `namespace`.
    func pipelineIDs(namespace: String) async throws -> [String]
}

/// The defaults callers leave out.
extension TrialRepository {
    package func containerTime(namespaces: [String], now: Date = Date()) async throws -> Duration {
        try await containerTime(namespaces: namespaces, now: now)
    }
}
