import ExtensionClient
import ExtensionSDK

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
