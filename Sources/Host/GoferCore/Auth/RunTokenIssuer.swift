import Crypto
import Foundation
import GoferConfig
import GoferModel
import GoferStore

/// Gives each run of a pipeline with `inject_api_token: true` its own token: role `run`, limited to
/// that pipeline, revoked in the same transaction that ends the run (also when the run ends
/// during recovery). The token is derived from a server key and the run, so a restarted server
/// gives a task the same token again without ever storing it.
public struct RunTokenIssuer: Sendable {
    let store: any Store
    let key: SymmetricKey

    package init(store: any Store, key: SymmetricKey) {
        self.store = store
        self.key = key
    }

    /// The run's token; stored (hashed) the first time. Throws when the run has ended.
    public func token(for run: Run) async throws -> TokenSecret {
        let id = APIToken.runTokenID(namespace: run.namespace, pipeline: run.pipeline, run: run.id)
        let secret = TokenSecret.derive(key: key, label: id)
        let token = APIToken(
            id: id, name: "run \(run.namespace)/\(run.pipeline)#\(run.id)", kind: .run, roles: ["run"], namespaces: [run.namespace],
            pipeline: .init(namespace: run.namespace, pipeline: run.pipeline), run: run.id, createdBy: .system, createdAt: Date())
        guard try await store.ensureRunToken(token, hash: secret.hash) else {
            throw SecretError(kind: .unavailable, message: "run \(run.namespace)/\(run.pipeline)#\(run.id) has ended; its token is revoked")
        }
        return secret
    }
}
