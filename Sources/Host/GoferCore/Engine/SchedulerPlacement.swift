import ExtensionSDK
import GoferConfig
import GoferModel
import GoferStore

/// Checks each container task's `placement` against the selected scheduler's params schema when
/// a pipeline is applied, so a constraint the scheduler cannot read is refused then, not when the
/// task starts. A scheduler whose params schema has no properties (docker, process) takes no
/// placement at all.
public struct SchedulerPlacement: Sendable {
    /// The selected scheduler's installed name, for messages.
    public let name: String
    /// Its params schema, once its handshake is done; nil while it is not running.
    let schema: @Sendable () async -> JSONSchema?

    public init(name: String, schema: @escaping @Sendable () async -> JSONSchema?) {
        self.name = name
        self.schema = schema
    }

    public func validate(_ config: PipelineConfig, locator: PipelineConfigLoader.Locator) async -> [ConfigProblem] {
        let placed = config.tasks.enumerated().compactMap { i, t in t.placement.map { (path: "/tasks/\(i)/placement", value: $0) } }
        guard !placed.isEmpty else { return [] }
        guard let schema = await schema() else {
            return placed.map {
                locator.problem($0.path, "the scheduler \"\(name)\" is not running, so this placement cannot be checked; try again once it is healthy")
            }
        }
        if (schema.json["properties"]?.objectValue ?? [:]).isEmpty {
            return placed.map {
                locator.problem(
                    $0.path,
                    "the scheduler \"\(name)\" takes no placement (it runs every task on one engine); remove placement, or select a scheduler that places tasks on a cluster (swarm, nomad)"
                )
            }
        }
        return placed.flatMap { use in
            schema.validate(use.value, basePath: use.path).map { locator.problem($0.path, "\($0.message) (placement for the \"\(name)\" scheduler)") }
        }
    }
}
