/// What every extension has in common, whatever its kind.
///
/// You do not conform to this directly: conform to ``Trigger``, ``CommonTask``, ``Scheduler`` or
/// ``SecretStore``, which refine it.
public protocol Extension: Sendable {
    /// The admin configuration given at install, decoded after it passed ``Manifest/config``.
    /// Use ``NoConfig`` when there is none.
    associatedtype Config: Decodable & Sendable = NoConfig

    /// Name, version, schemas and capabilities.
    static var manifest: Manifest { get }

    /// Creates the extension once the host has initialized it. Throw ``ProtocolError`` with
    /// ``ErrorCode/invalidConfig`` (and diagnostics) when the config is unusable.
    init(config: Config, context: ExtensionContext) async throws

    /// Reports whether the extension can do its work right now (for example, whether the
    /// Docker daemon answers). The default reports healthy.
    func health() async -> HealthReport
}

extension Extension {
    /// Healthy: override to check the backend (a daemon, an API) the extension needs.
    public func health() async -> HealthReport { HealthReport(status: .healthy) }
}

/// The empty admin configuration.
public struct NoConfig: Codable, Sendable, Hashable {
    /// No configuration.
    public init() {}
}

/// The result of `health`.
public struct HealthReport: Sendable, Codable, Hashable {
    /// Whether the extension can do its work now.
    public enum Status: String, Sendable, Codable {
        /// Works.
        case healthy
        /// Works, with a problem worth showing (`detail`).
        case degraded
        /// Cannot work now: the host sends it no work until it recovers.
        case unhealthy
    }
    /// `healthy`; `degraded` (works, with a problem); `unhealthy` (the host sends it no work).
    public var status: Status
    /// What is wrong, when not healthy, and what to do about it.
    public var detail: String?

    /// A health answer; `detail` says what is wrong when not healthy.
    public init(status: Status, detail: String? = nil) {
        self.status = status
        self.detail = detail
    }
}

extension KindAdapter {
    /// Handlers every kind serves.
    func commonHandlers<E: Extension>(_ ext: E) -> [String: RequestHandler] {
        [
            ProtocolMethod.health.rawValue: { _, _ in try ProtocolCalls.health.encodeResult(await ext.health()) }
        ]
    }

    /// Validates per-use params against the manifest and decodes them.
    func decodeParams<P: Decodable>(_ type: P.Type, _ raw: JSONValue?, path: String = "/params") throws -> P {
        let value = raw ?? .emptyObject
        let problems = manifest.params.validate(value, basePath: path)
        if !problems.isEmpty { throw ProtocolError.invalidParams(diagnostics: problems) }
        do {
            return try JSONCodec.decode(P.self, from: value)
        } catch let error as ProtocolError {
            throw ProtocolError.invalidParams(diagnostics: error.diagnostics.map { $0.prefixed(path) })
        }
    }

    static func decodeConfig<C: Decodable>(_ type: C.Type, _ raw: JSONValue) throws -> C {
        try JSONCodec.decode(C.self, from: raw)
    }
}
