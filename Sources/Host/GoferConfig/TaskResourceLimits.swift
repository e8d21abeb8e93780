import ExtensionSDK

/// The most a task may ask for (server settings `task_cpu_max` and `task_memory_max`), checked
/// when a pipeline is applied: a config a scheduler could not run is refused then, with the bound
/// in the message, never discovered when a task starts.
public struct TaskResourceLimits: Sendable, Equatable {
    /// The fewest CPUs a task may ask for: Docker's and Swarm's smallest share (0.01 CPU).
    public static let minCPUs = 0.01
    /// The least memory a task may ask for, in MB: Docker refuses a container with less than
    /// 6 MB ("Minimum memory limit allowed is 6MB"), so a config asking for 4 MB would pass apply
    /// and fail every start (found by the generated-pipeline property test).
    public static let minMemoryMB = 6
    /// The largest `task_cpu_max` a server accepts: a bound every scheduler can express
    /// (Docker's NanoCpus, Nomad's MHz) without overflow.
    public static let maxCPUsSetting = 4096.0
    /// The largest `task_memory_max` a server accepts, in MB (1 PiB): bytes still fit an Int64.
    public static let maxMemoryMBSetting = 1 << 30

    /// CPUs a task may ask for.
    public var maxCPUs: Double
    /// Memory a task may ask for, in MB.
    public var maxMemoryMB: Int

    public init(maxCPUs: Double = 64, maxMemoryMB: Int = 256 * 1024) {
        self.maxCPUs = maxCPUs
        self.maxMemoryMB = maxMemoryMB
    }

    /// `64GiB`, `512MB`: how a bound reads in a message.
    public static func format(mb: Int) -> String {
        mb >= 1024 && mb % 1024 == 0 ? "\(mb / 1024)GiB" : "\(mb)MB"
    }

    /// `64`, `0.5`.
    public static func format(cpus: Double) -> String {
        cpus == cpus.rounded() && cpus < 1e15 ? String(Int64(cpus)) : String(cpus)
    }
}
