/// The extensions of one kind that a host part runs (triggers, common tasks), by installed name,
/// and those that could not be started, with why. Bookkeeping only: the owning actor starts and
/// stops the supervisors.
struct ExtensionRoster {
    private(set) var running: [String: ExtensionSupervisor] = [:]
    private(set) var unavailable: [String: String] = [:]

    /// Records a started supervisor under `name`; returns the one it takes over from (to stop once
    /// the new one serves: an online upgrade).
    mutating func started(_ name: String, _ supervisor: ExtensionSupervisor) -> ExtensionSupervisor? {
        unavailable[name] = nil
        return running.updateValue(supervisor, forKey: name)
    }

    /// Records that `name` is installed but did not start.
    mutating func failed(_ name: String, _ why: String) { unavailable[name] = why }

    /// Forgets `name`; returns its supervisor, to stop.
    mutating func remove(_ name: String) -> ExtensionSupervisor? {
        unavailable[name] = nil
        return running.removeValue(forKey: name)
    }

    /// Forgets every running one; returns them, to stop.
    mutating func removeAll() -> [ExtensionSupervisor] {
        defer { running = [:] }
        return Array(running.values)
    }

    /// Installed names, running or not, for messages ("installed: a, b" or "none").
    var names: String {
        let all = (Array(running.keys) + Array(unavailable.keys)).sorted()
        return all.isEmpty ? "none" : all.joined(separator: ", ")
    }
}
