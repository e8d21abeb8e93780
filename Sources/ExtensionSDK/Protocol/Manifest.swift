/// The kinds of extension Gofer hosts.
public enum ExtensionKind: String, Sendable, Codable, CaseIterable {
    /// Starts runs when something happens (a timer, a webhook).
    case trigger
    /// A reusable task run by the host, such as posting a commit status.
    case task
    /// Runs task containers (Docker, Nomad).
    case scheduler
    /// Stores secrets (an encrypted file, Vault).
    case secrets
}

/// A protocol version, `MAJOR.MINOR`. Same major means compatible; a minor only adds features that
/// are also gated by a capability.
public struct ProtocolVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Incompatible changes raise it.
    public var major: Int
    /// Compatible additions raise it.
    public var minor: Int

    /// Version `major.minor`.
    public init(_ major: Int, _ minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// Parses `"1.0"`; `nil` for anything else (`"v1"`, `"1"`, `"1.0.0"`).
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]), major >= 0, minor >= 0,
            parts.allSatisfy({ $0.allSatisfy(\.isASCII) && !$0.hasPrefix("+") })
        else { return nil }
        self.init(major, minor)
    }

    /// `MAJOR.MINOR`.
    public var description: String { "\(major).\(minor)" }

    /// Orders by major, then minor.
    public static func < (a: ProtocolVersion, b: ProtocolVersion) -> Bool { (a.major, a.minor) < (b.major, b.minor) }

    /// The protocol versions this SDK speaks: the highest minor of each supported major.
    public static let supported: [ProtocolVersion] = [ProtocolVersion(1, 1)]

    /// Picks the version to speak: the highest common major, at the lower of the two minors.
    /// Returns `nil` when the sides share no major.
    public static func negotiate(offered: [ProtocolVersion], supported: [ProtocolVersion]) -> ProtocolVersion? {
        var best: ProtocolVersion?
        for mine in supported {
            guard let theirs = offered.filter({ $0.major == mine.major }).max() else { continue }
            let chosen = ProtocolVersion(mine.major, min(mine.minor, theirs.minor))
            if best.map({ chosen.major > $0.major }) ?? true { best = chosen }
        }
        return best
    }
}

/// What an extension is: printed by `--describe` and returned from `initialize`.
///
/// ```swift
/// static let manifest = Manifest(
///     name: "interval", version: "1.0.0", summary: "Starts runs on a fixed interval.",
///     params: .object(["every": .string(description: "e.g. 5m")], required: ["every"]))
/// ```
public struct Manifest: Sendable, Hashable {
    /// Short unique name, e.g. `interval`; lower-case letters, digits and dashes.
    public var name: String
    /// The extension's own semantic version, independent of the protocol version.
    public var version: String
    /// One line saying what it does.
    public var summary: String
    /// JSON Schema of the admin configuration given at install.
    public var config: JSONSchema
    /// JSON Schema of the per-use parameters a pipeline gives (trigger settings, task inputs).
    public var params: JSONSchema
    /// Optional features this extension offers, by name (`"external": {}` for a webhook trigger).
    public var capabilities: [String: JSONValue]

    /// A manifest: the extension's name and version, a one-line summary, its schemas and its capabilities.
    public init(
        name: String, version: String, summary: String, config: JSONSchema = .empty, params: JSONSchema = .empty,
        capabilities: [String: JSONValue] = [:]
    ) {
        self.name = name
        self.version = version
        self.summary = summary
        self.config = config
        self.params = params
        self.capabilities = capabilities
    }

    /// The manifest as JSON, for `--describe` and the `initialize` result.
    public func json(kind: ExtensionKind) -> JSONValue {
        [
            "name": .string(name), "kind": .string(kind.rawValue), "version": .string(version), "summary": .string(summary),
            "protocolVersions": .array(ProtocolVersion.supported.map { .string($0.description) }),
            "capabilities": .object(capabilities),
            "configSchema": config.json, "paramsSchema": params.json,
            "sdk": ["name": "gofer-swift-sdk", "version": .string(sdkVersion)],
        ]
    }
}

/// The version of this SDK.
public let sdkVersion = "0.1.0"
