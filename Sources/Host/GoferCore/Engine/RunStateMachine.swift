import GoferConfig
import GoferModel

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

    // What keeps every decision proportional to what changed, not to the run's size (a run of
    // 10,000 tasks asks after each of its 10,000 task ends): the graph's edges both ways, for each
    // task how many of its parents have not ended, the waiting tasks whose parents have all ended,
    // and how many tasks have not ended.
    /// Position of each task in the config: decisions come out in config order.
    private let index: [String: Int]
    private let children: [String: [String]]
    private var parentsLeft: [String: Int]
    private var ready: Set<String>
    private var waiting: Set<String>
    private var notEnded: Int

    init(config: PipelineConfig, states: [String: TaskState]) {
        self.config = config
        self.states = states
        var index: [String: Int] = [:]
        for (i, t) in config.tasks.enumerated() where index[t.id] == nil { index[t.id] = i }
        var children: [String: [String]] = [:]
        var parentsLeft: [String: Int] = [:]
        var ready = Set<String>()
        var waiting = Set<String>()
        var notEnded = 0
        for t in config.tasks {
            let state = states[t.id] ?? .skipped
            if !state.isTerminal { notEnded += 1 }
            // A parent that is not a task of the run counts as ended (skipped), as before.
            var left = 0
            for parent in t.dependsOn.keys {
                children[parent, default: []].append(t.id)
                if !(states[parent]?.isTerminal ?? true) { left += 1 }
            }
            parentsLeft[t.id] = left
            if state == .waiting {
                waiting.insert(t.id)
                if left == 0 { ready.insert(t.id) }
            }
        }
        self.index = index
        self.children = children
        self.parentsLeft = parentsLeft
        self.ready = ready
        self.waiting = waiting
        self.notEnded = notEnded
    }

    /// The config of task `id` (a lookup, not a walk of the tasks).
    func task(_ id: String) -> TaskConfig? { index[id].map { config.tasks[$0] } }

    mutating func record(_ task: String, _ state: TaskState) { set(task, state) }

    /// Every state change goes through here, keeping the counts above true.
    private mutating func set(_ task: String, _ new: TaskState) {
        let old = states[task] ?? .skipped
        states[task] = new
        guard index[task] != nil else { return }
        if old == .waiting && new != .waiting {
            waiting.remove(task)
            ready.remove(task)
        } else if new == .waiting && old != .waiting {
            waiting.insert(task)
            if parentsLeft[task] == 0 { ready.insert(task) }
        }
        guard old.isTerminal != new.isTerminal else { return }
        notEnded += new.isTerminal ? -1 : 1
        for child in children[task] ?? [] {
            parentsLeft[child, default: 0] += new.isTerminal ? -1 : 1
            if parentsLeft[child] == 0, states[child] == .waiting { ready.insert(child) } else { ready.remove(child) }
        }
    }

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
            for id in waiting.sorted(by: { (index[$0] ?? 0) < (index[$1] ?? 0) }) {
                actions.append(
                    .finishTask(
                        task: id, state: .cancelled,
                        reason: StateReason(.cancelled, "the run stopped before it started: \(stopping.reason.message)")))
                set(id, .cancelled)
            }
        } else {
            // Tasks whose parents have all ended, in config order; a skip can make more ready.
            while !ready.isEmpty {
                for id in ready.sorted(by: { (index[$0] ?? 0) < (index[$1] ?? 0) }) {
                    guard states[id] == .waiting, let t = task(id) else {
                        ready.remove(id)
                        continue
                    }
                    let parents = t.dependsOn.sorted { $0.key < $1.key }
                    if let unmet = parents.first(where: { !Self.satisfied($0.value, by: states[$0.key] ?? .skipped) }) {
                        let parentState = states[unmet.key]?.rawValue ?? "unknown"
                        let reason = StateReason(
                            .conditionNotMet, "needs \(unmet.key) to end in \(unmet.value.rawValue), but it \(parentState)")
                        actions.append(.finishTask(task: id, state: .skipped, reason: reason))
                        set(id, .skipped)
                    } else {
                        actions.append(.start(task: id))
                        set(id, .starting)
                    }
                }
            }
        }
        if notEnded == 0 {
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
