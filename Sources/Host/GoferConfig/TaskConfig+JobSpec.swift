import ExtensionSDK

extension TaskConfig {
    /// What a scheduler is asked to run for this task: its image, command and resources, with the
    /// environment, labels and registry credentials the host resolved for one execution.
    ///
    /// The one mapping from a config to a job: the run engine starts jobs with it, and the fuzzer
    /// and property tests check that every config apply accepts maps to a job
    /// ``JobSpec/problems()`` finds nothing wrong with.
    public func jobSpec(
        taskExecutionID: String, env: [String: String], labels: [String: String], registryAuth: RegistryAuth?, stopGraceMs: Int?
    ) -> JobSpec {
        JobSpec(
            taskExecutionID: taskExecutionID, image: image, entrypoint: entrypoint, command: command, env: env, labels: labels,
            cpus: cpus, memoryMB: memoryMB, registryAuth: registryAuth, placement: placement, stopGraceMs: stopGraceMs)
    }
}
