import Foundation
import GoferConfig
import GoferModel
import GoferStore
import Synchronization

/// Settings of the run engine (server settings).
public struct EngineSettings: Sendable {
    /// Task executions running at once across all runs.
    public var maxConcurrentTasks = 32
    /// The longest a run may take.
    public var runTimeout: Duration = .seconds(24 * 3600)
    /// A task's timeout when its config sets none.
    public var defaultTaskTimeout: Duration = .seconds(8 * 3600)
    /// How long a stopped task gets between SIGTERM and SIGKILL.
    public var stopGrace: Duration = .seconds(10)
    /// Bytes of output stored per task; past it the log keeps its head and tail around a marker.
    public var maxLogBytes = 64 << 20
    /// Identifies this server's jobs (label `gofer.server`) so that servers sharing one container
    /// engine never touch each other's containers. Kept in the data directory.
    public var serverID = "default"
    /// The API address tasks can reach, given to them as GOFER_API_URL. Set once the server
    /// listens (its port may be chosen then).
    public var taskAPI = TaskAPIAddress("http://127.0.0.1:8080")
    public var apiURL: String {
        get { taskAPI.url }
        set { taskAPI = TaskAPIAddress(newValue) }
    }
    /// Where people reach the server (`public_url`): runs get a link (`GOFER_RUN_URL`).
    public var publicURL: String?
    /// Public mode: namespaces with this prefix are trials, whose tasks store at most
    /// ``TrialPolicy/maxLogBytes`` of output each.
    public var trialNamespacePrefix: String?

    /// Bytes of output stored per task of a run in `namespace`.
    public func maxLogBytes(namespace: String) -> Int {
        if let prefix = trialNamespacePrefix, namespace.hasPrefix(prefix) { return min(maxLogBytes, TrialPolicy.maxLogBytes) }
        return maxLogBytes
    }

    /// A run's page for people, when the server knows its public address.
    public func runURL(_ run: Run) -> String? {
        publicURL.map { "\($0)/ui/namespaces/\(run.namespace)/pipelines/\(run.pipeline)/runs/\(run.id)" }
    }

    public init() {}
}

/// Where tasks reach the API; known for sure only once the server listens.
public final class TaskAPIAddress: Sendable {
    private let value: Mutex<String>
    public init(_ url: String) { value = Mutex(url) }
    public var url: String {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
