import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GoferStore

/// Public mode (`public_mode`): anyone may ask for a trial token (`POST /api/trial`) and run
/// pipelines in a fresh namespace of their own, within a budget of container time and low caps.
/// The settings are the budgets and the rate; the caps are fixed (docs/security.md lists them).
public struct TrialPolicy: Sendable, Equatable {
    /// `public_mode`: off, `POST /api/trial` answers 404 and nothing here applies.
    public var enabled = false
    /// `trial_budget`: container time one trial token's tasks may use in all.
    public var budget: Duration = .seconds(300)
    /// `trial_budget_per_address`: container time the trials of one client address may use in all.
    public var addressBudget: Duration = .seconds(300)
    /// `trial_rate_limit`: trial tokens one client address may get.
    public var issueRate = RateLimit(count: 3, per: .seconds(3600))
    /// How long a trial token is valid.
    public var tokenLifetime: Duration = .seconds(24 * 3600)

    /// Trial namespaces are `trial-` and a random id; in public mode no one else may create one.
    public static let namespacePrefix = "trial-"
    /// Tasks in one trial pipeline.
    public static let maxTasks = 5
    /// Pipelines in one trial namespace.
    public static let maxPipelines = 3
    /// Runs one trial namespace may ever start.
    public static let maxRuns = 20
    /// Runs of one client address's trials in progress at once.
    public static let maxActiveRuns = 1
    /// Output stored per task of a trial.
    public static let maxLogBytes = 1 << 20
    /// The most a trial task may ask for.
    public static let maxCPUs = 1.0
    public static let maxMemoryMB = 512
    /// Trial tasks (every task, in public mode) run as this user, never as root.
    public static let taskUser = "65534:65534"
    /// The role trial tokens hold.
    public static let role = "trial"

    public init() {}

    /// Whether `namespace` belongs to a trial.
    public func isTrial(_ namespace: String) -> Bool { enabled && namespace.hasPrefix(Self.namespacePrefix) }

    /// What a trial pipeline may not do, each problem at its field: every trigger, hook and common
    /// task is an extension; secrets, run tokens and resources above the caps are not for trials.
    public func problems(_ config: PipelineConfig, locator: PipelineConfigLoader.Locator) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        func refuse(_ path: String, _ message: String) { problems.append(locator.problem(path, message + " in a public-mode trial")) }
        if config.tasks.count > Self.maxTasks {
            refuse("/tasks", "\(config.tasks.count) tasks: at most \(Self.maxTasks) are allowed")
        }
        for i in config.triggers.indices { refuse("/triggers/\(i)", "triggers are extensions, which are not available") }
        for i in config.hooks.indices { refuse("/hooks/\(i)", "hooks are extensions, which are not available") }
        if config.injectAPIToken { refuse("/inject_api_token", "run tokens are not available") }
        for (i, task) in config.tasks.enumerated() {
            let base = "/tasks/\(i)"
            if task.extension != nil { refuse(base + "/extension", "common tasks are extensions, which are not available") }
            if task.injectAPIToken == true { refuse(base + "/inject_api_token", "run tokens are not available") }
            if task.registryAuth != nil { refuse(base + "/registry_auth", "registry credentials (secrets) are not available") }
            for (name, value) in task.env.sorted(by: { $0.key < $1.key }) {
                let parts = (try? SecretReference.parse(value)) ?? []
                if parts.contains(where: { if case .reference = $0 { true } else { false } }) {
                    refuse(base + "/env/\(name)", "secrets are not available")
                }
            }
            if let cpus = task.cpus, cpus > Self.maxCPUs {
                refuse(base + "/cpu", "\(cpus) CPUs: at most \(Self.maxCPUs) are allowed")
            }
            if let mb = task.memoryMB, mb > Self.maxMemoryMB {
                refuse(base + "/memory", "\(mb)MB: at most \(Self.maxMemoryMB)MB is allowed")
            }
        }
        return problems
    }
}
