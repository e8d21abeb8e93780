import Synchronization

/// What a committed write may have changed, as far as cached reads are concerned. A write that
/// names no narrower scope is `.everything`: it makes every cached answer stale.
package enum WriteScope: Sendable, Equatable {
    /// Anything at all (the default: deletions, applies, retention, settings …).
    case everything
    /// A pipeline's list of runs: a run was added to it.
    case runList(namespace: String, pipeline: String)
    /// One run's own record (its state, reason or stop request), and so its pipeline's list too.
    case run(namespace: String, pipeline: String, id: Int)
    /// Only the task executions of one run.
    case tasks(namespace: String, pipeline: String, run: Int)
    /// Nothing a run, a run list or a task execution shows (tokens' last use, run-token rows,
    /// hook attempts, object expiry): cached reads of runs stay current.
    case outsideRuns
}

/// What a cached read depends on.
package enum ReadScope: Sendable, Equatable {
    /// A page of a pipeline's runs.
    case runList(namespace: String, pipeline: String)
    /// One run with its task executions.
    case run(namespace: String, pipeline: String, id: Int)
    /// Anything else: stale after every write.
    case anything
}

/// Counters that move after every committed write, per scope, so a cached answer is served only
/// while nothing it shows can have changed — and a task's state change on one run does not throw
/// away the cached answers of every other run and list.
///
/// Read a ``Tag`` *before* reading the data it tags, and bump *after* the commit: a write that
/// lands in between then always leaves the tag behind, never a stale answer under a current tag.
/// Per-pipeline and per-run counters live in fixed tables of slots (a hash of the scope picks the
/// slot): memory stays the same however many runs there are, and two scopes sharing a slot only
/// cost each other an extra miss.
package final class WriteGenerations: Sendable {
    /// Identifies the state a read saw; equal tags mean nothing it depends on was written since.
    package struct Tag: Sendable, Equatable {
        let shared: UInt64
        let scoped: UInt64
    }

    private struct Counters {
        /// Every write.
        var total: UInt64 = 0
        /// Writes of scope `.everything`.
        var everything: UInt64 = 0
        var lists: [UInt64]
        var runs: [UInt64]
    }

    private let counters: Mutex<Counters>
    private let listSlots: Int
    private let runSlots: Int

    /// `listSlots` counters for pipelines' run lists and `runSlots` for runs (each at least 1).
    package init(listSlots: Int = 1024, runSlots: Int = 8192) {
        self.listSlots = max(1, listSlots)
        self.runSlots = max(1, runSlots)
        counters = Mutex(Counters(lists: Array(repeating: 0, count: max(1, listSlots)), runs: Array(repeating: 0, count: max(1, runSlots))))
    }

    /// The tag of a read of `scope`, taken now.
    package func tag(_ scope: ReadScope) -> Tag {
        counters.withLock { c in
            switch scope {
            case .anything: Tag(shared: c.total, scoped: 0)
            case .runList(let ns, let p): Tag(shared: c.everything, scoped: c.lists[listSlot(ns, p)])
            case .run(let ns, let p, let id): Tag(shared: c.everything, scoped: c.runs[runSlot(ns, p, id)])
            }
        }
    }

    /// Records a committed write of `scope`.
    package func bump(_ scope: WriteScope) {
        counters.withLock { c in
            c.total &+= 1
            switch scope {
            case .everything: c.everything &+= 1
            case .runList(let ns, let p): c.lists[listSlot(ns, p)] &+= 1
            case .run(let ns, let p, let id):
                c.lists[listSlot(ns, p)] &+= 1
                c.runs[runSlot(ns, p, id)] &+= 1
            case .tasks(let ns, let p, let run): c.runs[runSlot(ns, p, run)] &+= 1
            case .outsideRuns: break
            }
        }
    }

    private func listSlot(_ namespace: String, _ pipeline: String) -> Int {
        var h = Hasher()
        h.combine(namespace)
        h.combine(pipeline)
        return Int(UInt(bitPattern: h.finalize()) % UInt(listSlots))
    }

    private func runSlot(_ namespace: String, _ pipeline: String, _ id: Int) -> Int {
        var h = Hasher()
        h.combine(namespace)
        h.combine(pipeline)
        h.combine(id)
        return Int(UInt(bitPattern: h.finalize()) % UInt(runSlots))
    }
}
