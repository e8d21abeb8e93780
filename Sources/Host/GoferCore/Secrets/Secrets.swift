import ExtensionClient
import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GoferStore
import Logging

/// Why a secret could not be used.
public struct SecretError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case notFound, denied, invalid, unavailable, tooLarge }
    public var kind: Kind
    public var message: String
    /// What went wrong underneath (the secret store's own error).
    public var cause: (any Error)? = nil
    public var description: String { ErrorText.wrapping(message, cause) }
}

extension SecretError: CausedError {}

/// Resolves a task's secret references when it starts (see ``Secrets``).
public protocol SecretResolving: Sendable {
    /// Values of `references` for a task of `namespace/pipeline`. Throws ``SecretError`` naming
    /// the first reference that does not exist or is not allowed.
    func resolve(namespace: String, pipeline: String, _ references: Set<SecretReference>) async throws -> [SecretReference: [UInt8]]
}

/// Pipeline and global secrets, kept in one secret store extension. The host owns the key
/// naming, so one store serves both scopes: `pipelines/<namespace>/<pipeline>/<name>` and
/// `global/<name>`.
public actor Secrets: SecretResolving {
    let store: any Store
    let spec: ExtensionSpec?
    let policy: ExtensionSupervisor.Policy
    let hostVersion: String
    /// Delete a pipeline's secrets with the pipeline (admin setting).
    let cleanup: Bool
    private var supervisor: ExtensionSupervisor?
    /// Whether this start has recorded that its store holds secrets.
    private var markedWritten = false
    private let logger = Logger(label: "gofer.secrets")
    /// The largest value accepted.
    public static let maxValueBytes = 1 << 20

    package init(
        store: any Store, spec: ExtensionSpec?, policy: ExtensionSupervisor.Policy = .init(), hostVersion: String, cleanup: Bool = true
    ) {
        self.store = store
        self.spec = spec
        self.policy = policy
        self.hostVersion = hostVersion
        self.cleanup = cleanup
    }

    /// Starts the store. A store that cannot start (wrong key, damaged file) stops the server
    /// with its message: running without the configured secrets would fail every run using them.
    public func start() async throws {
        guard let spec else { return }
        let s = ExtensionSupervisor(spec: spec, kind: .secrets, hostVersion: hostVersion, policy: policy)
        _ = try await s.start()
        supervisor = s
    }

    /// The store's supervisor (status, restarts, stderr), if one runs.
    public var runningSupervisor: ExtensionSupervisor? { supervisor }

    public func stop() async {
        await supervisor?.stop()
        supervisor = nil
    }

    static func pipelineKey(_ namespace: String, _ pipeline: String, _ name: String) -> String {
        "pipelines/\(namespace)/\(pipeline)/\(name)"
    }

    static func globalKey(_ name: String) -> String { "global/\(name)" }

    // MARK: - Store calls

    private func call<P, R>(_ call: ProtocolCall<P, R>, _ params: P) async throws -> R {
        guard let supervisor else {
            throw SecretError(kind: .unavailable, message: "no secret store is configured (server setting secret_store)")
        }
        do {
            return try await supervisor.call(call, params, timeout: .seconds(30))
        } catch let error as ProtocolError where error.code == .notFound {
            throw SecretError(kind: .notFound, message: error.message)
        } catch let error as ProtocolError {
            throw SecretError(kind: .unavailable, message: "the secret store \(spec?.name ?? ""): \(error.message)")
        } catch {
            throw SecretError(kind: .unavailable, message: "the secret store \(spec?.name ?? "") is not available", cause: error)
        }
    }

    private func get(_ key: String) async throws -> [UInt8] {
        guard let bytes = try await call(ProtocolCalls.secretsGet, SecretRef(key: key)).bytes else {
            throw SecretError(kind: .unavailable, message: "the secret store answered without a usable value for \(key)")
        }
        return bytes
    }

    private func put(_ key: String, _ value: [UInt8]) async throws {
        guard value.count <= Self.maxValueBytes else {
            throw SecretError(kind: .tooLarge, message: "the value is \(value.count) bytes; secrets may be at most 1 MiB")
        }
        _ = try await call(ProtocolCalls.secretsPut, SecretWrite(key: key, bytes: value))
        // Remembered once per start: switching away from a store that holds secrets is refused
        // (ExtensionSwitch), switching away from one that never did is not.
        if !markedWritten, let name = spec?.name {
            try await store.setMeta(.secretStoreWritten, name)
            markedWritten = true
        }
    }

    private func list(_ prefix: String) async throws -> [String] {
        try await call(ProtocolCalls.secretsList, SecretPrefix(prefix: prefix)).keys.map { String($0.dropFirst(prefix.count)) }
    }

    static func checkName(_ name: String) throws {
        guard SecretReference.isValidName(name) else {
            throw SecretError(
                kind: .invalid,
                message: "\"\(name)\" is not a valid secret name: use 1–128 letters, digits, '_', '-' or '.'")
        }
    }

    // MARK: - Pipeline secrets

    public func putPipelineSecret(namespace: String, pipeline: String, name: String, value: [UInt8]) async throws {
        try Self.checkName(name)
        _ = try await store.pipeline(namespace: namespace, id: pipeline)
        try await put(Self.pipelineKey(namespace, pipeline, name), value)
    }

    public func pipelineSecretNames(namespace: String, pipeline: String) async throws -> [String] {
        _ = try await store.pipeline(namespace: namespace, id: pipeline)
        return try await list(Self.pipelineKey(namespace, pipeline, ""))
    }

    public func pipelineSecret(namespace: String, pipeline: String, name: String) async throws -> [UInt8] {
        try Self.checkName(name)
        _ = try await store.pipeline(namespace: namespace, id: pipeline)
        do {
            return try await get(Self.pipelineKey(namespace, pipeline, name))
        } catch let e as SecretError where e.kind == .notFound {
            throw SecretError(kind: .notFound, message: "pipeline \(namespace)/\(pipeline) has no secret \"\(name)\"")
        }
    }

    public func deletePipelineSecret(namespace: String, pipeline: String, name: String) async throws {
        try Self.checkName(name)
        _ = try await pipelineSecret(namespace: namespace, pipeline: pipeline, name: name)
        _ = try await call(ProtocolCalls.secretsDelete, SecretRef(key: Self.pipelineKey(namespace, pipeline, name)))
    }

    /// Deletes every secret of a pipeline (it was deleted), unless the admin turned cleanup off.
    public func pipelineDeleted(namespace: String, pipeline: String) async {
        guard cleanup, supervisor != nil else { return }
        let prefix = Self.pipelineKey(namespace, pipeline, "")
        do {
            for name in try await list(prefix) { _ = try await call(ProtocolCalls.secretsDelete, SecretRef(key: prefix + name)) }
        } catch {
            logger.error("could not delete the secrets of deleted pipeline \(namespace)/\(pipeline): \(ErrorText.describe(error))")
        }
    }

    /// Deletes whatever is left under a deleted namespace.
    public func namespaceDeleted(_ namespace: String) async {
        guard cleanup, supervisor != nil else { return }
        let prefix = "pipelines/\(namespace)/"
        do {
            for name in try await list(prefix) { _ = try await call(ProtocolCalls.secretsDelete, SecretRef(key: prefix + name)) }
        } catch {
            logger.error("could not delete the secrets of deleted namespace \(namespace): \(ErrorText.describe(error))")
        }
    }

    // MARK: - Global secrets

    public func putGlobalSecret(name: String, value: [UInt8], namespaces: [String]) async throws -> GlobalSecret {
        try Self.checkName(name)
        let patterns = namespaces.isEmpty ? ["*"] : namespaces
        for p in patterns where p.isEmpty || p.utf8.count > 128 || p.contains("/") {
            throw SecretError(kind: .invalid, message: "\"\(p)\" is not a namespace pattern (e.g. *, team-*, default)")
        }
        // Value first: a description without a value would promise a secret that is not there.
        try await put(Self.globalKey(name), value)
        return try await store.saveGlobalSecret(name: name, namespaces: patterns)
    }

    public func globalSecrets() async throws -> [GlobalSecret] { try await store.globalSecrets() }

    public func globalSecret(name: String) async throws -> (GlobalSecret, [UInt8]) {
        try Self.checkName(name)
        guard let meta = try await store.globalSecret(name: name) else {
            throw SecretError(kind: .notFound, message: "there is no global secret \"\(name)\"")
        }
        return (meta, try await get(Self.globalKey(name)))
    }

    public func deleteGlobalSecret(name: String) async throws {
        try Self.checkName(name)
        guard try await store.globalSecret(name: name) != nil else {
            throw SecretError(kind: .notFound, message: "there is no global secret \"\(name)\"")
        }
        _ = try await call(ProtocolCalls.secretsDelete, SecretRef(key: Self.globalKey(name)))
        try await store.deleteGlobalSecret(name: name)
    }

    // MARK: - Use in runs

    public func resolve(namespace: String, pipeline: String, _ references: Set<SecretReference>) async throws -> [SecretReference: [UInt8]]
    {
        var out: [SecretReference: [UInt8]] = [:]
        for r in references.sorted(by: { $0.description < $1.description }) {
            switch r.scope {
            case .pipeline:
                do {
                    out[r] = try await get(Self.pipelineKey(namespace, pipeline, r.name))
                } catch let e as SecretError where e.kind == .notFound {
                    throw SecretError(
                        kind: .notFound,
                        message:
                            "\(r) does not exist in pipeline \(namespace)/\(pipeline); add it with `gofer secret pipeline put \(pipeline) \(r.name)`"
                    )
                }
            case .global:
                guard let meta = try await store.globalSecret(name: r.name) else {
                    throw SecretError(
                        kind: .notFound, message: "\(r) does not exist; an admin adds it with `gofer secret global put \(r.name)`")
                }
                guard meta.allows(namespace: namespace) else {
                    throw SecretError(
                        kind: .denied,
                        message: "\(r) is not allowed in namespace \(namespace) (allowed: \(meta.namespaces.joined(separator: ", ")))")
                }
                out[r] = try await get(Self.globalKey(r.name))
            }
        }
        return out
    }

    /// References in `config` that cannot be resolved now, each with why (apply-time warnings).
    public func problems(namespace: String, config: PipelineConfig) async -> [String] {
        guard supervisor != nil else {
            return SecretReference.all(in: config).isEmpty ? [] : ["the pipeline uses secrets but no secret store is configured"]
        }
        var out: [String] = []
        var seen: Set<SecretReference> = []
        for (task, variable, r) in SecretReference.all(in: config) where seen.insert(r).inserted {
            do {
                _ = try await resolve(namespace: namespace, pipeline: config.id, [r])
            } catch {
                out.append(ErrorText.wrapping("task \(task) env \(variable)", error))
            }
        }
        return out
    }
}
