import ExtensionClient
import ExtensionSDK
import Foundation
import Crypto
import Hummingbird
import HummingbirdTLS
import HummingbirdCore
import HummingbirdWebSocket
import NIOSSL
import Logging
import ServiceLifecycle
import NIOCore
import Synchronization

/// A running Gofer server: store, scheduler extension, run engine and API.
public final class GoferServer: Sendable {
    public let settings: ServerSettings
    package let store: any Store
    public let engine: RunEngine
    public let bus: EventBus
    public let supervisor: ExtensionSupervisor
    public let triggers: Triggers
    /// Applies, rolls back, deletes, enables and disables pipelines, one change at a time per pipeline.
    public let pipelines: Pipelines
    public let rollouts: Rollouts
    public let commonTasks: CommonTasks
    public let hooks: HookDispatcher
    public let secrets: Secrets
    public let objects: Objects
    public let extensions: ExtensionManager
    public let api: GoferAPI
    /// Set when this start created the first admin token: the file holding it (0600).
    public let bootstrapTokenFile: String?
    /// The URL tasks get as GOFER_API_URL, once listening.
    public var taskAPIURL: String { engine.settings.taskAPI.url }
    private let boundPort = Mutex<Int?>(nil)
    /// This server's hold on its data directory (one server per directory).
    let dataDirLock: DataDirLock
    /// Open connections per client address, across every listener.
    public let connections = ConnectionCounter()
    /// Every listener's service group and the task running it.
    private let listeners = Mutex<[(ServiceGroup, Task<Void, any Error>)]>([])

