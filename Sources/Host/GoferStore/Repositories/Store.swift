import Foundation

/// Everything the host keeps, as the repositories the rest of the host uses. ``SQLiteStore`` is the
/// embedded backend; a second backend conforms to the same protocols and passes the same
/// repository tests (`StoreContractTests`).
///
/// Every state change a repository makes is one transaction that also appends its event, so the
/// event log and the states never disagree.
package protocol Store: NamespaceRepository, PipelineRepository, VersionRepository, RunRepository, EventRepository, TokenRepository,
    SecretRepository, MetaRepository, ExtensionRepository, TriggerRepository, HookRepository, ObjectRepository, RolloutRepository,
    TrialRepository
{
    /// Counts committed write transactions: it changes after every write, so anything derived
    /// from reads taken while it stayed the same is still current (the API's response cache). Read it
    /// *before* reading the data it tags.
    var writeGeneration: UInt64 { get }
    /// Versions kept per pipeline unless its config says otherwise (`keep_versions`).
    var defaultKeepVersions: Int { get }
    /// The backend's own consistency check: `"ok"`, or what it found wrong.
    func integrityCheck() async throws -> String
}
