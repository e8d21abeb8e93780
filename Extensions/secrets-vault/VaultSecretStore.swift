import ExtensionSDK
import Foundation

/// Secrets in HashiCorp Vault or OpenBao, KV version 2, under `<mount>/data/<prefix>/<key>`.
///
/// Auth by token or AppRole; the token is renewed at two thirds of its lease, and an AppRole
/// login is repeated when the token is refused. Writes are check-and-set against the version read
/// just before, so two writers never silently overwrite each other. Vault's three kinds of 404 are
/// told apart: no such secret, a deleted one, and a wrong mount or namespace (a configuration
/// error). A sealed or unreachable Vault is a retryable `unavailable` error.
@main
struct VaultSecretStore: SecretStore {
    static let manifest = Manifest(
        name: "vault-secrets", version: "0.1.0", summary: "Secrets in HashiCorp Vault / OpenBao (KV v2), token or AppRole auth.",
        config: .object(
            [
                "address": .string(description: "Vault's address, e.g. https://vault.example.com:8200.", pattern: "^https?://"),
                "token": .string(description: "A Vault token (or use roleId + secretId).", writeOnly: true),
                "roleId": .string(description: "AppRole role id."),
                "secretId": .string(description: "AppRole secret id.", writeOnly: true),
                "mount": .string(description: "KV v2 mount.", default: "secret"),
                "prefix": .string(description: "Path under the mount that Gofer owns.", default: "gofer"),
                "namespace": .string(description: "Vault namespace (X-Vault-Namespace)."),
                "caFile": .string(description: "PEM file of the CA that signed Vault's certificate (https); the system's CAs otherwise."),
                "timeout": .string(description: "Per-request timeout.", default: "10s"),
            ], required: ["address"]))

    struct Config: Decodable, Sendable {
        var address: String
        var token: String?
        var roleId: String?
        var secretId: String?
        var mount: String?
        var prefix: String?
        var namespace: String?
        var caFile: String?
        var timeout: String?
    }

    let vault: VaultClient

    init(config: Config, context: ExtensionContext) throws {
        let address = config.address.hasSuffix("/") ? String(config.address.dropLast()) : config.address
        guard address.hasPrefix("http://") || address.hasPrefix("https://"),
            !address.dropFirst(address.hasPrefix("https://") ? 8 : 7).contains("/"),
            let endpoint = HTTPEndpoint(address.hasPrefix("http://") && !Self.hasPort(address) ? address + ":80" : address, caFile: config.caFile)
        else {
            throw ProtocolError(
                .invalidConfig, "address \"\(config.address)\" is not a URL such as https://vault:8200 (scheme, host and optional port; no path)",
                diagnostics: [Diagnostic(path: "/config/admin/address", message: "not a URL")])
        }
        let auth: VaultClient.Auth
        if let role = config.roleId, let secret = config.secretId {
            auth = .appRole(roleID: role, secretID: secret)
        } else if let token = config.token, !token.isEmpty {
            auth = .token(token)
        } else {
            throw ProtocolError(
                .invalidConfig, "give token, or roleId and secretId (AppRole)",
                diagnostics: [Diagnostic(path: "/config/admin/token", message: "required without roleId and secretId")])
        }
        let timeout = config.timeout.flatMap(DurationText.parse) ?? .seconds(10)
        vault = VaultClient(
            address: address, http: SimpleHTTPClient(endpoint: endpoint), auth: auth, mount: Self.trimmed(config.mount ?? "secret"), prefix: Self.trimmed(config.prefix ?? "gofer"),
            namespace: config.namespace, timeout: timeout)
    }

    /// Whether `http://host:port` names a port (an IPv6 host's colons are inside brackets).
    static func hasPort(_ address: String) -> Bool {
        let authority = address.dropFirst(address.hasPrefix("https://") ? 8 : 7)
        let afterBracket = authority.lastIndex(of: "]").map { authority[$0...] } ?? authority
        return afterBracket.contains(":")
    }

    static func trimmed(_ s: String) -> String { s.trimmingCharacters(in: CharacterSet(charactersIn: "/")) }

    func health() async -> HealthReport { await vault.health() }
    func get(_ key: String) async throws -> [UInt8] { try await vault.read(key) }
    func put(_ key: String, value: [UInt8]) async throws { try await vault.write(key, value) }
    func delete(_ key: String) async throws { try await vault.remove(key) }
    func list(prefix: String) async throws -> [String] { try await vault.keys(prefix: prefix) }
}

