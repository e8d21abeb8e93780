import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GoferStore

/// `POST /api/trial`: a new trial's token (its secret once), namespace and budget.
public struct TrialGrant: Codable, Sendable {
    public var token: APIToken
    /// Shown once; only a hash is kept.
    public var secret: String
    public var namespace: String
    public var budget: TrialBudget
}

/// A trial's container time: used and left (the smaller of the token's and the address's).
public struct TrialBudget: Codable, Sendable, Equatable {
    public var namespace: String
    public var budgetSeconds: Int64
    public var usedSeconds: Int64
    public var leftSeconds: Int64
    /// The caps a trial pipeline is held to.
    public var maxTasks = TrialPolicy.maxTasks
    public var maxPipelines = TrialPolicy.maxPipelines
    public var maxRuns = TrialPolicy.maxRuns
    public var maxLogBytes = TrialPolicy.maxLogBytes
}

/// Why a trial may not do something: each refusal names the cap and what is left.
public struct TrialRefusal: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        /// Public mode is off: there are no trials.
        case off
        /// Too many trial tokens asked for from one address (retry after `retryAfter`).
        case tooManyTrials
        /// The container-time budget is spent.
        case budgetSpent
        /// A cap on pipelines or runs is reached.
        case capReached
    }

    public var kind: Kind
    public var message: String
    public var retryAfter: Duration?
    public var description: String { message }

    package init(kind: Kind, message: String, retryAfter: Duration? = nil) {
        self.kind = kind
        self.message = message
        self.retryAfter = retryAfter
    }
}

/// Issues trial tokens and holds trials to their budgets and caps (public mode). The budget is
/// container time — each started task from its start to its end — per trial token and per client
/// address; the engine also stops a trial's run when what is left runs out.
public actor Trials {
    public nonisolated let policy: TrialPolicy
    private let store: any Store
    private let limiter: RateLimiter

    package init(store: any Store, policy: TrialPolicy) {
        self.store = store
        self.policy = policy
        self.limiter = RateLimiter(policy.issueRate)
    }

    /// A new trial for a client at `address`: a fresh namespace and a token limited to it.
    public func issue(address: String) async throws -> TrialGrant {
        guard policy.enabled else { throw TrialRefusal(kind: .off, message: "public mode is off: there are no trial tokens on this server") }
        let used = try await store.containerTime(namespaces: try await store.trialNamespaces(address: address))
        if used >= policy.addressBudget {
            throw TrialRefusal(
                kind: .budgetSpent,
                message:
                    "your address has used its \(DurationText.format(policy.addressBudget)) of container time; ask the server's operators for a token")
        }
        if let wait = limiter.take(address) {
            throw TrialRefusal(
                kind: .tooManyTrials,
                message: "at most \(policy.issueRate.count) trial tokens per \(DurationText.format(policy.issueRate.per)) from one address",
                retryAfter: wait)
        }
        let namespace = TrialPolicy.namespacePrefix + String(APIToken.newID().dropFirst("tok_".count))
        let secret = TokenSecret.generate()
        let now = Date()
        let lifetime = Double(policy.tokenLifetime.components.seconds)
        let token = APIToken(
            id: APIToken.newID(), name: "trial \(namespace)", kind: .user, roles: [TrialPolicy.role], namespaces: [namespace],
            createdBy: .system, createdAt: now, expiresAt: now.addingTimeInterval(lifetime))
        try await store.createTrial(namespace: namespace, address: address, token: token, hash: secret.hash)
        return TrialGrant(token: token, secret: secret.text, namespace: namespace, budget: try await budget(namespace: namespace))
    }

    /// The container time `namespace`'s trial has used and has left.
    public func budget(namespace: String) async throws -> TrialBudget {
        let mine = try await store.containerTime(namespaces: [namespace])
        // A run stopped by the budget spends it: its tasks' containers started later than its
        // clock (image, engine), so the sum may fall a little short of it.
        var left = try await store.trialSpent(namespace: namespace) ? .zero : policy.budget - mine
        if let address = try await store.trialAddress(namespace: namespace) {
            let all = try await store.containerTime(namespaces: try await store.trialNamespaces(address: address))
            left = min(left, policy.addressBudget - all)
        }
        return TrialBudget(
            namespace: namespace, budgetSeconds: policy.budget.components.seconds, usedSeconds: mine.components.seconds,
            leftSeconds: max(0, left.components.seconds))
    }

    /// Container time a run in `namespace` may still use; nil when it is not a trial's.
    public func remaining(namespace: String) async -> Duration? {
        guard policy.isTrial(namespace) else { return nil }
        guard let b = try? await budget(namespace: namespace) else { return .zero }
        return .seconds(b.leftSeconds)
    }

    /// A run of `namespace` was stopped when its share of the budget ran out: the budget is spent.
    public func budgetRanOut(namespace: String) async {
        try? await store.markTrialSpent(namespace: namespace)
    }

    /// Refuses a run in a trial namespace whose budget is spent, whose address has a run in
    /// progress already, or that has started its last run.
    public func checkRun(namespace: String) async throws {
        guard policy.isTrial(namespace) else { return }
        let budget = try await budget(namespace: namespace)
        if budget.leftSeconds <= 0 {
            throw TrialRefusal(
                kind: .budgetSpent,
                message:
                    "this trial has used its container time (\(DurationText.format(policy.budget)) per trial, \(DurationText.format(policy.addressBudget)) per address); no more runs")
        }
        let address = try await store.trialAddress(namespace: namespace)
        var namespaces = [namespace]
        if let address { namespaces = try await store.trialNamespaces(address: address) }
        let (active, _) = try await store.trialRunCounts(namespaces: namespaces)
        if active >= TrialPolicy.maxActiveRuns {
            throw TrialRefusal(kind: .capReached, message: "a trial runs one run at a time: wait for the one in progress to end")
        }
        let (_, total) = try await store.trialRunCounts(namespaces: [namespace])
        if total >= TrialPolicy.maxRuns {
            throw TrialRefusal(kind: .capReached, message: "this trial has started its \(TrialPolicy.maxRuns) runs")
        }
    }

    /// Refuses a new pipeline in a trial namespace that has its last one.
    public func checkNewPipeline(namespace: String, pipeline: String) async throws {
        guard policy.isTrial(namespace) else { return }
        let existing = try await store.pipelineIDs(namespace: namespace)
        if !existing.contains(pipeline) && existing.count >= TrialPolicy.maxPipelines {
            throw TrialRefusal(kind: .capReached, message: "a trial holds at most \(TrialPolicy.maxPipelines) pipelines (it has \(existing.joined(separator: ", ")))")
        }
    }
}
