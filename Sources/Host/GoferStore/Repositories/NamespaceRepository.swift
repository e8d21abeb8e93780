import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel

/// Namespaces.
package protocol NamespaceRepository: Sendable {
    /// Creates a namespace; an id already taken is ``StoreError/conflict(_:)``.
    func createNamespace(id: String, name: String?, description: String, by: Principal) async throws -> Namespace

    /// The namespace `id`, or ``StoreError/notFound(what:id:)``.
    func namespace(_ id: String) async throws -> Namespace

    /// Namespaces in id order; the cursor is the last id of the previous page.
    func namespaces(after cursor: String?, limit: Int) async throws -> Page<Namespace>

    /// Deletes an empty namespace. Refuses while it has pipelines (delete those first).
    func deleteNamespace(_ id: String, by: Principal) async throws
}

/// The defaults callers leave out.
extension NamespaceRepository {
    package func createNamespace(id: String, name: String?, description: String, by: Principal = .system) async throws -> Namespace {
        try await createNamespace(id: id, name: name, description: description, by: by)
    }

    package func namespaces(after cursor: String? = nil, limit: Int = 50) async throws -> Page<Namespace> {
        try await namespaces(after: cursor, limit: limit)
    }

    package func deleteNamespace(_ id: String, by: Principal = .system) async throws {
        try await deleteNamespace(id, by: by)
    }
}
