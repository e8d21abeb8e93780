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
        let binary = "gofer-scheduler-\(settings.scheduler)"
        let dir = settings.extensionsDir ?? GoferServer.executableDirectory
        let path = dir + "/" + binary
        guard fm.isExecutableFile(atPath: path) else {
            throw ServerError("the scheduler extension \(binary) is not at \(path); build it (swift build) or set extensions_dir")
        }
        let stateDir = settings.dataDir + "/extensions/" + settings.scheduler
        try fm.createDirectory(atPath: stateDir, withIntermediateDirectories: true)
        let admin: JSONValue = settings.scheduler == "docker" ? ["endpoint": .string(settings.dockerEndpoint)] : .emptyObject
        let logger = Logger(label: "gofer.extension.\(settings.scheduler)")
        supervisor = ExtensionSupervisor(
            name: settings.scheduler, launch: ExtensionLaunch(executable: path),
            options: InitializeOptions(
                kind: .scheduler, adminConfig: admin, systemConfig: ["dataDir": .string(settings.dataDir)], stateDirectory: stateDir,
                hostVersion: goferVersion),
            policy: extensionPolicy, onStderr: { line in logger.debug("\(line)") })
        _ = try await supervisor.start()
        let logs = LogFiles(root: settings.dataDir + "/logs")
        var engineSettings = settings.engine
        engineSettings.serverID = try GoferServer.serverID(dataDir: settings.dataDir)
        engine = RunEngine(
            store: store, scheduler: ExtensionSchedulerClient(supervisor: supervisor), bus: bus, logs: logs, settings: engineSettings)
        triggers = Triggers(store: store, engine: engine, policy: extensionPolicy, hostVersion: goferVersion)
        api = GoferAPI(
            store: store, engine: engine, triggers: triggers, bus: bus, logs: logs,
            loader: PipelineConfigLoader(minTaskTimeout: settings.taskTimeoutMin, maxTaskTimeout: settings.taskTimeoutMax),
            version: goferVersion, maxExternalBody: settings.externalMaxBodyBytes)
        try await engine.recoverRuns()
        // After recovery: events arriving now start runs on a settled engine.
        await triggers.start(try Self.triggerSpecs(settings, extensionsDir: dir))
    }

    /// The trigger extensions to run, with their admin configuration from the server settings.
    /// A configured trigger whose executable is missing is skipped with a warning.
    static func triggerSpecs(_ settings: ServerSettings, extensionsDir dir: String) throws -> [TriggerSpec] {
        var specs: [TriggerSpec] = []
        for name in settings.triggers {
            let path = dir + "/gofer-trigger-" + name
            guard FileManager.default.isExecutableFile(atPath: path) else {
                Logger(label: "gofer").warning(
                    "trigger \(name) is configured but \(path) does not exist; build it or remove it from triggers")
                continue
            }
            var admin: [String: JSONValue] = [:]
            switch name {
            case "interval":
                admin["minimumInterval"] = .string(DurationText.format(settings.triggerIntervalMin))
                admin["jitter"] = .string(settings.triggerIntervalJitter)
            case "github":
                if let secret = settings.githubWebhookSecret { admin["webhookSecret"] = .string(secret) }
                admin["maxBodyBytes"] = .int(Int64(settings.externalMaxBodyBytes))
            default: break
            }
            let state = settings.dataDir + "/extensions/trigger-" + name
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
            specs.append(
                TriggerSpec(name: name, launch: ExtensionLaunch(executable: path), adminConfig: .object(admin), stateDirectory: state))
        }
        return specs
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
        await supervisor.stop()
    }
}

/// A server start-up failure, said plainly.
public struct ServerError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
