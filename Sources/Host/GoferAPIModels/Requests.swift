import ExtensionSDK
import Foundation
import GoferModel

/// A request body of the REST API, declared once: the server decodes it (refusing members not in
/// ``fields``) and the CLI encodes it. Members are snake_case on the wire (`expires_in`), by their
/// coding keys — never by a key strategy, which would also rename the keys inside free-form members
/// such as an extension's config.
public protocol APIRequest: Codable, Sendable {
    /// Its members as sent: every one the server accepts.
    associatedtype CodingKeys: CodingKey & CaseIterable & RawRepresentable where CodingKeys.RawValue == String
}

extension APIRequest {
    /// The members it accepts, as sent; the server refuses any other.
    public static var fields: [String] { CodingKeys.allCases.map(\.rawValue) }
}

/// `POST /api/tokens`.
public struct CreateTokenRequest: APIRequest {
    public var name: String
    public var roles: [String]
    /// Namespace patterns the token is limited to; default every namespace.
    public var namespaces: [String]?
    /// `90d`, `12h`; default never.
    public var expiresIn: String?

    public enum CodingKeys: String, CodingKey, CaseIterable { case name, roles, namespaces, expiresIn = "expires_in" }

    public init(name: String, roles: [String], namespaces: [String]? = nil, expiresIn: String? = nil) {
        self.name = name
        self.roles = roles
        self.namespaces = namespaces
        self.expiresIn = expiresIn
    }
}

/// `POST /api/roles`.
public struct CreateRoleRequest: APIRequest {
    public var id: String
    public var description: String?
    public var grants: [Grant]

    public enum CodingKeys: String, CodingKey, CaseIterable { case id, description, grants }

    public init(id: String, description: String? = nil, grants: [Grant]) {
        self.id = id
        self.description = description
        self.grants = grants
    }
}

/// `POST /api/namespaces/{ns}/pipelines`.
public struct ApplyPipelineRequest: APIRequest {
    /// The config text (YAML, JSON or TOML).
    public var config: String
    /// `yaml`, `json` or `toml`; default: from `file`, else YAML.
    public var format: String?
    /// Named in error messages.
    public var file: String?
    /// Start a canary rollout of the new version instead of making it live (``RolloutStrategy``).
    public var rollout: JSONValue?

    public enum CodingKeys: String, CodingKey, CaseIterable { case config, format, file, rollout }

    public init(config: String, format: String? = nil, file: String? = nil, rollout: JSONValue? = nil) {
        self.config = config
        self.format = format
        self.file = file
        self.rollout = rollout
    }
}

/// `POST /api/namespaces`.
public struct CreateNamespaceRequest: APIRequest {
    public var id: String
    public var name: String?
    public var description: String?

    public enum CodingKeys: String, CodingKey, CaseIterable { case id, name, description }

    public init(id: String, name: String? = nil, description: String? = nil) {
        self.id = id
        self.name = name
        self.description = description
    }
}

/// `POST …/rollback`.
public struct RollbackRequest: APIRequest {
    /// The version to make live again; default: the one live before the live one.
    public var to: Int?

    public enum CodingKeys: String, CodingKey, CaseIterable { case to }

    public init(to: Int? = nil) { self.to = to }
}

/// `POST …/runs`. Who started the run is the caller's token, never a field of the body.
public struct StartRunRequest: APIRequest {
    /// Given to every task as environment variables.
    public var variables: [String: String]?
    /// Run this version instead of the live one.
    public var version: Int?

    public enum CodingKeys: String, CodingKey, CaseIterable { case variables, version }

    public init(variables: [String: String]? = nil, version: Int? = nil) {
        self.variables = variables
        self.version = version
    }
}

/// `POST …/runs/{run}/rerun`.
public struct RerunRequest: APIRequest {
    /// Rerun only the failed and cancelled tasks and what depends on them; the rest keep their results.
    public var failedOnly: Bool?

    public enum CodingKeys: String, CodingKey, CaseIterable { case failedOnly = "failed_only" }

    public init(failedOnly: Bool? = nil) { self.failedOnly = failedOnly }
}

/// `POST …/cancel` of a run or a task.
public struct CancelRequest: APIRequest {
    /// Recorded with the cancellation ("cancelled by alice (tok_…): wrong branch").
    public var reason: String?

    public enum CodingKeys: String, CodingKey, CaseIterable { case reason }

    public init(reason: String? = nil) { self.reason = reason }
}

/// `PUT …/secrets/{secret}`: `value` (text) or `value_b64` (any bytes); global secrets also take
/// the namespace patterns that may use them.
public struct PutSecretRequest: APIRequest {
    public var value: String?
    public var valueB64: String?
    public var namespaces: [String]?

    public enum CodingKeys: String, CodingKey, CaseIterable { case value, valueB64 = "value_b64", namespaces }

    /// `bytes` as text when they are UTF-8, else as base64 (the protocol's ``SecretValue`` rule).
    public init(bytes: [UInt8], namespaces: [String]? = nil) {
        let encoded = SecretValue(bytes: bytes)
        value = encoded.value
        valueB64 = encoded.valueB64
        self.namespaces = namespaces
    }
}

/// `POST /api/extensions`.
public struct InstallExtensionRequest: APIRequest {
    /// `NAME`, `NAME@1.2.3` or `NAME@^1`.
    public var name: String
    /// Admin configuration, typed.
    public var config: JSONValue?
    /// Admin configuration as `KEY=VALUE` strings (the CLI's `--config`), typed by the extension's schema.
    public var configStrings: [String: JSONValue]?

    public enum CodingKeys: String, CodingKey, CaseIterable { case name, config, configStrings = "config_strings" }

    public init(name: String, config: JSONValue? = nil, configStrings: [String: JSONValue]? = nil) {
        self.name = name
        self.config = config
        self.configStrings = configStrings
    }
}

/// `POST /api/extensions/{extension}/upgrade`.
public struct UpgradeExtensionRequest: APIRequest {
    public var version: String?
    public var allowMajor: Bool?

    public enum CodingKeys: String, CodingKey, CaseIterable { case version, allowMajor = "allow_major" }

    public init(version: String? = nil, allowMajor: Bool? = nil) {
        self.version = version
        self.allowMajor = allowMajor
    }
}
