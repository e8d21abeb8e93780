import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel

/// Pipelines (their current state; versions are in ``VersionRepository``).
package protocol PipelineRepository: Sendable {
    /// The pipeline `id` of `namespace`, or ``StoreError/notFound(what:id:)``.
    func pipeline(namespace: String, id: String) async throws -> Pipeline

    /// Pipelines of a namespace in id order; the cursor is the last id of the previous page.
    func pipelines(namespace: String, after cursor: String?, limit: Int) async throws -> Page<Pipeline>

    /// Deletes a pipeline with its versions, runs and task executions. Refuses while runs are in progress.
    func deletePipeline(namespace: String, id: String, by: Principal) async throws
}

/// The defaults callers leave out.
extension PipelineRepository {
    package func pipelines(namespace: String, after cursor: String? = nil, limit: Int = 50) async throws -> Page<Pipeline> {
        try await pipelines(namespace: namespace, after: cursor, limit: limit)
    }

    package func deletePipeline(namespace: String, id: String, by: Principal = .system) async throws {
        try await deletePipeline(namespace: namespace, id: id, by: by)
    }
}
