import Foundation

/// Whether this start may use a different scheduler or secret store than the last one.
///
/// - Scheduler: **drain**. Runs in progress have tasks on the old scheduler; the new one cannot
///   find them and would mark them orphaned. So a switch is refused while runs are unfinished:
///   start with the old scheduler until they end (or cancel them), then switch.
/// - Secret store: **refuse, unless told**. Secrets stored in the old store would silently become
///   unreachable and runs would fail later, at task start. So a switch away from a store that
///   keeps secrets (not `none` or `memory`) and was written to is refused unless
///   `secret_store_switch: true` says the admin knows (they then store the secrets again in the new store). Gofer does not copy
///   secrets between stores itself: it would have to read every value out of the old one.
enum ExtensionSwitch {
    static func check(store: any Store, settings: ServerSettings, storeExtension: String?) async throws {
        if let previous = try await store.meta(.scheduler), previous != settings.scheduler {
            let unfinished = try await store.unfinishedRuns()
            if !unfinished.isEmpty {
                let sample = unfinished.prefix(3).map { "\($0.namespace)/\($0.pipeline)#\($0.id)" }.joined(separator: ", ")
                throw ServerError(
                    "scheduler is \(settings.scheduler), but \(unfinished.count) run(s) in progress (\(sample)) have tasks on \(previous). Start with scheduler \(previous) until they have finished or been cancelled, then switch"
                )
            }
        }
        let current = storeExtension ?? "none"
        if let previous = try await store.meta(.secretStore), previous != current, !["none", "memory-secrets"].contains(previous),
            try await store.meta(.secretStoreWritten) == previous, !settings.secretStoreSwitch
        {
            throw ServerError(
                "secret_store is now \(current), but secrets were stored in \(previous) and would become unreachable (runs using them would fail). Start with the previous store, or set secret_store_switch: true to switch and store the secrets again"
            )
        }
        try await store.setMeta(.scheduler, settings.scheduler)
        try await store.setMeta(.secretStore, current)
    }
}
