import ExtensionClient
import ExtensionSDK
import Logging

/// How to run one extension: which executable, and the admin layer of its configuration.
public struct ExtensionSpec: Sendable {
    public var name: String
    public var launch: ExtensionLaunch
    /// The admin layer of its configuration (from install or the server settings).
    public var adminConfig: JSONValue
    /// A directory it owns, kept across restarts and upgrades.
    public var stateDirectory: String

    public init(name: String, launch: ExtensionLaunch, adminConfig: JSONValue = .emptyObject, stateDirectory: String) {
        self.name = name
        self.launch = launch
        self.adminConfig = adminConfig
        self.stateDirectory = stateDirectory
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
            policy: policy, requestHandler: requestHandler, onReady: onReady, onStderr: { line in logger.debug("\(line)") })
    }
}
