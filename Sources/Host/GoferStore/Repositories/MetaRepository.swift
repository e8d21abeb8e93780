import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel

/// Values the server keeps about itself, by key (which secret store wrote the secrets, the key of a secrets file).
package protocol MetaRepository: Sendable {
    /// The value kept under `key`, nil when none was.
    func meta(_ key: MetaKey) async throws -> String?

    /// Keeps `value` under `key`, replacing what was there.
    func setMeta(_ key: MetaKey, _ value: String) async throws
}

/// What the server keeps about itself, one key per fact.
package enum MetaKey: String, Sendable, CaseIterable {
    /// The scheduler the data directory was last served with (a switch is refused while runs are unfinished).
    case scheduler
    /// The secret store the data directory was last served with.
    case secretStore = "secret_store"
    /// The secret store that was last written to (a secret put): switching away from it needs consent.
    case secretStoreWritten = "secret_store_written"
    /// When the default extensions were installed (once per data directory).
    case defaultsInstalled = "defaults_installed"
    /// When the first admin token was made (once per data directory).
    case adminBootstrapped = "admin_bootstrapped"
}
