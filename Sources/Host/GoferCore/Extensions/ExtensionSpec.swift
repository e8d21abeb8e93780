import ExtensionClient
import ExtensionSDK
import GoferConfig
import GoferModel
import GoferStore
import Logging

/// How to run one extension: which executable, and the admin layer of its configuration.
public struct ExtensionSpec: Sendable {
    public var name: String
    public var launch: ExtensionLaunch
    /// The admin layer of its configuration (from install or the server settings).
    public var adminConfig: JSONValue
    /// A directory it owns, kept across restarts and upgrades.
    public var stateDirectory: String
    /// Answers what every extension may ask the host whatever its kind (`objects/*`), before the
    /// kind's own handler sees a request.
    public var hostRequests: ExtensionObjectRequests?

    public init(
        name: String, launch: ExtensionLaunch, adminConfig: JSONValue = .emptyObject, stateDirectory: String,
        hostRequests: ExtensionObjectRequests? = nil
    ) {
        self.name = name
        self.launch = launch
        self.adminConfig = adminConfig
        self.stateDirectory = stateDirectory
        self.hostRequests = hostRequests
    }
}

extension ExtensionSupervisor {
    /// A supervisor for `spec`, as a `kind` extension of this host, its stderr going to the log
    /// `gofer.extension.NAME` at debug level.
    public init(
        spec: ExtensionSpec, kind: ExtensionKind, system: JSONValue = .emptyObject, hostVersion: String, policy: Policy,
        requestHandler: ExtensionConnection.RequestHandler? = nil, onReady: (@Sendable (ExtensionConnection) async -> Void)? = nil
    ) {
        let logger = Logger(label: "gofer.extension.\(spec.name)")
        self.init(
            name: spec.name, launch: spec.launch,
            options: InitializeOptions(
                kind: kind, adminConfig: spec.adminConfig, systemConfig: system, stateDirectory: spec.stateDirectory,
                hostVersion: hostVersion),
            policy: policy,
            requestHandler: { method, params in
                if let host = spec.hostRequests, let answer = try await host.handle(method, params) { return answer }
                guard let requestHandler else { throw ProtocolError.methodNotFound(method) }
                return try await requestHandler(method, params)
            }, onReady: onReady, onStderr: { line in logger.debug("\(line)") })
    }
}
