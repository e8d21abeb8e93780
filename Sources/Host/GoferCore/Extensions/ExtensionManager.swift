import Crypto
import ExtensionClient
import ExtensionSDK
import Foundation
import GoferAPIModels
import GoferConfig
import GoferModel
import GoferStore
import Logging

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A refused install, upgrade or uninstall, saying why and how to go on.
public struct ExtensionError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case notFound, conflict, invalid, incompatible, failed }
    public var kind: Kind
    public var message: String
    public var details: [Diagnostic] = []
    /// What went wrong underneath (a download, a handshake, a process that would not start).
    public var cause: (any Error)? = nil
    public var description: String { ErrorText.wrapping(message, cause) }
}

extension ExtensionError: CausedError {}

/// Installs, upgrades and uninstalls extensions by name from registries, and knows every
/// installed one. Nothing is half-installed: an executable is fetched into a staging directory,
/// checked (SHA-256, `--describe`, protocol major, admin config, a handshake) and only then moved
/// into place and recorded.
public actor ExtensionManager {
    let store: any Store
    let dataDir: String
    /// Where bundled build products are (beside `gofer`).
    let productsDir: String
    /// Registries besides the bundled one (paths or URLs), from the server settings.
    let registryLocations: [String]
    /// Settings-derived admin config (`trigger_interval_min` → `minimumInterval`), applied where
    /// the installed config sets nothing.
    let configDefaults: @Sendable (String) -> [String: JSONValue]
    /// The host of each kind of extension (``ExtensionHost``).
    private var hosts: [ExtensionKind: any ExtensionHost]
    private let settingsChosen = SettingsChosenExtensions()
    private let logger = Logger(label: "gofer.extensions")

    /// Extensions' own objects (`objects/*` from any extension).
    let objects: Objects?

    package init(
        store: any Store, dataDir: String, productsDir: String, registries: [String],
        configDefaults: @escaping @Sendable (String) -> [String: JSONValue] = { _ in [:] }, objects: Objects? = nil
    ) {
        self.store = store
        self.objects = objects
        self.dataDir = dataDir
        self.productsDir = productsDir
        self.registryLocations = registries
        self.configDefaults = configDefaults
        hosts = [.scheduler: settingsChosen, .secrets: settingsChosen]
    }

    /// The hosts of triggers and common tasks, and the pipelines' lifecycle (created after the
    /// scheduler and store, which come from this manager).
    public func attach(triggers: Triggers, commonTasks: CommonTasks, pipelines: Pipelines) {
        hosts[.trigger] = triggers
        hosts[.task] = commonTasks
        attachedPipelines = pipelines
    }
    private var attachedPipelines: Pipelines?

    var pipelines: Pipelines {
        get throws {
            guard let attachedPipelines else { throw ExtensionError(kind: .failed, message: "the server is still starting") }
            return attachedPipelines
        }
    }

    /// The host that runs extensions of `kind`.
    func host(for kind: ExtensionKind) throws -> any ExtensionHost {
        guard let host = hosts[kind] else { throw ExtensionError(kind: .failed, message: "the server is still starting") }
        return host
    }

    /// Pipelines that use an installed extension (triggers and common tasks), as `namespace/pipeline`.
    func pipelinesUsing(_ e: InstalledExtension) async throws -> [PipelineRef] {
        try await host(for: e.kind).pipelinesUsing(e.name)
    }

    /// Lets `list` and `logs` see the extensions the server runs for its settings (scheduler, store).
    public func register(_ name: String, supervisor: @escaping @Sendable () async -> ExtensionSupervisor?) async {
        await settingsChosen.register(name, supervisor: supervisor)
    }

    // MARK: - Registries

    func registries() async throws -> [RegistryIndex] {
        var out = [RegistryIndex.bundled]
        for location in registryLocations {
            let bytes: [UInt8]
            if location.hasPrefix("https://") || location.hasPrefix("http://") {
                guard let url = URL(string: location) else {
                    throw ExtensionError(kind: .invalid, message: "registry \(location) is not a URL")
                }
                bytes = try await Self.download(url, limit: 16 << 20)
            } else {
                guard let data = FileManager.default.contents(atPath: location) else {
                    throw ExtensionError(kind: .invalid, message: "cannot read registry \(location); check the registries setting")
                }
                bytes = Array(data)
            }
            do {
                out.append(try RegistryIndex.parse(bytes, origin: location))
            } catch {
                throw ExtensionError(kind: .invalid, message: "", cause: error)
            }
        }
        return out
    }

    /// The registry entry and version to install for `name@request`, newest first among those
    /// whose protocol major this host speaks.
    func resolve(_ name: String, _ request: VersionRequest) async throws -> (RegistryIndex, RegistryIndex.Entry, RegistryIndex.Version) {
        try resolve(name, request, in: try await registries())
    }

    /// ``resolve(_:_:)`` in registries already read (one fetch for several questions).
    func resolve(_ name: String, _ request: VersionRequest, in indexes: [RegistryIndex]) throws -> (
        RegistryIndex, RegistryIndex.Entry, RegistryIndex.Version
    ) {
        guard let (index, entry) = indexes.lazy.compactMap({ i in i.extensions.first { $0.name == name }.map { (i, $0) } }).first else {
            throw ExtensionError(
                kind: .notFound,
                message: "no registry lists an extension named \"\(name)\" (registries: \(indexes.map(\.origin).joined(separator: ", ")))")
        }
        let listed = entry.versions.map(\.version.description).joined(separator: ", ")
        var candidates = entry.versions
        switch request {
        case .latest: break
        case .exact(let v):
            candidates = candidates.filter { $0.version == v }
            if candidates.isEmpty { throw ExtensionError(kind: .notFound, message: "\(name) has no version \(v) (versions: \(listed))") }
        case .major(let m):
            candidates = candidates.filter { $0.version.major == m }
            if candidates.isEmpty { throw ExtensionError(kind: .notFound, message: "\(name) has no version ^\(m) (versions: \(listed))") }
        }
        let majors = Set(ProtocolVersion.supported.map(\.major))
        guard let chosen = candidates.first(where: { $0.protocolVersions.contains { majors.contains($0.major) } }) else {
            let speaks = candidates.first?.protocolVersions.map(\.description).joined(separator: ", ") ?? "?"
            throw ExtensionError(
                kind: .incompatible,
                message:
                    "\(name) \(candidates.first?.version.description ?? "") speaks protocol \(speaks); this Gofer speaks \(ProtocolVersion.supported.map(\.description).joined(separator: ", ")). Pick a version that speaks \(majors.sorted().map { "\($0).x" }.joined(separator: " or ")) (versions: \(listed)), or upgrade Gofer"
            )
        }
        return (index, entry, chosen)
    }

    // MARK: - Fetch and check

    static func download(_ url: URL, limit: Int) async throws -> [UInt8] {
        let (data, response): (Data, URLResponse)
        do {
            (data, response) = try await URLSession.shared.data(from: url)
        } catch {
            throw ExtensionError(kind: .failed, message: "cannot download \(url.absoluteString)", cause: error)
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard status == 200 else {
            throw ExtensionError(kind: .failed, message: "downloading \(url.absoluteString) answered HTTP \(status)")
        }
        guard data.count <= limit else {
            throw ExtensionError(kind: .failed, message: "\(url.absoluteString) is larger than \(limit) bytes")
        }
        return Array(data)
    }

    static func sha256(_ bytes: [UInt8]) -> String { SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined() }

    /// Puts the chosen version's executable in a fresh staging directory, checked against its
    /// SHA-256. Returns the staged path and the hash.
    func stage(_ index: RegistryIndex, _ entry: RegistryIndex.Entry, _ version: RegistryIndex.Version) async throws -> (
        path: String, sha256: String?, bundled: String?
    ) {
        let bytes: [UInt8]
        let base: String
        switch version.source {
        case .buildProduct(let product):
            let path = productsDir + "/" + product
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw ExtensionError(
                    kind: .failed, message: "\(entry.name) is a build product (\(product)) but \(path) does not exist; build it")
            }
            if version.sha256 == nil { return (path, nil, product) }
            bytes = Array(FileManager.default.contents(atPath: path) ?? Data())
            base = product
        case .path(let p):
            let resolved =
                p.hasPrefix("/") ? p : ((index.origin as NSString).deletingLastPathComponent as NSString).appendingPathComponent(p)
            guard let data = FileManager.default.contents(atPath: resolved) else {
                throw ExtensionError(
                    kind: .failed, message: "cannot read \(resolved) (\(entry.name) \(version.version) in \(index.origin))")
            }
            bytes = Array(data)
            base = (p as NSString).lastPathComponent
        case .url(let url):
            bytes = try await Self.download(url, limit: 512 << 20)
            base = url.lastPathComponent.isEmpty ? entry.name : url.lastPathComponent
        }
        let actual = Self.sha256(bytes)
        if let expected = version.sha256, actual != expected {
            throw ExtensionError(
                kind: .invalid,
                message:
                    "checksum mismatch for \(entry.name) \(version.version) from \(version.source): the registry says sha256 \(expected), the file is \(actual). Nothing was installed"
            )
        }
        let dir = dataDir + "/extensions/.staging/" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/" + base
        // O_CLOEXEC: a child forked meanwhile must not keep it open for writing, or running it
        // fails with "Text file busy".
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o755)
        guard fd >= 0 else { throw ExtensionError(kind: .failed, message: "cannot write \(path): \(String(cString: strerror(errno)))") }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == bytes.count, synced == 0 else { throw ExtensionError(kind: .failed, message: "cannot write \(path)") }
        return (path, actual, nil)
    }

    /// `--describe`, then a handshake with the admin config: proves it is an extension of the
    /// expected kind and version that accepts its configuration. `configStrings` (`KEY=VALUE`)
    /// are typed by the described schema and merged into `config`; returns the typed config.
    func check(
        path: String, entry: RegistryIndex.Entry, version: RegistryIndex.Version, config given: JSONValue,
        configStrings: [String: String] = [:], handshake: Bool, validateConfig: Bool = true
    ) async throws -> JSONValue {
        let described = try await Self.describe(path, "\(entry.name) \(version.version)")
        guard described.status == .exited(0), let manifest = try? JSONParser().parse(described.stdout), manifest["name"] != nil else {
            let said = String(decoding: (described.stdout + described.stderr).prefix(200), as: UTF8.self)
            throw ExtensionError(
                kind: .invalid,
                message:
                    "\(path) is not a Gofer extension: `--describe` \(described.status == .exited(0) ? "printed" : "exited \(described.status) with") \(said.debugDescription)"
            )
        }
        guard manifest["kind"]?.stringValue == entry.kind.rawValue else {
            throw ExtensionError(
                kind: .invalid,
                message:
                    "the registry lists \(entry.name) as a \(entry.kind.rawValue), but the executable says \(manifest["kind"]?.stringValue ?? "nothing")"
            )
        }
        guard manifest["name"]?.stringValue == entry.name else {
            throw ExtensionError(
                kind: .invalid,
                message:
                    "the registry lists this extension as \(entry.name), but the executable calls itself \(manifest["name"]?.stringValue ?? "nothing") "
                    + "(its --describe name); the registry entry must use the extension's own name"
            )
        }
        guard manifest["version"]?.stringValue == version.version.description else {
            throw ExtensionError(
                kind: .invalid,
                message:
                    "the registry says \(entry.name) \(version.version), but the executable reports version \(manifest["version"]?.stringValue ?? "none")"
            )
        }
        let majors = Set(ProtocolVersion.supported.map(\.major))
        let speaks = (manifest["protocolVersions"]?.arrayValue ?? []).compactMap { $0.stringValue.flatMap(ProtocolVersion.init) }
        guard speaks.contains(where: { majors.contains($0.major) }) else {
            throw ExtensionError(
                kind: .incompatible,
                message:
                    "\(entry.name) \(version.version) speaks protocol \(speaks.map(\.description).joined(separator: ", ")); this Gofer speaks \(ProtocolVersion.supported.map(\.description).joined(separator: ", "))"
            )
        }
        let config = try Self.typedConfig(given, strings: configStrings, schema: manifest["configSchema"])
        let schema = JSONSchema(manifest["configSchema"] ?? .emptyObject)
        // With the settings layer under it: a required key the server settings provide is set.
        let problems = validateConfig ? schema.validate(withDefaults(entry.name, config), basePath: "/config") : []
        if !problems.isEmpty {
            throw ExtensionError(
                kind: .invalid, message: "invalid configuration for \(entry.name): \(problems.map(\.description).joined(separator: "; "))",
                details: problems)
        }
        guard handshake else { return config }
        let state = try stateDirectory(entry.name)
        let connection: ExtensionConnection
        do {
            connection = try ExtensionConnection.spawn(ExtensionLaunch(executable: path))
        } catch {
            throw ExtensionError(kind: .invalid, message: "\(entry.name) cannot be started", cause: error)
        }
        do {
            _ = try await connection.initialize(
                InitializeOptions(
                    kind: entry.kind, adminConfig: withDefaults(entry.name, config), stateDirectory: state, timeout: .seconds(10)))
        } catch {
            connection.kill()
            _ = await connection.process.waitForExit(timeout: .seconds(2))
            let tail = connection.stderrTail.split(separator: "\n").suffix(3).joined(separator: "\n")
            let why =
                (error as? ProtocolError).map {
                    $0.message + ($0.diagnostics.isEmpty ? "" : " (\($0.diagnostics.map(\.description).joined(separator: "; ")))")
                } ?? ErrorText.describe(error)
            throw ExtensionError(
                kind: .invalid, message: "\(entry.name) \(version.version) failed its handshake: \(why)" + (tail.isEmpty ? "" : "\n\(tail)")
            )
        }
        _ = await connection.shutdown(deadline: .seconds(5))
        return config
    }

    /// Runs `--describe`.
    static func describe(_ path: String, _ what: String) async throws -> ChildProcess.Completed {
        do {
            return try await ChildProcess.run(path, arguments: ["--describe"], timeout: .seconds(10))
        } catch {
            throw ExtensionError(kind: .invalid, message: "\(what) cannot be run", cause: error)
        }
    }

    func stateDirectory(_ name: String) throws -> String {
        let dir = dataDir + "/extensions/" + name
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func withDefaults(_ name: String, _ config: JSONValue) -> JSONValue {
        var merged = configDefaults(name)
        for (k, v) in config.objectValue ?? [:] { merged[k] = v }
        return .object(merged)
    }

    /// Turns `KEY=VALUE` strings into the types the extension's config schema asks for.
    static func typedConfig(_ given: JSONValue, strings: [String: String], schema: JSONValue?) throws -> JSONValue {
        var out = given.objectValue ?? [:]
        for (key, text) in strings {
            switch schema?["properties"]?[key]?["type"]?.stringValue {
            case "integer":
                guard let n = Int64(text) else {
                    throw ExtensionError(kind: .invalid, message: "config \(key): \"\(text)\" is not a whole number")
                }
                out[key] = .int(n)
            case "number":
                guard let d = Double(text) else {
                    throw ExtensionError(kind: .invalid, message: "config \(key): \"\(text)\" is not a number")
                }
                out[key] = .double(d)
            case "boolean":
                guard let b = Bool(text.lowercased()) else {
                    throw ExtensionError(kind: .invalid, message: "config \(key): use true or false")
                }
                out[key] = .bool(b)
            default: out[key] = .string(text)
            }
        }
        return .object(out)
    }

    /// Moves a staged executable to `extensions/installed/NAME/VERSION/`.
    func place(_ staged: String, name: String, version: String) throws -> String {
        let dir = dataDir + "/extensions/installed/\(name)/\(version)"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let target = dir + "/" + (staged as NSString).lastPathComponent
        try FileManager.default.moveItem(atPath: staged, toPath: target)
        try? FileManager.default.removeItem(atPath: (staged as NSString).deletingLastPathComponent)
        return target
    }

    func executablePath(_ e: InstalledExtension) -> String {
        e.executable.path(productsDirectory: productsDir)
    }

    /// How to run an installed extension.
    public func spec(_ e: InstalledExtension) throws -> ExtensionSpec {
        ExtensionSpec(
            name: e.name, launch: ExtensionLaunch(executable: executablePath(e)), adminConfig: withDefaults(e.name, e.config),
            stateDirectory: try stateDirectory(e.name), hostRequests: objects.map { ExtensionObjectRequests(objects: $0, extension: e.name) })
    }

    // MARK: - Install

    /// Installs `name` (a `name@version` request) with admin `config`, and starts it if it is a trigger.
    @discardableResult
    public func install(
        _ name: String, _ request: VersionRequest, config: JSONValue = .emptyObject, configStrings: [String: String] = [:],
        by: Principal = .system
    ) async throws -> InstalledExtension
    {
        // Resolved first: a version that does not exist is that, installed or not.
        let (index, entry, version) = try await resolve(name, request)
        if let existing = try await store.installedExtension(name) {
            throw ExtensionError(
                kind: .conflict, message: "\(name) \(existing.version) is already installed; use `gofer extension upgrade \(name)`")
        }
        let staged = try await stage(index, entry, version)
        var ok = false
        var placed: String?
        defer {
            // Nothing half-installed: the staged or placed executable goes with any failure.
            if !ok && staged.bundled == nil {
                try? FileManager.default.removeItem(atPath: (staged.path as NSString).deletingLastPathComponent)
                if let placed { try? FileManager.default.removeItem(atPath: (placed as NSString).deletingLastPathComponent) }
            }
        }
        let typed = try await check(
            path: staged.path, entry: entry, version: version, config: config, configStrings: configStrings, handshake: true)
        if staged.bundled == nil { placed = try place(staged.path, name: name, version: version.version.description) }
        let executable = placed.map { ExtensionExecutable.installed(path: $0) } ?? .bundled(product: staged.bundled ?? name)
        let now = Date()
        let installed = InstalledExtension(
            name: name, kind: entry.kind, version: version.version.description, registry: index.origin,
            source: version.source.description, executable: executable, sha256: staged.sha256, config: typed, installedAt: now,
            updatedAt: now)
        try await store.saveExtension(installed, replacing: false, by: by)
        // Pipelines disabled when it was uninstalled no longer miss it (they stay disabled until enabled).
        try? await store.clearPipelineErrors(source: "extension:\(name)")
        do {
            try await host(for: entry.kind).add(try spec(installed))
        } catch {
            try? await store.removeExtension(name)
            throw ExtensionError(
                kind: .failed, message: ErrorText.wrapping("\(name) was checked but did not start", error) + "; nothing was installed", cause: error)
        }
        ok = true
        logger.info("installed \(name) \(version.version) from \(index.origin)")
        return installed
    }

    /// First start: installs the registry's bundled defaults and `extra` (names), without a
    /// handshake (they are started right after, which is one).
    public func installDefaults(extra: [String]) async throws {
        if try await store.meta(.defaultsInstalled) != nil {
            return
        }
        let bundled = RegistryIndex.bundled
        let shipped = Set(bundled.extensions.map(\.name))
        if let other = extra.first(where: { !shipped.contains($0) }) {
            throw ExtensionError(
                kind: .notFound,
                message:
                    "first_start_extensions: \"\(other)\" is not shipped with gofer; this setting installs only bundled extensions (\(shipped.sorted().joined(separator: ", "))). Install others from a registry with `gofer extension install \(other)` once the server runs"
            )
        }
        let names = bundled.extensions.filter(\.bundledDefault).map(\.name) + extra
        for name in names where try await store.installedExtension(name) == nil {
            try await installBundled(name)
        }
        try await store.setMeta(.defaultsInstalled, ISO8601DateFormatter().string(from: Date()))
    }

    /// The extension a server setting names (`scheduler`, `secret_store`): installed; or bundled,
    /// or listed by a configured registry, and installed now (its newest version, checked as
    /// `gofer extension install` checks it) — so selecting a registry's extension takes one start.
    /// It must be of `kind`.
    public func selected(_ name: String, kind: ExtensionKind, setting: String) async throws -> InstalledExtension {
        let installed = try await store.installedExtensions()
        let candidates = installed.filter { $0.kind == kind }.map(\.name).sorted().joined(separator: ", ")
        let e: InstalledExtension
        if let existing = installed.first(where: { $0.name == name }) {
            e = existing
        } else if RegistryIndex.bundled.extensions.contains(where: { $0.name == name }) {
            e = try await ensureBundled(name)
        } else {
            let indexes = try await registries()
            guard let entry = indexes.lazy.flatMap(\.extensions).first(where: { $0.name == name }) else {
                throw ExtensionError(
                    kind: .notFound,
                    message:
                        "\(setting) \"\(name)\" is not installed, not bundled and not listed by a configured registry "
                        + "(installed \(kind.rawValue) extensions: \(candidates.isEmpty ? "none" : candidates); registries: "
                        + "\(indexes.map(\.origin).joined(separator: ", "))); add the registry that offers it to `registries`, or pick an installed one"
                )
            }
            guard entry.kind == kind else {
                throw ExtensionError(
                    kind: .invalid, message: "\(setting) \"\(name)\" is a \(entry.kind.rawValue) extension in its registry, not a \(kind.rawValue)")
            }
            logger.info("\(setting) \(name) is not installed: installing it from the registries")
            do {
                e = try await install(name, .latest)
            } catch {
                throw ExtensionError(
                    kind: .failed, message: "\(setting) \"\(name)\" could not be installed from its registry", cause: error)
            }
        }
        guard e.kind == kind else {
            throw ExtensionError(
                kind: .invalid,
                message: "\(setting) \"\(name)\" is a \(e.kind.rawValue) extension, not a \(kind.rawValue) (installed: \(candidates.isEmpty ? "none" : candidates))")
        }
        return e
    }

    /// Installs a bundled extension the server's settings need (the scheduler, the secret store)
    /// if it is not installed yet.
    public func ensureBundled(_ name: String) async throws -> InstalledExtension {
        if let e = try await store.installedExtension(name) { return e }
        return try await installBundled(name)
    }

    @discardableResult
    func installBundled(_ name: String) async throws -> InstalledExtension {
        guard let entry = RegistryIndex.bundled.extensions.first(where: { $0.name == name }), let version = entry.versions.first,
            case .buildProduct(let product) = version.source
        else { throw ExtensionError(kind: .notFound, message: "\(name) is not a bundled extension") }
        // Its configuration comes from the server settings when it is used; not checked here.
        _ = try await check(
            path: productsDir + "/" + product, entry: entry, version: version, config: .emptyObject, handshake: false, validateConfig: false
        )
        let now = Date()
        let e = InstalledExtension(
            name: name, kind: entry.kind, version: version.version.description, registry: "bundled",
            source: version.source.description,
            executable: .bundled(product: product), sha256: nil, config: .emptyObject, installedAt: now, updatedAt: now)
        try await store.saveExtension(e, replacing: false)
        return e
    }

    // MARK: - Upgrade

    public struct UpgradeResult: Codable, Sendable {
        public var name: String
        public var from: String
        public var to: String
        /// False for a scheduler or secret store: the new version runs after the next server start.
        public var live: Bool
        /// False when it was already at that version (nothing changed).
        public var upgraded: Bool = true
        /// A newer version with another major that was not taken (it needs `--allow-major`).
        public var newerMajor: String?
    }

    /// Upgrades in place: the new version is fetched and checked like an install, then (triggers)
    /// started and handed every subscription before the old one stops. Any failure leaves the
    /// old version running and recorded.
    public func upgrade(_ name: String, _ request: VersionRequest, allowMajor: Bool, by: Principal = .system) async throws -> UpgradeResult {
        guard let current = try await store.installedExtension(name) else {
            throw ExtensionError(kind: .notFound, message: "\(name) is not installed; use `gofer extension install \(name)`")
        }
        guard let from = SemVer(current.version) else {
            throw ExtensionError(kind: .invalid, message: "installed version \(current.version) is not semver")
        }
        // "Latest" without --allow-major means the newest with the installed major (as
        // docs/registry.md says); a newer major is mentioned, not taken.
        var request = request
        var newerMajor: SemVer?
        let indexes = try await registries()
        if request == .latest && !allowMajor {
            let (_, _, newest) = try resolve(name, .latest, in: indexes)
            if newest.version.major != from.major {
                newerMajor = newest.version
                request = .major(from.major)
            }
        }
        let unchanged = UpgradeResult(
            name: name, from: current.version, to: current.version, live: false, upgraded: false, newerMajor: newerMajor?.description)
        let resolved: (RegistryIndex, RegistryIndex.Entry, RegistryIndex.Version)
        do {
            resolved = try resolve(name, request, in: indexes)
        } catch let error as ExtensionError where newerMajor != nil && error.kind == .notFound {
            return unchanged  // the registry no longer lists the installed major: only the newer one
        }
        let (index, entry, version) = resolved
        if version.version == from || (newerMajor != nil && version.version < from) { return unchanged }
        if version.version.major != from.major && !allowMajor {
            throw ExtensionError(
                kind: .conflict,
                message:
                    "\(name) \(from) → \(version.version) changes the major version (possibly breaking settings); pass --allow-major to do it"
            )
        }
        let staged = try await stage(index, entry, version)
        var ok = false
        defer {
            if !ok && staged.bundled == nil {
                try? FileManager.default.removeItem(atPath: (staged.path as NSString).deletingLastPathComponent)
            }
        }
        _ = try await check(path: staged.path, entry: entry, version: version, config: current.config, handshake: true)
        let executable: ExtensionExecutable =
            try staged.bundled.map { .bundled(product: $0) } ?? .installed(path: place(staged.path, name: name, version: version.version.description))
        var next = current
        next.version = version.version.description
        next.registry = index.origin
        next.source = version.source.description
        next.executable = executable
        next.sha256 = staged.sha256
        next.updatedAt = Date()
        ok = true
        let live: Bool
        do {
            live = try await host(for: entry.kind).replace(try spec(next))
        } catch {
            throw ExtensionError(
                kind: .failed, message: ErrorText.wrapping("\(name) \(version.version) did not start", error) + "; \(current.version) keeps running",
                cause: error)
        }
        try await store.saveExtension(next, replacing: true, by: by)
        if current.executable != executable, case .installed(let old) = current.executable {
            try? FileManager.default.removeItem(atPath: (old as NSString).deletingLastPathComponent)
        }
        return UpgradeResult(name: name, from: current.version, to: version.version.description, live: live, newerMajor: newerMajor?.description)
    }

    // MARK: - Uninstall

    /// Uninstalls `name`. If pipelines use it, only with `confirmed` are they disabled (each with
    /// a pipeline error saying why) and the extension removed; unconfirmed, nothing changes and
    /// the result lists them.
    public func uninstall(_ name: String, confirmed: Bool, by: Principal = .system) async throws -> UninstallResult {
        guard let e = try await store.installedExtension(name) else {
            throw ExtensionError(kind: .notFound, message: "\(name) is not installed")
        }
        if await settingsChosen.isChosenBySettings(name) {
            throw ExtensionError(
                kind: .conflict,
                message:
                    "\(name) is this server's \(e.kind == .scheduler ? "scheduler" : "secret store") (server settings); switch to another one first"
            )
        }
        let users = try await pipelinesUsing(e)
        if !confirmed && !users.isEmpty { return UninstallResult(name: name, pipelines: users, removed: false) }
        for p in users {
            _ = try? await (try pipelines).setEnabled(namespace: p.namespace, pipeline: p.pipeline, false)
            try? await store.setPipelineError(
                namespace: p.namespace, pipeline: p.pipeline, source: "extension:\(name)", kind: "extension_uninstalled",
                message:
                    "extension \(name) was uninstalled; the pipeline was disabled. Install it again or remove it from the config, then enable the pipeline"
            )
        }
        await (try host(for: e.kind)).remove(name)
        try await store.removeExtension(name, by: by)
        if case .installed = e.executable {
            try? FileManager.default.removeItem(atPath: dataDir + "/extensions/installed/\(name)")
        }
        return UninstallResult(name: name, pipelines: users, removed: true)
    }

    // MARK: - Reading

    func supervisor(_ name: String) async -> ExtensionSupervisor? {
        for host in hosts.values { if let s = await host.runningSupervisor(name) { return s } }
        return nil
    }

    public func list() async throws -> [ExtensionInfo] {
        var out: [ExtensionInfo] = []
        let subs = try await store.allSubscriptions()
        for e in try await store.installedExtensions() { out.append(await info(e, subscriptions: subs)) }
        return out
    }

    public func get(_ name: String) async throws -> ExtensionInfo {
        guard let e = try await store.installedExtension(name) else {
            throw ExtensionError(kind: .notFound, message: "\(name) is not installed")
        }
        return await info(e, subscriptions: try await store.allSubscriptions())
    }

    func info(_ e: InstalledExtension, subscriptions: [TriggerSubscription]) async -> ExtensionInfo {
        let s = await supervisor(e.name)
        let status = await s?.status.description ?? "not started (not used by this server's settings)"
        let schema = await s?.handshake?.configSchema.json
        var health: String?
        if let s, case .running = await s.status, let answer = try? await s.call(ProtocolMethod.health.rawValue, timeout: .seconds(2)) {
            health = (answer["status"]?.stringValue ?? "unknown") + (answer["detail"]?.stringValue.map { ": \($0)" } ?? "")
        }
        return ExtensionInfo(
            name: e.name, kind: e.kind, version: e.version, registry: e.registry, source: e.source, status: status, health: health,
            startedAt: await s?.startedAt, restarts: await s?.restarts ?? 0,
            subscriptions: e.kind == .trigger ? subscriptions.filter { $0.trigger == e.name && $0.state == .active }.count : nil,
            config: e.redactedConfig(schema: schema), installedAt: e.installedAt, updatedAt: e.updatedAt,
            quarantined: await s?.quarantinedKeys ?? [])
    }

    /// Stops and starts an extension this server runs (`gofer extension restart`): the way back
    /// for one marked failed after a crash loop; its crash history and quarantined requests are
    /// forgotten. Triggers re-subscribe and the scheduler's running jobs are found again.
    public func restart(_ name: String, by: Principal) async throws -> ExtensionInfo {
        guard let e = try await store.installedExtension(name) else {
            throw ExtensionError(kind: .notFound, message: "\(name) is not installed")
        }
        guard let s = await supervisor(name) else {
            throw ExtensionError(
                kind: .conflict,
                message: "\(name) is installed but this server does not run it (not selected by its settings and used by no pipeline); nothing to restart")
        }
        do {
            _ = try await s.restart()
        } catch {
            throw ExtensionError(kind: .failed, message: ErrorText.wrapping("\(name) did not start again", error) + ". Its log: gofer extension logs \(name)", cause: error)
        }
        logger.notice("extension \(name) restarted by \(by)")
        return await info(e, subscriptions: try await store.allSubscriptions())
    }

    /// The extension's recent stderr (its log), at most 64 KiB.
    public func logs(_ name: String) async throws -> String {
        guard try await store.installedExtension(name) != nil else {
            throw ExtensionError(kind: .notFound, message: "\(name) is not installed")
        }
        return await supervisor(name)?.stderrTail ?? ""
    }
}
