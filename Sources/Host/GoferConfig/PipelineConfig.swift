import ExtensionSDK
import Foundation

/// When a dependent task may run, given how its parent ended.
public enum DependencyCondition: String, Codable, Sendable, CaseIterable {
    /// The parent succeeded.
    case success
    /// The parent failed (a cleanup or notify task).
    case failure
    /// The parent finished, whatever the outcome.
    case any
}

/// A pipeline as the user wrote it, validated. Stored as canonical JSON per version.
public struct PipelineConfig: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var description: String
    /// Runs of this pipeline that may be in progress at once; 0 means no limit.
    public var parallelism: Int
    public var tasks: [TaskConfig]
    /// What starts runs besides people: one subscription per entry.
    public var triggers: [TriggerUse]
    /// Common tasks told when a run starts and when it ends (a commit status, an alert); never
    /// part of the DAG, never able to change a run's result.
    public var hooks: [HookUse] = []
    /// Give each run its own API token (`GOFER_API_TOKEN`), scoped to this pipeline and revoked
    /// when the run ends. Tasks may opt out.
    public var injectAPIToken: Bool
    /// The pipeline-level `logging` setting: false stores no task's output unless the task says
    /// `logging: true` itself (already folded into each task's `logging`).
    public var logging: Bool
    /// How many versions to keep (overrides the server's `keep_versions`); nil: the server's.
    public var keepVersions: Int?

    public func task(_ id: String) -> TaskConfig? { tasks.first { $0.id == id } }

    public init(
        id: String, name: String, description: String, parallelism: Int, tasks: [TaskConfig], triggers: [TriggerUse] = [],
        injectAPIToken: Bool = false, logging: Bool = true, keepVersions: Int? = nil, hooks: [HookUse] = []
    ) {
        self.hooks = hooks
        self.injectAPIToken = injectAPIToken
        self.logging = logging
        self.keepVersions = keepVersions
        self.id = id
        self.name = name
        self.description = description
        self.parallelism = parallelism
        self.tasks = tasks
        self.triggers = triggers
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decode(String.self, forKey: .description)
        parallelism = try c.decode(Int.self, forKey: .parallelism)
        tasks = try c.decode([TaskConfig].self, forKey: .tasks)
        // Versions stored before triggers existed have none.
        triggers = try c.decodeIfPresent([TriggerUse].self, forKey: .triggers) ?? []
        hooks = try c.decodeIfPresent([HookUse].self, forKey: .hooks) ?? []
        injectAPIToken = try c.decodeIfPresent(Bool.self, forKey: .injectAPIToken) ?? false
        logging = try c.decodeIfPresent(Bool.self, forKey: .logging) ?? true
        keepVersions = try c.decodeIfPresent(Int.self, forKey: .keepVersions)
    }

    /// Whether a task gets the run's API token.
    public func injectsToken(_ task: TaskConfig) -> Bool { task.injectAPIToken ?? injectAPIToken }
}

/// A pipeline's use of a trigger extension: `{trigger: interval, label: nightly, settings: {every: 24h}}`.
public struct TriggerUse: Codable, Sendable, Equatable {
    /// The installed trigger's name.
    public var trigger: String
    /// Unique within the pipeline; names the subscription. Defaults to the trigger's name.
    public var label: String
    /// Per-use settings, validated against the trigger's params schema when the config is applied.
    public var settings: JSONValue
}

/// A pipeline's use of a common-task extension as a run hook:
/// `{extension: github-status, label: status, settings: {context: ci}}`.
public struct HookUse: Codable, Sendable, Equatable {
    /// The installed common task's name.
    public var `extension`: String
    /// Unique within the pipeline's hooks. Defaults to the extension's name.
    public var label: String
    /// Validated against the extension's params schema and `task/validate` when applied; may
    /// hold `secret{{…}}` / `global_secret{{…}}` in string values.
    public var settings: JSONValue
}

/// One task of a pipeline: a container (`image`, `command`) or a common-task extension
/// (`extension`, `settings`).
public struct TaskConfig: Codable, Sendable, Equatable {
    public var id: String
    public var description: String
    /// The container image; empty for an extension task.
    public var image: String
    /// The installed common task that runs this task instead of a container.
    public var `extension`: String?
    /// The extension task's settings (its params).
    public var settings: JSONValue?
    public var registryAuth: RegistryAuthConfig?
    public var entrypoint: [String]?
    public var command: [String]?
    public var env: [String: String]
    public var dependsOn: [String: DependencyCondition]
    /// Seconds; nil means the server's default (8 h unless configured).
    public var timeoutSeconds: Int?
    public var cpus: Double?
    public var memoryMB: Int?
    /// When false, the task's output is not stored.
    public var logging: Bool
    /// Overrides the pipeline's `inject_api_token` for this task (false: opt out).
    public var injectAPIToken: Bool?
    /// Where the scheduler runs this task, in the selected scheduler's terms (Swarm constraints,
    /// Nomad datacenters…); checked against its params schema at apply time.
    public var placement: JSONValue? = nil
}

/// Credentials for pulling a task's image. The password is a `secret{{…}}` or
/// `global_secret{{…}}` reference, resolved when the task starts; plain passwords are refused.
public struct RegistryAuthConfig: Codable, Sendable, Equatable {
    public var username: String
    public var password: String

    /// The reference a password consists of, or nil when it is anything else (a plain password).
    public static func passwordReference(_ password: String) -> SecretReference? {
        guard let parts = try? SecretReference.parse(password), parts.count == 1, case .reference(let r) = parts[0] else { return nil }
        return r
    }
}

extension PipelineConfig {
    /// Canonical JSON (sorted keys): equal configs have equal text, whatever the source format.
    public func canonicalJSON() throws -> String {
        try JSONCodec.encode(self).description
    }

    /// Decodes a stored canonical config.
    public static func fromCanonical(_ text: String) throws -> PipelineConfig {
        try JSONDecoder().decode(PipelineConfig.self, from: Data(text.utf8))
    }

    /// Task ids in an order where every task comes after the tasks it depends on: a depth-first
    /// walk in declaration order, parents by name. Iterative with lookups by id, so a chain of
    /// 10,000 tasks neither overflows the stack nor takes quadratic time.
    public var topologicalOrder: [String] {
        var byID: [String: [String]] = [:]
        for t in tasks where byID[t.id] == nil { byID[t.id] = t.dependsOn.keys.sorted() }
        var order: [String] = []
        order.reserveCapacity(tasks.count)
        var done: Set<String> = []
        var onPath: Set<String> = []
        // (task, its parents, the next parent to visit)
        var stack: [(id: String, parents: [String], next: Int)] = []
        for t in tasks where !done.contains(t.id) {
            guard let parents = byID[t.id], !onPath.contains(t.id) else { continue }
            stack.append((t.id, parents, 0))
            onPath.insert(t.id)
            while let top = stack.last {
                if top.next < top.parents.count {
                    stack[stack.count - 1].next += 1
                    let parent = top.parents[top.next]
                    if !done.contains(parent), !onPath.contains(parent), let grand = byID[parent] {
                        stack.append((parent, grand, 0))
                        onPath.insert(parent)
                    }
                } else {
                    stack.removeLast()
                    onPath.remove(top.id)
                    done.insert(top.id)
                    order.append(top.id)
                }
            }
        }
        return order
    }
}