/// A small Vault KV v2 client. An actor: it owns the current token and its renewal.
///
/// It speaks HTTP through the SDK's client, whose requests end as soon as the awaiting task is
/// cancelled (the socket is closed), so a `$/cancel` or a deadline is honoured at once even while
/// Vault is slow to answer.
actor VaultClient {
    enum Auth: Sendable {
        case token(String)
        case appRole(roleID: String, secretID: String)
    }

    /// Vault's address as configured, for messages.
    let address: String
    let http: SimpleHTTPClient
    let auth: Auth
    let mount: String
    let prefix: String
    let namespace: String?
    let timeout: Duration
    private var token: String?
    private var renewal: Task<Void, Never>?

    init(address: String, http: SimpleHTTPClient, auth: Auth, mount: String, prefix: String, namespace: String?, timeout: Duration) {
        self.address = address
        self.http = http
        self.auth = auth
        self.mount = mount
        self.prefix = prefix
        self.namespace = namespace
        self.timeout = timeout
        if case .token(let t) = auth { token = t }
    }

    struct Answer {
        var status: Int
        var body: JSONValue
        var errors: [String] { body["errors"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
    }

    // MARK: - HTTP

    static let segment: CharacterSet = {
        var s = CharacterSet.urlPathAllowed
        s.remove(charactersIn: "/?#")
        return s
    }()

    func path(_ kind: String, _ key: String) -> String {
        let encoded = ([prefix] + key.split(separator: "/", omittingEmptySubsequences: false).map(String.init))
            .filter { !$0.isEmpty }
            .map { $0.addingPercentEncoding(withAllowedCharacters: Self.segment) ?? $0 }
            .joined(separator: "/")
        return "/v1/\(mount)/\(kind)/\(encoded)"
    }

    func send(_ method: String, _ path: String, body: JSONValue? = nil, authenticated: Bool = true) async throws -> Answer {
        var headers: [String: String] = [:]
        if authenticated {
            if token == nil { try await login() }
            if let token { headers["X-Vault-Token"] = token }
        }
        if let namespace { headers["X-Vault-Namespace"] = namespace }
        if body != nil { headers["Content-Type"] = "application/json" }
        let response: HTTPResponse
        do {
            response = try await http.send(method, path: path, headers: headers, body: body.map { Array($0.description.utf8) }, timeout: timeout)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ProtocolError(.unavailable, "Vault at \(address) is unreachable", cause: error, retryable: true)
        }
        let status = response.status
        let data = response.body
        let json = data.isEmpty ? JSONValue.emptyObject : ((try? JSONParser().parse(data)) ?? .emptyObject)
        let answer = Answer(status: status, body: json)
        switch status {
        case 429, 473, 500...599:
            let why = answer.errors.joined(separator: "; ")
            throw ProtocolError(
                .unavailable,
                status == 503
                    ? "Vault is sealed or in maintenance (503\(why.isEmpty ? "" : ": \(why)")); retry once it is unsealed"
                    : "Vault answered \(status)\(why.isEmpty ? "" : ": \(why)")", retryable: true)
        default: return answer
        }
    }

    /// Sends a request; a refused token is renewed by logging in again (AppRole) once.
    func call(_ method: String, _ path: String, body: JSONValue? = nil) async throws -> Answer {
        var answer = try await send(method, path, body: body)
        if answer.status == 403, case .appRole = auth {
            token = nil
            answer = try await send(method, path, body: body)
        }
        if answer.status == 403 {
            throw ProtocolError(
                .permissionDenied,
                "Vault refused the request (\(answer.errors.joined(separator: "; ").trimmingCharacters(in: .whitespacesAndNewlines))): the token is expired or its policy does not allow \(method) on \(mount)/*/\(prefix)/*"
            )
        }
        return answer
    }

    // MARK: - Auth

    func login() async throws {
        guard case .appRole(let role, let secret) = auth else { return }
        let answer = try await send(
            "POST", "/v1/auth/approle/login", body: ["role_id": .string(role), "secret_id": .string(secret)], authenticated: false)
        guard answer.status == 200, let t = answer.body["auth"]?["client_token"]?.stringValue else {
            throw ProtocolError(
                .permissionDenied,
                "AppRole login failed (\(answer.status): \(answer.errors.joined(separator: "; "))); check roleId and secretId")
        }
        token = t
        scheduleRenewal(lease: answer.body["auth"]?["lease_duration"]?.intValue ?? 0, renewable: answer.body["auth"]?["renewable"] == true)
    }

    /// Renews the token at two thirds of its lease; if renewal fails, an AppRole logs in again.
    func scheduleRenewal(lease: Int64, renewable: Bool) {
        renewal?.cancel()
        guard lease > 0 else { return }
        renewal = Task { [weak self] in
            try? await Task.sleep(for: .seconds(max(1, lease * 2 / 3)))
            guard !Task.isCancelled, let self else { return }
            await self.renew(renewable: renewable)
        }
    }

    func renew(renewable: Bool) async {
        if renewable, let answer = try? await send("POST", "/v1/auth/token/renew-self", body: .emptyObject), answer.status == 200 {
            scheduleRenewal(
                lease: answer.body["auth"]?["lease_duration"]?.intValue ?? 0, renewable: answer.body["auth"]?["renewable"] == true)
            return
        }
        if case .appRole = auth {
            token = nil
            try? await login()
        }
    }

    /// For token auth: learn the token's lease once, to renew it in time.
    func startTokenRenewal() async {
        guard case .token = auth, renewal == nil,
            let answer = try? await send("GET", "/v1/auth/token/lookup-self"), answer.status == 200
        else { return }
        scheduleRenewal(lease: answer.body["data"]?["ttl"]?.intValue ?? 0, renewable: answer.body["data"]?["renewable"] == true)
    }

    // MARK: - KV v2

    /// Vault's 404 means three different things; only the first two are "no such secret".
    func notFound(_ answer: Answer, _ key: String) -> ProtocolError {
        if let metadata = answer.body["data"]?["metadata"], metadata != .null {
            let version = metadata["version"]?.intValue.map { " (version \($0))" } ?? ""
            return ProtocolError(.notFound, "secret \"\(key)\" was deleted in Vault\(version)")
        }
        if answer.errors.isEmpty { return ProtocolError(.notFound, "secret \"\(key)\" does not exist") }
        return ProtocolError(
            .failedPrecondition,
            "Vault: \(answer.errors.joined(separator: "; ")) — check the mount (\(mount)) is a KV v2 engine\(namespace.map { " in namespace \($0)" } ?? "")"
        )
    }

    func read(_ key: String) async throws -> [UInt8] {
        await startTokenRenewal()
        let answer = try await call("GET", path("data", key))
        if answer.status == 404 { throw notFound(answer, key) }
        guard answer.status == 200, let data = answer.body["data"]?["data"] else {
            throw ProtocolError(.unavailable, "unexpected answer from Vault reading \"\(key)\": \(answer.status)", retryable: true)
        }
        if let text = data["value"]?.stringValue { return Array(text.utf8) }
        if let b64 = data["value_b64"]?.stringValue, let bytes = Data(base64Encoded: b64) { return Array(bytes) }
        throw ProtocolError(.failedPrecondition, "Vault secret \"\(key)\" was not written by Gofer (no \"value\" field)")
    }

    func currentVersion(_ key: String) async throws -> Int64 {
        let answer = try await call("GET", path("metadata", key))
        if answer.status == 404 {
            if answer.errors.isEmpty { return 0 }
            throw notFound(answer, key)
        }
        return answer.body["data"]?["current_version"]?.intValue ?? 0
    }

    func write(_ key: String, _ value: [UInt8]) async throws {
        await startTokenRenewal()
        let data: JSONValue =
            String(validating: value, as: UTF8.self).map { ["value": .string($0)] }
            ?? ["value_b64": .string(Data(value).base64EncodedString())]
        for _ in 0..<5 {
            let version = try await currentVersion(key)
            let answer = try await call("POST", path("data", key), body: ["options": ["cas": .int(version)], "data": data])
            if answer.status == 200 || answer.status == 204 { return }
            if answer.status == 400, answer.errors.contains(where: { $0.contains("check-and-set") }) { continue }
            if answer.status == 404 { throw notFound(answer, key) }
            throw ProtocolError(
                answer.status == 413 ? .resourceExhausted : .invalidParams,
                "Vault refused the write of \"\(key)\" (\(answer.status)): \(answer.errors.joined(separator: "; "))")
        }
        throw ProtocolError(.conflict, "secret \"\(key)\" kept changing while being written; try again", retryable: true)
    }

    func remove(_ key: String) async throws {
        let answer = try await call("DELETE", path("metadata", key))
        if answer.status == 404 && !answer.errors.isEmpty { throw notFound(answer, key) }
    }

    func keys(prefix: String) async throws -> [String] {
        // Vault lists one level; walk down from the deepest folder the prefix names.
        let folder = prefix.contains("/") ? String(prefix[...(prefix.lastIndex(of: "/") ?? prefix.startIndex)]) : ""
        var out: [String] = []
        var pending = [folder]
        while let dir = pending.popLast(), out.count < 100_000 {
            let answer = try await call("GET", path("metadata", dir) + (dir.isEmpty ? "/" : "") + "?list=true")
            if answer.status == 404 {
                if answer.errors.isEmpty { continue }
                throw notFound(answer, dir)
            }
            for k in answer.body["data"]?["keys"]?.arrayValue?.compactMap(\.stringValue) ?? [] {
                let full = dir + k
                if k.hasSuffix("/") {
                    if full.hasPrefix(prefix) || prefix.hasPrefix(full) { pending.append(full) }
                } else if full.hasPrefix(prefix) {
                    out.append(full)
                }
            }
        }
        return out.sorted()
    }

    func health() async -> HealthReport {
        guard let answer = try? await send("GET", "/v1/sys/health", authenticated: false) else {
            return HealthReport(status: .unhealthy, detail: "Vault at \(address) is unreachable or sealed")
        }
        return answer.body["sealed"] == true
            ? HealthReport(status: .unhealthy, detail: "Vault is sealed") : HealthReport(status: .healthy)
    }
}