    /// Prepares the data directory, opens the store and starts the scheduler extension.
    public init(settings: ServerSettings, extensionPolicy: ExtensionSupervisor.Policy = .init()) async throws {
        try settings.validate()
        if case .tcp(let host, let port) = HTTPEndpoint(settings.listen) { try ListenProbe.check(host: host, port: port) }
        self.settings = settings
        // Everything the server (and the extensions it starts) creates is its user's alone: the
        // data directory holds logs, state and keys.
        umask(0o077)
        MemoryPolicy.apply()
        FileLimit.raiseToHard()
        let fm = FileManager.default
        for dir in [settings.dataDir, settings.dataDir + "/logs", settings.dataDir + "/extensions"] {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let lock = try DataDirLock(dataDir: settings.dataDir)
        // A start that fails lets go of the directory at once (not whenever the object goes).
        var started = false
        defer { if !started { lock.release() } }
        dataDirLock = lock
        DataDirPermissions.tighten(settings.dataDir)
        let sqlStore = try await settings.openStore()
        do {
            try await sqlStore.claimInstallation()
        } catch {
            await sqlStore.close()
            throw error
        }
        // A start that fails from here lets go of the database too (as of the directory above),
        // before the error reaches the caller: a server started next finds it free.
        store = sqlStore
        do {
            bootstrapTokenFile = try await AdminBootstrap.firstStart(store: store, dataDir: settings.dataDir)
            bus = EventBus()
            let dir = settings.extensionsDir ?? GoferServer.executableDirectory
            let embeddedKey =
                settings.secretStore == "embedded" ? try settings.secretStoreKey ?? Self.embeddedKey(dataDir: settings.dataDir) : nil
            let objects = Objects(
                store: store, backend: try LocalObjectBackend(root: settings.dataDir + "/objects"), limits: settings.objectLimits,
                cleanup: settings.objectCleanup)
            self.objects = objects
            extensions = ExtensionManager(
                store: store, dataDir: settings.dataDir, productsDir: dir, registries: settings.registries,
                configDefaults: { name in Self.adminDefaults(settings, extension: name, embeddedKey: embeddedKey) }, objects: objects)
            // Everything the server runs is an installed extension; the first start installs the
            // bundled defaults so the quick start needs no install step.
            try await extensions.installDefaults(extra: settings.firstStartExtensions)
            let scheduler = try await extensions.selected(settings.scheduler, kind: .scheduler, setting: "scheduler")
            try await ExtensionSwitch.check(store: store, settings: settings, storeExtension: Self.secretStoreExtension(settings.secretStore))
            supervisor = ExtensionSupervisor(
                spec: try await extensions.spec(scheduler), kind: .scheduler, system: ["dataDir": .string(settings.dataDir)],
                hostVersion: goferVersion, policy: extensionPolicy)
            _ = try await supervisor.start()
            var storeSpec: ExtensionSpec?
            if let storeName = Self.secretStoreExtension(settings.secretStore) {
                storeSpec = try await extensions.spec(try await extensions.selected(storeName, kind: .secrets, setting: "secret_store"))
            }
            secrets = Secrets(
                store: store, spec: storeSpec, policy: extensionPolicy, hostVersion: goferVersion, cleanup: settings.secretCleanup)
            do {
                try await secrets.start()
            } catch {
                await supervisor.stop()
                throw ServerError("the secret store (\(settings.secretStore)) did not start", cause: error)
            }
            let logs = LogFiles(root: settings.dataDir + "/logs")
            var engineSettings = settings.engine
            engineSettings.serverID = try GoferServer.serverID(dataDir: settings.dataDir)
            let runTokens = RunTokenIssuer(
                store: store, key: SymmetricKey(data: try SecretFile.key(at: settings.dataDir + "/run-tokens.key")))
            let commonTasks = CommonTasks(store: store, policy: extensionPolicy, hostVersion: goferVersion)
            self.commonTasks = commonTasks
            engine = RunEngine(
                store: store, scheduler: ExtensionSchedulerClient(supervisor: supervisor), bus: bus, logs: logs, settings: engineSettings,
                secrets: secrets, runTokens: runTokens, commonTasks: commonTasks, objects: objects)
            let hooks = HookDispatcher(store: store, tasks: commonTasks, secrets: secrets, engine: engineSettings)
            self.hooks = hooks
            await engine.onRunStateStored { hooks.poke() }
            triggers = Triggers(store: store, engine: engine, policy: extensionPolicy, hostVersion: goferVersion)
            pipelines = Pipelines(store: store, triggers: triggers)
            let rollouts = Rollouts(store: store)
            self.rollouts = rollouts
            await engine.onRolloutRunFinished { await rollouts.runFinished($0) }
            await extensions.attach(triggers: triggers, commonTasks: commonTasks, pipelines: pipelines)
            let schedulerSupervisor = supervisor
            await extensions.register(settings.scheduler) { schedulerSupervisor }
            if let storeName = Self.secretStoreExtension(settings.secretStore) {
                let secrets = self.secrets
                await extensions.register(storeName) { await secrets.runningSupervisor }
            }
            let trials = Trials(store: store, policy: settings.trials)
            if settings.trials.enabled { await engine.limit(by: trials) }
            api = GoferAPI(
                store: store, engine: engine, triggers: triggers, pipelines: pipelines, rollouts: rollouts, commonTasks: commonTasks, secrets: secrets, objects: objects, extensions: extensions, bus: bus,
                logs: logs,
                loader: PipelineConfigLoader(
                    minTaskTimeout: settings.taskTimeoutMin, maxTaskTimeout: settings.taskTimeoutMax, defaultImage: settings.defaultTaskImage,
                    limits: settings.taskLimits),
                version: goferVersion, maxExternalBody: settings.externalMaxBodyBytes,
                auth: Authenticator(store: store, failureLimit: settings.rateLimitAuthFailures), openLimit: settings.rateLimitPublic,
                trustedProxies: settings.trustedProxies,
                placement: SchedulerPlacement(name: settings.scheduler, schema: { await schedulerSupervisor.handshake?.paramsSchema }),
                attachEnabled: settings.taskAttach, secureCookies: settings.tlsCert != nil, trials: trials)
            // Common tasks before recovery: a step left running is called again right away.
            var taskSpecs: [ExtensionSpec] = []
            for e in try await store.installedExtensions() where e.kind == .task {
                taskSpecs.append(try await extensions.spec(e))
            }
            await commonTasks.start(taskSpecs)
            await objects.start(bus: bus)
            try await engine.recoverRuns()
            // Hooks owed from before a restart are delivered now.
            await hooks.start()
            // A decision that was due when the server stopped (or was killed) is taken now.
            await rollouts.start()
            // After recovery: events arriving now start runs on a settled engine.
            var triggerSpecs: [ExtensionSpec] = []
            for e in try await store.installedExtensions() where e.kind == .trigger { triggerSpecs.append(try await extensions.spec(e)) }
            await triggers.start(triggerSpecs)
        } catch {
            await sqlStore.close()
            throw error
        }
        started = true
    }

    /// The installed extension behind a `secret_store` setting: the built-in aliases, nil for
    /// `none`, otherwise the setting is the extension's own name.
    static func secretStoreExtension(_ setting: String) -> String? {
        switch setting {
        case "none": return nil
        case "embedded": return "embedded-secrets"
        case "vault": return "vault-secrets"
        case "memory": return "memory-secrets"
        default: return setting
        }
    }

    /// The admin configuration the server settings give an extension (the layer under what was
    /// set at install). Secrets here (the store key, tokens) go to the extension over stdin at
    /// its handshake; they are never stored with the installed extension.
    static func adminDefaults(_ settings: ServerSettings, extension name: String, embeddedKey: String?) -> [String: JSONValue] {
        var admin: [String: JSONValue] = [:]
        switch name {
        case "docker":
            admin["endpoint"] = .string(settings.dockerEndpoint)
            admin["logMaxSize"] = .string(settings.taskLogMaxSize)
            admin["logMaxFiles"] = .int(Int64(settings.taskLogMaxFiles))
            admin["logDriver"] = .string(settings.taskLogDriver.rawValue)
            // Live capture holds at least what Gofer keeps of a log, twice over (head and tail).
            admin["liveLogMaxBytes"] = .int(Int64(max(256 << 20, 2 * settings.maxLogBytes)))
            admin["pidsLimit"] = .int(Int64(settings.taskPidsLimit))
            admin["memoryDefaultMB"] = .int(Int64(settings.taskMemoryDefaultMB))
            admin["user"] = settings.effectiveTaskUser.map(JSONValue.string)
            admin["requestTimeoutSeconds"] = .int(settings.dockerRequestTimeout.components.seconds)
        case "swarm":
            admin["endpoint"] = .string(settings.dockerEndpoint)
            admin["logMaxSize"] = .string(settings.taskLogMaxSize)
            admin["logMaxFiles"] = .int(Int64(settings.taskLogMaxFiles))
            admin["pidsLimit"] = .int(Int64(settings.taskPidsLimit))
            admin["memoryDefaultMB"] = .int(Int64(settings.taskMemoryDefaultMB))
            admin["user"] = settings.effectiveTaskUser.map(JSONValue.string)
            admin["constraints"] = settings.swarmConstraints.isEmpty ? nil : .array(settings.swarmConstraints.map(JSONValue.string))
            admin["placementTimeout"] = .string(DurationText.format(settings.placementTimeout))
            admin["requestTimeoutSeconds"] = .int(settings.dockerRequestTimeout.components.seconds)
        case "nomad":
            admin["address"] = settings.nomadAddress.map(JSONValue.string)
            admin["token"] = settings.nomadToken.map(JSONValue.string)
            admin["caFile"] = settings.nomadCAFile.map(JSONValue.string)
            admin["namespace"] = settings.nomadNamespace.map(JSONValue.string)
            admin["region"] = settings.nomadRegion.map(JSONValue.string)
            admin["datacenters"] = settings.nomadDatacenters.isEmpty ? nil : .array(settings.nomadDatacenters.map(JSONValue.string))
            admin["memoryDefaultMB"] = settings.taskMemoryDefaultMB >= 10 ? .int(Int64(settings.taskMemoryDefaultMB)) : nil
            admin["placementTimeout"] = .string(DurationText.format(settings.placementTimeout))
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
        try SecretFile.key(at: dataDir + "/secrets.key").base64EncodedString()
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

    /// Starts serving HTTP(S) in the background; returns the bound port (useful with port 0).
    /// Also listens where tasks can reach it (``ServerSettings/taskListen``) and settles the URL
    /// tasks get as GOFER_API_URL.
    public func startHTTP() async throws -> Int {
        guard case .tcp(let host, let port) = HTTPEndpoint(settings.listen) else { throw ServerError("listen must be host:port") }
        var logger = Logger(label: "gofer")
        logger.logLevel = Logger.Level(rawValue: settings.logLevel == "warning" ? "warning" : settings.logLevel) ?? .info
        let tls = try tlsConfiguration()
        let bound = try await serve(host: host, port: port, tls: tls, logger: logger)
        boundPort.withLock { $0 = bound }

        let scheme = tls == nil ? "http" : "https"
        let containers = ["docker", "swarm"].contains(settings.scheduler)
        let bridge = containers ? Self.ipv4Address(ofInterface: "docker0") : nil
        // Listening on every address: tasks use the Docker bridge's gateway; without one (the server
        // itself in a container, the gofer image) the machine's own address, which sibling containers reach.
        var taskHost = Self.isWildcard(host) ? (bridge ?? (containers ? Self.ownIPv4Address() : nil) ?? "127.0.0.1") : host
        var taskPort = bound
        if settings.taskListen != "off" {
            var extra: (String, Int)?
            if settings.taskListen == "auto" {
                if let bridge, Self.isLoopback(host) { extra = (bridge, bound) }
            } else if case .tcp(let h, let p) = HTTPEndpoint(settings.taskListen) {
                extra = (h, p)
            }
            if let (h, p) = extra {
                do {
                    taskPort = try await serve(host: h, port: p, tls: tls, logger: logger)
                    taskHost = h
                } catch {
                    logger.warning(
                        "cannot listen for tasks on \(h):\(p) (\(ErrorText.describe(error))); tasks get \(scheme)://\(taskHost):\(taskPort), which containers may not reach. Set task_listen or task_api_url."
                    )
                }
            }
        }
        engine.settings.taskAPI.url = settings.taskAPIURL ?? "\(scheme)://\(taskHost.contains(":") ? "[\(taskHost)]" : taskHost):\(taskPort)"
        return bound
    }

    /// Runs one listener in its own service group; returns its bound port.
    private func serve(host: String, port: Int, tls: TLSConfiguration?, logger: Logger) async throws -> Int {
        let (portStream, portContinuation) = AsyncStream<Int>.makeStream()
        let api = self.api
        // Attach upgrades its route to a WebSocket; with attach off nothing is upgraded, ever.
        // Every connection of every listener is held to the connection limits (slowloris).
        let limits = settings.connectionLimits
        let counter = connections
        let proxies = settings.trustedProxies
        let rawGuard: @Sendable () -> RawConnectionGuard = {
            RawConnectionGuard(limits: limits, counter: counter, exempt: { address in proxies.contains { $0.contains(address) } })
        }
        let http1 = HTTP1Channel.Configuration(additionalChannelHandlers: [ConnectionGuard(limits: limits)])
        let http: HTTPServerBuilder
        if settings.taskAttach {
            let configuration = HTTP1WebSocketUpgradeChannel.Configuration(http1: http1)
            http = HTTPServerBuilder { responder in
                GuardedChildChannel(
                    inner: HTTP1WebSocketUpgradeChannel(responder: responder, configuration: configuration) { request, channel, _ in
                        // The head is in: an upgraded connection is a WebSocket from here on,
                        // never seen by the HTTP handlers that would stop the head timer.
                        RawConnectionGuard.headArrived(on: channel)
                        return await api.shouldUpgrade(request, peer: channel.remoteAddress?.ipAddress)
                    }, makeGuard: rawGuard)
            }
        } else {
            http = HTTPServerBuilder { responder in
                GuardedChildChannel(inner: HTTP1Channel(responder: responder, configuration: http1), makeGuard: rawGuard)
            }
        }
        let app = Application(
            router: api.router(), server: try tls.map { try .tls(http, tlsConfiguration: $0) } ?? http,
            configuration: .init(address: .hostname(host, port: port), serverName: "gofer/\(goferVersion)"),
            onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? port) }, logger: logger)
        // A service group, so stopping is a graceful shutdown rather than a cancellation.
        let serviceGroup = ServiceGroup(services: [app], logger: logger)
        let task = Task {
            do {
                try await serviceGroup.run()
            } catch {
                portContinuation.finish()
                throw error
            }
        }
        var iterator = portStream.makeAsyncIterator()
        guard let bound = await iterator.next() else {
            if case .failure(let error) = await task.result { throw ServerError("cannot listen on \(host):\(port)", cause: error) }
            throw ServerError("cannot listen on \(host):\(port): the server stopped before it listened")
        }
        listeners.withLock { $0.append((serviceGroup, task)) }
        return bound
    }

    /// The server's TLS settings, when `tls_cert` and `tls_key` are set.
    func tlsConfiguration() throws -> TLSConfiguration? {
        guard let cert = settings.tlsCert, let key = settings.tlsKey else { return nil }
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(cert).map { NIOSSLCertificateSource.certificate($0) }
            guard !chain.isEmpty else { throw ServerError("no certificate in the file") }
            let privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
            return TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(privateKey))
        } catch {
            throw ServerError("cannot use tls_cert \(cert) / tls_key \(key)", cause: error)
        }
    }

    static func isLoopback(_ host: String) -> Bool { host == "localhost" || host == "::1" || host.hasPrefix("127.") }
    static func isWildcard(_ host: String) -> Bool { host == "0.0.0.0" || host == "::" || host.isEmpty }

    /// The IPv4 address of a network interface (`docker0`: the Docker bridge's gateway, which
    /// containers on the default bridge reach the host by).
    static func ipv4Address(ofInterface name: String) -> String? {
        ipv4Addresses().first { $0.interface == name }?.address
    }

    /// The first IPv4 address of this machine that is not a loopback one (nor Docker's bridge).
    static func ownIPv4Address() -> String? {
        ipv4Addresses().first { !$0.address.hasPrefix("127.") && $0.interface != "docker0" }?.address
    }

    /// Every interface's IPv4 addresses, in the kernel's order.
    static func ipv4Addresses() -> [(interface: String, address: String)] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var found: [(interface: String, address: String)] = []
        for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
            guard let sa = entry.pointee.ifa_addr, sa.pointee.sa_family == sa_family_t(AF_INET) else { continue }
            var address = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
            var buffer = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            guard inet_ntop(AF_INET, &address, &buffer, socklen_t(INET_ADDRSTRLEN)) != nil else { continue }
            let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            found.append((String(cString: entry.pointee.ifa_name), text))
        }
        return found
    }

    /// Stops the server without stopping its work (SIGTERM): HTTP stops taking requests (open
    /// streams get `httpGrace` to end), triggers stop, the engine lets go of every running task
    /// without recording anything about it, and the extensions are shut down — a scheduler's
    /// jobs keep running (the protocol's `shutdown` never stops them). The next start re-attaches
    /// every task exactly as after a crash: a restart or an upgrade is invisible to the runs.
    public func stop(httpGrace: Duration = .seconds(3)) async {
        await withTaskGroup(of: Void.self) { group in
            for (g, task) in listeners.withLock({ $0 }) {
                group.addTask {
                    await g.triggerGracefulShutdown()
                    // Long-lived answers (log follows, event streams) would hold a graceful
                    // shutdown open for as long as they last: past the grace they are cut.
                    let timer = Task {
                        try? await Task.sleep(for: httpGrace)
                        if !Task.isCancelled { task.cancel() }
                    }
                    _ = await task.result
                    timer.cancel()
                }
            }
        }
        await triggers.stop()
        await engine.detachAll(within: .seconds(5))
        await rollouts.stop()
        objects.stop()
        await hooks.stop()
        await triggers.stop()
        await commonTasks.stop()
        await secrets.stop()
        await supervisor.stop()
        await store.close()
        dataDirLock.release()
    }

    /// Lets the runs in progress finish before stopping (`gofer service stop --drain`): no new
    /// run is admitted (runs created meanwhile wait, stored, for the next start) and triggers
    /// stop; the API keeps answering. Returns the runs still in progress after `timeout`; the
    /// caller then stops the server, which leaves their tasks running for the next start.
    public func drain(within timeout: Duration) async -> Int {
        await triggers.stop()
        return await engine.drain(within: timeout)
    }
}

