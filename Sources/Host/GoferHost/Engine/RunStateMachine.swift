/// The rules of a run, in one place: which task may start, which must be skipped, and how the run
/// ends. Pure: it decides; the ``RunEngine`` carries out and persists.
struct RunStateMachine: Sendable {
    enum Action: Equatable, Sendable {
        case start(task: String)
        case finishTask(task: String, state: TaskState, reason: StateReason)
        case finishRun(state: RunState, reason: StateReason?)
    }

    let config: PipelineConfig
    private(set) var states: [String: TaskState]
    /// Set when the run is being cancelled (by a user or the run timeout).
    private(set) var stopping: (state: RunState, reason: StateReason)?
    private(set) var finished = false

    init(config: PipelineConfig, states: [String: TaskState]) {
        self.config = config
        self.states = states
    }

    mutating func record(_ task: String, _ state: TaskState) { states[task] = state }

    /// Begin stopping the run: nothing new starts, waiting tasks are cancelled, and the run ends
    /// in `state` once the running ones have stopped.
    mutating func stop(as state: RunState, reason: StateReason) {
        if stopping == nil { stopping = (state, reason) }
    }

    /// What to do now. Apply every action, record the resulting task states, and ask again.
    mutating func nextActions() -> [Action] {
        guard !finished else { return [] }
        var actions: [Action] = []
        if let stopping {
            for t in config.tasks where states[t.id] == .waiting {
                actions.append(
                    .finishTask(
                        task: t.id, state: .cancelled,
                        reason: StateReason(.cancelled, "the run stopped before it started: \(stopping.reason.message)")))
                states[t.id] = .cancelled
            }
        } else {
            for t in config.tasks where states[t.id] == .waiting {
                let parents = t.dependsOn.sorted { $0.key < $1.key }
                if parents.contains(where: { !(states[$0.key]?.isTerminal ?? true) }) { continue }
                if let unmet = parents.first(where: { !Self.satisfied($0.value, by: states[$0.key] ?? .skipped) }) {
                    let parentState = states[unmet.key]?.rawValue ?? "unknown"
                    let reason = StateReason(
                        .conditionNotMet, "needs \(unmet.key) to end in \(unmet.value.rawValue), but it \(parentState)")
                    actions.append(.finishTask(task: t.id, state: .skipped, reason: reason))
                    states[t.id] = .skipped
                } else {
                    actions.append(.start(task: t.id))
                    states[t.id] = .starting
                }
            }
        }
        if config.tasks.allSatisfy({ states[$0.id]?.isTerminal ?? true }) {
            finished = true
            actions.append(outcome())
        }
        return actions
    }

    static func satisfied(_ condition: DependencyCondition, by parent: TaskState) -> Bool {
        switch condition {
        case .any: return parent.isTerminal
        case .success: return parent == .succeeded
        case .failure: return parent == .failed || parent == .cancelled
        }
    }

    private func outcome() -> Action {
        if let stopping { return .finishRun(state: stopping.state, reason: stopping.reason) }
        let failed = config.tasks.filter { states[$0.id] == .failed || states[$0.id] == .cancelled }.map(\.id)
        if failed.isEmpty { return .finishRun(state: .succeeded, reason: nil) }
        return .finishRun(
            state: .failed, reason: StateReason(.taskFailed, "task\(failed.count > 1 ? "s" : "") \(failed.joined(separator: ", ")) failed"))
    }
}
