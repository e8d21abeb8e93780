import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel

/// Object metadata and quotas (the bytes live in an object backend).
package protocol ObjectRepository: Sendable {
    /// Records an uploaded object (its bytes already committed to `info.blob`), replacing one of
    /// the same key; enforces the scope's limits: run and extension scopes refuse what does not
    /// fit, a pipeline evicts its oldest objects. One transaction, events included.
    func putObject(_ info: ObjectInfo, in scope: ObjectScope, limits: ObjectLimits, by: Principal) async throws -> ObjectWriteOutcome

    /// An object's metadata, or ``ObjectError`` when it does not exist.
    func object(_ scope: ObjectScope, key: String) async throws -> ObjectInfo

    /// The objects of a scope (a pipeline's, a run's or an extension's), by key.
    func objects(_ scope: ObjectScope) async throws -> [ObjectInfo]

    /// Deletes one object; returns its blob for removal.
    func deleteObject(_ scope: ObjectScope, key: String, by: Principal) async throws -> String

    /// Deletes every pipeline and run object of a pipeline (all pipelines of the namespace when
    /// `pipeline` is nil); returns their blobs.
    func deleteObjects(namespace: String, pipeline: String?) async throws -> [String]

    /// Deletes the run objects of runs that are `keep` or more runs older than the pipeline's
    /// newest (of every pipeline when `pipeline` is nil), an `object_expired` event each; returns
    /// their blobs.
    func expireRunObjects(namespace: String?, pipeline: String?, keep: Int) async throws -> [String]

    /// Every blob an object names.
    func objectBlobs() async throws -> Set<String>

    /// Throws not-found unless the scope's pipeline, run or extension exists.
    func checkObjectScope(_ scope: ObjectScope) async throws
}

/// The defaults callers leave out.
extension ObjectRepository {
    package func expireRunObjects(namespace: String? = nil, pipeline: String? = nil, keep: Int) async throws -> [String] {
        try await expireRunObjects(namespace: namespace, pipeline: pipeline, keep: keep)
    }
}

/// What storing an object changed besides itself: the blob it replaced and what was evicted to
/// make room. Their blobs are the caller's to remove, after the commit.
package struct ObjectWriteOutcome: Sendable {
    package var info: ObjectInfo
    package var replacedBlob: String?
    package var evicted: [ObjectInfo]
}