/// Files and directories in the data directory: 0600 and 0700. Older servers created them 0644
/// and 0755; the first start of this version tightens what it finds (one walk, remembered by a
/// marker file), and everything created since is born that way (umask 077).
enum DataDirPermissions {
    static let marker = ".permissions-tightened"

    static func tighten(_ root: String) {
        let done = root + "/" + marker
        if FileManager.default.fileExists(atPath: done) { return }
        // Without the marker the walk only repeats at the next start.
        defer { _ = FileManager.default.createFile(atPath: done, contents: Data("1\n".utf8), attributes: [.posixPermissions: 0o600]) }
        var info = stat()
        func fix(_ path: String) {
            guard lstat(path, &info) == 0 else { return }
            let mode = info.st_mode & 0o7777
            switch info.st_mode & S_IFMT {
            case S_IFDIR: if mode & 0o077 != 0 { chmod(path, mode & 0o700) }
            case S_IFREG: if mode & 0o077 != 0 { chmod(path, mode & 0o700) }
            default: break  // symlinks: their target's mode is what counts, and it may not be ours
            }
        }
        fix(root)
        guard let walker = FileManager.default.enumerator(atPath: root) else { return }
        while let relative = walker.nextObject() as? String { fix(root + "/" + relative) }
    }
}

/// A server start-up failure, said plainly.
public struct ServerError: Error, CustomStringConvertible {
    /// What failed, and how to fix it.
    public var message: String
    /// What went wrong underneath (a file that cannot be read, an extension that did not start).
    public var cause: (any Error)?
    public var description: String { ErrorText.wrapping(message, cause) }
    public init(_ message: String, cause: (any Error)? = nil) {
        self.message = message
        self.cause = cause
    }
}

extension ServerError: CausedError {}
