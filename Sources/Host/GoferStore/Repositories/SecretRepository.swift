import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel

/// Global secrets' metadata (values live in the secret store) and the server's own settings.
package protocol SecretRepository: Sendable {
    /// Creates or updates a global secret's description (its value is in the secret store).
    func saveGlobalSecret(name: String, namespaces: [String]) async throws -> GlobalSecret

    /// Every global secret's description, by name.
    func globalSecrets() async throws -> [GlobalSecret]

    /// The global secret `name`, nil when none is.
    func globalSecret(name: String) async throws -> GlobalSecret?

    /// Forgets a global secret's description.
    func deleteGlobalSecret(name: String) async throws
}
