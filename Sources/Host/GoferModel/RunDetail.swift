import Foundation

/// A run with its task executions (`GET …/runs/{run}`).
public struct RunDetail: Codable, Sendable {
    public var run: Run
    public var tasks: [TaskExecution]

    package init(run: Run, tasks: [TaskExecution]) {
        self.run = run
        self.tasks = tasks
    }
}
