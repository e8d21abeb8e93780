import ExtensionSDK
import GoferModel

/// The part of the host that runs the extensions of one kind — ``Triggers``, ``CommonTasks``, and
/// ``SettingsChosenExtensions`` for the scheduler and the secret store. The extension manager hands
/// it what is installed, upgraded or uninstalled and asks it what uses an extension; it looks the
/// host up by the extension's kind and never switches on the kind itself.
package protocol ExtensionHost: Sendable {
    /// Starts an extension installed while the server runs; throws when it does not start (nothing
    /// is installed then).
    func add(_ spec: ExtensionSpec) async throws
    /// Swaps a running extension for its upgrade. True when the new version runs now; false when
    /// it takes effect at the next start (an extension chosen by the server's settings).
    func replace(_ spec: ExtensionSpec) async throws -> Bool
    /// Stops an uninstalled extension.
    func remove(_ name: String) async
    /// The pipelines whose configs use the extension.
    func pipelinesUsing(_ name: String) async throws -> [PipelineRef]
    /// The extension's supervisor while it runs.
    func runningSupervisor(_ name: String) async -> ExtensionSupervisor?
    /// Whether the server's settings chose it, so it cannot be uninstalled while they do.
    func isChosenBySettings(_ name: String) async -> Bool
}

extension ExtensionHost {
    package func isChosenBySettings(_ name: String) async -> Bool { false }
}

/// The scheduler and the secret store: chosen by the server's settings, started by the server,
/// used by no pipeline config. Installing or upgrading one changes what the next start runs.
package actor SettingsChosenExtensions: ExtensionHost {
    private var running: [String: @Sendable () async -> ExtensionSupervisor?] = [:]

    package init() {}

    /// The extension `name` runs for the server's settings; `supervisor` finds it while it does.
    package func register(_ name: String, supervisor: @escaping @Sendable () async -> ExtensionSupervisor?) { running[name] = supervisor }

    package func add(_ spec: ExtensionSpec) async throws {}
    package func replace(_ spec: ExtensionSpec) async throws -> Bool { false }
    package func remove(_ name: String) async {}
    package func pipelinesUsing(_ name: String) async throws -> [PipelineRef] { [] }
    package func runningSupervisor(_ name: String) async -> ExtensionSupervisor? { await running[name]?() }
    package func isChosenBySettings(_ name: String) async -> Bool { running[name] != nil }
}
