import ExtensionClient
import ExtensionSDK
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import NIOCore
import Synchronization

/// The version of this Gofer build.
public let goferVersion = "0.1.0"

/// A running Gofer server: store, scheduler extension, run engine and API.
public final class GoferServer: Sendable {
    public let settings: ServerSettings
    public let store: Store
    public let engine: RunEngine
    public let bus: EventBus
    public let supervisor: ExtensionSupervisor
    public let triggers: Triggers
    public let secrets: Secrets
    public let extensions: ExtensionManager
    public let api: GoferAPI
    private let boundPort = Mutex<Int?>(nil)
    private let serviceTask = Mutex<Task<Void, any Error>?>(nil)
    private let group = Mutex<ServiceGroup?>(nil)

    /// Prepares the data directory, opens the store and starts the scheduler extension.
    public init(settings: ServerSettings, extensionPolicy: ExtensionSupervisor.Policy = .init()) async throws {
        try settings.validate()
        self.settings = settings
        let fm = FileManager.default
        for dir in [settings.dataDir, settings.dataDir + "/logs", settings.dataDir + "/extensions"] {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        store = try Store(path: settings.dataDir + "/gofer.sqlite")
        bus = EventBus()
        let dir = settings.extensionsDir ?? GoferServer.executableDirectory
        let embeddedKey =
            settings.secretStore == "embedded" ? try settings.secretStoreKey ?? Self.embeddedKey(dataDir: settings.dataDir) : nil
        extensions = ExtensionManager(
            store: store, dataDir: settings.dataDir, productsDir: dir, registries: settings.registries,
            configDefaults: { name in Self.adminDefaults(settings, extension: name, embeddedKey: embeddedKey) })
        // Everything the server runs is an installed extension; the first start installs the
        // bundled defaults so the quick start needs no install step.
        try await extensions.installDefaults(extra: settings.firstStartExtensions)
        let scheduler = try await extensions.ensureBundled(settings.scheduler)
        supervisor = ExtensionSupervisor(
            spec: try await extensions.spec(scheduler), kind: .scheduler, system: ["dataDir": .string(settings.dataDir)],
            hostVersion: goferVersion, policy: extensionPolicy)
        _ = try await supervisor.start()
        var storeSpec: ExtensionSpec?
        if let storeName = Self.secretStoreExtension[settings.secretStore] {
            storeSpec = try await extensions.spec(try await extensions.ensureBundled(storeName))
        }
        secrets = Secrets(
            store: store, spec: storeSpec, policy: extensionPolicy, hostVersion: goferVersion, cleanup: settings.secretCleanup)
        do {
            try await secrets.start()
        } catch {
            await supervisor.stop()
            throw ServerError("the secret store (\(settings.secretStore)) did not start: \(error)")
        }
        let logs = LogFiles(root: settings.dataDir + "/logs")
        var engineSettings = settings.engine
        engineSettings.serverID = try GoferServer.serverID(dataDir: settings.dataDir)
        engine = RunEngine(
            store: store, scheduler: ExtensionSchedulerClient(supervisor: supervisor), bus: bus, logs: logs, settings: engineSettings,
            secrets: secrets)
        triggers = Triggers(store: store, engine: engine, policy: extensionPolicy, hostVersion: goferVersion)
        await extensions.attach(triggers: triggers)
        let schedulerSupervisor = supervisor
        await extensions.register(settings.scheduler) { schedulerSupervisor }
        if let storeName = Self.secretStoreExtension[settings.secretStore] {
            let secrets = self.secrets
            await extensions.register(storeName) { await secrets.runningSupervisor }
        }
        api = GoferAPI(
            store: store, engine: engine, triggers: triggers, secrets: secrets, extensions: extensions, bus: bus, logs: logs,
            loader: PipelineConfigLoader(minTaskTimeout: settings.taskTimeoutMin, maxTaskTimeout: settings.taskTimeoutMax),
            version: goferVersion, maxExternalBody: settings.externalMaxBodyBytes)
        try await engine.recoverRuns()
        // After recovery: events arriving now start runs on a settled engine.
        var triggerSpecs: [ExtensionSpec] = []
        for e in try await store.installedExtensions() where e.kind == "trigger" { triggerSpecs.append(try await extensions.spec(e)) }
        await triggers.start(triggerSpecs)
    }

    /// The installed extension behind each `secret_store` setting.
    static let secretStoreExtension = ["embedded": "embedded-secrets", "vault": "vault-secrets", "memory": "memory-secrets"]

    /// The admin configuration the server settings give an extension (the layer under what was
    /// set at install). Secrets here (the store key, tokens) go to the extension over stdin at
    /// its handshake; they are never stored with the installed extension.
    static func adminDefaults(_ settings: ServerSettings, extension name: String, embeddedKey: String?) -> [String: JSONValue] {
        var admin: [String: JSONValue] = [:]
        switch name {
        case "docker": admin["endpoint"] = .string(settings.dockerEndpoint)
        case "interval":
            admin["minimumInterval"] = .string(DurationText.format(settings.triggerIntervalMin))
            admin["jitter"] = .string(settings.triggerIntervalJitter)
        case "github":
            if let secret = settings.githubWebhookSecret { admin["webhookSecret"] = .string(secret) }
            admin["maxBodyBytes"] = .int(Int64(settings.externalMaxBodyBytes))
        case "embedded-secrets": admin["key"] = embeddedKey.map(JSONValue.string)
        case "vault-secrets":
            admin["address"] = settings.vaultAddress.map(JSONValue.string)
            admin["token"] = settings.vaultToken.map(JSONValue.string)
            admin["roleId"] = settings.vaultRoleID.map(JSONValue.string)
            admin["secretId"] = settings.vaultSecretID.map(JSONValue.string)
            admin["mount"] = .string(settings.vaultMount)
            admin["prefix"] = .string(settings.vaultPrefix)
            admin["namespace"] = settings.vaultNamespace.map(JSONValue.string)
        default: break
        }
        return admin
    }

    /// The embedded store's key when the admin gave none: created once, readable by the server's
    /// user only. Losing it loses the secrets; back it up with the data directory, or set
    /// `secret_store_key` from your own secret management.
    static func embeddedKey(dataDir: String) throws -> String {
        let path = dataDir + "/secrets.key"
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let key = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard let raw = Data(base64Encoded: key), raw.count == 32 else {
                throw ServerError("\(path) does not hold a 32-byte base64 key; restore it from a backup")
            }
            return key
        }
        var bytes = [UInt8](repeating: 0, count: 32)
        var rng = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        let key = Data(bytes).base64EncodedString()
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ServerError("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let line = Array((key + "\n").utf8)
        guard line.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == line.count, fsync(fd) == 0 else {
            throw ServerError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        return key
    }

    /// This server's identity, created once and kept in the data directory.
    static func serverID(dataDir: String) throws -> String {
        let path = dataDir + "/server-id"
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let id = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !id.isEmpty { return id }
        }
        let id = UUID().uuidString.lowercased()
        try (id + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return id
    }

    /// The directory of the running executable (bundled extensions live beside it).
    public static var executableDirectory: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (exe as NSString).deletingLastPathComponent
    }

    /// Starts serving HTTP in the background; returns the bound port (useful with port 0).
    public func startHTTP() async throws -> Int {
        guard case .tcp(let host, let port) = HTTPEndpoint(settings.listen) else { throw ServerError("listen must be host:port") }
        var logger = Logger(label: "gofer")
        logger.logLevel = Logger.Level(rawValue: settings.logLevel == "warning" ? "warning" : settings.logLevel) ?? .info
        let (portStream, portContinuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: api.router(), configuration: .init(address: .hostname(host, port: port), serverName: "gofer/\(goferVersion)"),
            onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? port) }, logger: logger)
        // A service group, so stopping is a graceful shutdown rather than a cancellation.
        let serviceGroup = ServiceGroup(services: [app], logger: logger)
        group.withLock { $0 = serviceGroup }
        let task = Task {
            do {
                try await serviceGroup.run()
            } catch {
                portContinuation.finish()
                throw error
            }
        }
        serviceTask.withLock { $0 = task }
        var iterator = portStream.makeAsyncIterator()
        guard let bound = await iterator.next() else {
            let error = await task.result
            throw ServerError("cannot listen on \(settings.listen): \(String(describing: error))")
        }
        boundPort.withLock { $0 = bound }
        return bound
    }

    /// Stops HTTP and the extension.
    public func stop() async {
        if let g = group.withLock({ $0 }) {
            await g.triggerGracefulShutdown()
            _ = await serviceTask.withLock({ $0 })?.result
        }
        await triggers.stop()
        await secrets.stop()
        await supervisor.stop()
    }
}

/// A server start-up failure, said plainly.
public struct ServerError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
