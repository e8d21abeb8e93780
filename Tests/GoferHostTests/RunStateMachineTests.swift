import GoferConfig
import Testing

@testable import GoferCore
@testable import GoferHost

/// The run's rules decide incrementally (what changed, not the whole run, on every task end), so a
/// run of 10,000 tasks costs the same per task as one of 100. These tests hold the decisions to
/// the rules: on random DAGs with random outcomes, every task ends as the straightforward walk of
/// the rules says (the walk kept here as the reference), with the same reasons and run outcome.
struct RunStateMachineTests {
    /// The rules as a whole-run walk (what the engine used before): decide every waiting task
    /// whose parents have all ended, in config order, until nothing changes.
    struct Reference {
        let config: PipelineConfig
        var states: [String: TaskState]

        mutating func settle() -> [RunStateMachine.Action] {
            var actions: [RunStateMachine.Action] = []
            var changed = true
            while changed {
                changed = false
                for t in config.tasks where states[t.id] == .waiting {
                    let parents = t.dependsOn.sorted { $0.key < $1.key }
                    if parents.contains(where: { !(states[$0.key]?.isTerminal ?? true) }) { continue }
                    if let unmet = parents.first(where: { !RunStateMachine.satisfied($0.value, by: states[$0.key] ?? .skipped) }) {
                        let reason = StateReason(
                            .conditionNotMet, "needs \(unmet.key) to end in \(unmet.value.rawValue), but it \(states[unmet.key]?.rawValue ?? "unknown")")
                        actions.append(.finishTask(task: t.id, state: .skipped, reason: reason))
                        states[t.id] = .skipped
                    } else {
                        actions.append(.start(task: t.id))
                        states[t.id] = .starting
                    }
                    changed = true
                }
            }
            return actions
        }
    }

    /// A deterministic generator (no Foundation randomness: a seed reproduces a failure).
    struct SplitMix {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(bound))
        }
    }

    static func randomDAG(_ rng: inout SplitMix, tasks: Int) throws -> PipelineConfig {
        var yaml = "id: random\ntasks:\n"
        for i in 0..<tasks {
            // Parents come from earlier tasks, listed in a shuffled config order below.
            var parents: [String] = []
            if i > 0 {
                for _ in 0..<rng.next(4) {
                    let p = "t\(rng.next(i))"
                    if !parents.contains(p) { parents.append(p) }
                }
            }
            let conditions = ["success", "failure", "any"]
            let deps = parents.map { "\($0): \(conditions[rng.next(3)])" }.joined(separator: ", ")
            yaml += "  - { id: t\(i), image: none, command: [\"true\"]\(deps.isEmpty ? "" : ", depends_on: { \(deps) }") }\n"
        }
        return try PipelineConfigLoader().load(yaml, file: "random.yaml")
    }

    @Test(arguments: 0..<40)
    func randomRunsEndAsTheRulesSay(seed: Int) throws {
        var rng = SplitMix(state: UInt64(seed) &* 7919)
        let config = try Self.randomDAG(&rng, tasks: 1 + rng.next(60))
        let initial = Dictionary(uniqueKeysWithValues: config.tasks.map { ($0.id, TaskState.waiting) })
        var machine = RunStateMachine(config: config, states: initial)
        var reference = Reference(config: config, states: initial)
        var reasons: [String: StateReason] = [:]
        var referenceReasons: [String: StateReason] = [:]
        var running: [String] = []
        var outcome: RunStateMachine.Action?
        let stopAt = rng.next(3) == 0 ? rng.next(config.tasks.count + 1) : -1
        var ended = 0
        var stoppedWhileRunning = false
        for _ in 0..<10_000 {
            if ended == stopAt && outcome == nil {
                machine.stop(as: .cancelled, reason: StateReason(.cancelled, "stopped by the test"))
                stoppedWhileRunning = true
            }
            for action in machine.nextActions() {
                switch action {
                case .start(let id): running.append(id)
                case .finishTask(let id, _, let reason): reasons[id] = reason
                case .finishRun: outcome = action
                }
            }
            if stopAt < 0 {
                for action in reference.settle() {
                    if case .finishTask(let id, _, let reason) = action { referenceReasons[id] = reason }
                }
            }
            guard !running.isEmpty else { break }
            // One running task ends, with a random outcome, in both.
            let id = running.remove(at: rng.next(running.count))
            let end: TaskState = [.succeeded, .failed, .cancelled][rng.next(3)]
            machine.record(id, end)
            reference.states[id] = end
            ended += 1
        }
        #expect(outcome != nil, "the run ended")
        if stopAt < 0 {
            // Not stopped: every task ends exactly as the whole-run walk decides, for the same reason.
            #expect(machine.states == reference.states, "seed \(seed)")
            #expect(reasons == referenceReasons, "seed \(seed)")
            let failed = config.tasks.filter { [.failed, .cancelled].contains(machine.states[$0.id]) }
            if case .finishRun(let state, _) = outcome { #expect(state == (failed.isEmpty ? .succeeded : .failed), "seed \(seed)") }
        } else {
            #expect(machine.states.values.allSatisfy { $0.isTerminal }, "seed \(seed): every task ended")
            if case .finishRun(let state, _) = outcome { #expect(state == (stoppedWhileRunning ? .cancelled : state), "seed \(seed)") }
        }
    }

    /// Run on a recovered run: tasks that had ended and tasks that were running when the server
    /// stopped; only the waiting children of ended parents are decided.
    @Test func aRecoveredRunDecidesFromWhereItWas() throws {
        let config = try PipelineConfigLoader().load(
            "id: r\ntasks:\n  - { id: a, image: none, command: [x] }\n  - { id: b, image: none, command: [x], depends_on: [a] }\n  - { id: c, image: none, command: [x], depends_on: { a: failure } }\n  - { id: d, image: none, command: [x] }\n",
            file: "r.yaml")
        var machine = RunStateMachine(config: config, states: ["a": .succeeded, "b": .waiting, "c": .waiting, "d": .running])
        let actions = machine.nextActions()
        #expect(actions.count == 2, "\(actions)")
        #expect(actions.contains(.start(task: "b")))
        #expect(actions.contains { if case .finishTask("c", .skipped, _) = $0 { return true } else { return false } })
        machine.record("b", .succeeded)
        #expect(machine.nextActions().isEmpty, "d still runs")
        machine.record("d", .succeeded)
        #expect(machine.nextActions() == [.finishRun(state: .succeeded, reason: nil)])
    }

    /// A run of 10,000 tasks in a chain and 10,000 side by side is decided end to end.
    @Test(arguments: [true, false])
    func tenThousandTasksEnd(chain: Bool) throws {
        var yaml = "id: big\ntasks:\n"
        for i in 0..<10_000 {
            yaml += "  - { id: t\(i), image: none, command: [x]\(chain && i > 0 ? ", depends_on: [t\(i - 1)]" : "") }\n"
        }
        let config = try PipelineConfigLoader().load(yaml, file: "big.yaml")
        var machine = RunStateMachine(config: config, states: Dictionary(uniqueKeysWithValues: config.tasks.map { ($0.id, .waiting) }))
        var started = 0
        var last: RunStateMachine.Action?
        var pending: [String] = []
        repeat {
            for action in machine.nextActions() {
                if case .start(let id) = action {
                    started += 1
                    pending.append(id)
                } else {
                    last = action
                }
            }
            if let id = pending.popLast() { machine.record(id, .succeeded) }
        } while last == nil
        #expect(started == 10_000 && last == .finishRun(state: .succeeded, reason: nil))
    }
}
