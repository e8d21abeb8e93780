import Foundation

/// Everything the host keeps, as the repositories the rest of the host uses. ``SQLStore`` keeps it in
/// SQL, on the embedded SQLite file or a PostgreSQL server; both pass the same repository tests
/// (`StoreContractTests`).
///
/// Every state change a repository makes is one transaction that also appends its event, so the
/// event log and the states never disagree.
package protocol Store: NamespaceRepository, PipelineRepository, VersionRepository, RunRepository, EventRepository, TokenRepository,
    SecretRepository, MetaRepository, ExtensionRepository, TriggerRepository, HookRepository, ObjectRepository, RolloutRepository,
    TrialRepository
{
    /// Moves after every committed write, per scope (``WriteGenerations``): anything derived from
    /// reads taken while its tag stayed the same is still current (the API's response cache).
    var generations: WriteGenerations { get }
    /// Versions kept per pipeline unless its config says otherwise (`keep_versions`).
    var defaultKeepVersions: Int { get }
    /// The backend's own consistency check: `"ok"`, or what it found wrong.
    func integrityCheck() async throws -> String
    /// Lets go of the database (a server's last step when it stops); the store is not used after.
    func close() async
}
