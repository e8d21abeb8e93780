import ExtensionSDK
import GoferConfig
import PipelineGenerator

/// Structure-aware: the input's bytes are choices for ``PipelineGenerator`` (long and wide DAGs in
/// any declaration order, cycles, extreme numbers in every numeric field, every task shape), so
/// nearly every input is a pipeline the loader has to judge rather than a parse error. Checks
/// what apply relies on:
/// - the loader answers: a config, or problems that each name a field (never a crash or a hang:
///   a 5,000-task chain used to overflow the stack, `memory: 99999999999999999999999GB` trapped);
/// - an accepted config is acyclic (every task in the topological order) and survives its
///   canonical form;
/// - every task of an accepted config maps to a job any SDK scheduler accepts
///   (``JobSpec/problems()`` is empty), and its resources convert to what Docker, Swarm and Nomad
///   take without overflow.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var choices = Choices(Array(UnsafeBufferPointer(start: data, count: size)))
    // Up to 1,000 tasks: thousands of inputs a minute under AddressSanitizer (GeneratedPipelineTests
    // and TenantSafetyTests take the 5,000- and 10,000-task graphs).
    let pipeline = PipelineGenerator.generate(&choices, maxTasks: 1_000)
    let format: PipelineConfigLoader.Format = pipeline.format == "json" ? .json : .yaml
    let config: PipelineConfig
    do {
        config = try PipelineConfigLoader().loadLocated(pipeline.text, file: "fuzz", format: format).0
    } catch {
        for problem in error.problems where problem.message.isEmpty {
            fatalError("a problem without a message (\(pipeline.shape)): \(problem)")
        }
        if error.problems.isEmpty { fatalError("refused without a problem (\(pipeline.shape))") }
        return 0
    }
    if config.topologicalOrder.count != config.tasks.count {
        fatalError("accepted a graph with a cycle (\(pipeline.shape))")
    }
    guard let canonical = try? config.canonicalJSON(), let again = try? PipelineConfig.fromCanonical(canonical), again == config else {
        fatalError("an accepted config does not survive its canonical form (\(pipeline.shape))")
    }
    for task in config.tasks where task.extension == nil {
        let job = task.jobSpec(
            taskExecutionID: "fuzz-\(task.id)", env: task.env, labels: ["gofer.task": task.id],
            registryAuth: task.registryAuth.map { RegistryAuth(username: $0.username, password: "p") }, stopGraceMs: 10_000)
        let problems = job.problems()
        if !problems.isEmpty { fatalError("accepted at apply, refused by every scheduler (\(pipeline.shape)): \(problems)") }
        if task.cpus != nil && job.nanoCPUs == nil { fatalError("cpu \(String(describing: task.cpus)) has no NanoCPUs") }
        if task.memoryMB != nil && job.memoryBytes(defaultMB: 0) == nil {
            fatalError("memory \(String(describing: task.memoryMB)) MiB has no byte count")
        }
        _ = job.stopGraceNanoseconds
    }
    return 0
}
