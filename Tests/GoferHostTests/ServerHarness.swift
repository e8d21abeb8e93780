import ExtensionClient
import ExtensionSDK
import Foundation
import GoferHost
import TestSupport

/// A real Gofer server (store, scheduler extension, engine, API) in a temporary data directory.
final class ServerHarness: Sendable {
    let server: GoferServer
    let dir: TemporaryDirectory

    init(scheduler: String = "process", configure: (inout ServerSettings) -> Void = { _ in }) async throws {
        dir = try TemporaryDirectory()
        var settings = ServerSettings()
        settings.dataDir = dir.path
        settings.scheduler = scheduler
        settings.extensionsDir = BuiltProducts.directory
        settings.listen = "127.0.0.1:0"
        settings.taskTimeoutMin = .seconds(1)
        settings.stopGrace = .seconds(1)
        configure(&settings)
        server = try await GoferServer(settings: settings)
    }

    func apply(_ yaml: String, namespace: String = "default") async throws -> ApplyResult {
        let config = try server.api.loader.load(yaml, file: "test.yaml")
        return try await server.store.apply(namespace: namespace, config: config)
    }

    func runToEnd(_ pipeline: String, namespace: String = "default") async throws -> (Run, [TaskExecution]) {
        let run = try await server.engine.startRun(namespace: namespace, pipeline: pipeline, initiator: "test")
        let done = try await server.engine.waitForRun(namespace: namespace, pipeline: pipeline, run: run.id)
        return (done, try await server.store.tasks(namespace: namespace, pipeline: pipeline, run: run.id))
    }

    func log(_ pipeline: String, run: Int, task: String) -> String {
        let path = LogFiles(root: dir.path + "/logs").path(namespace: "default", pipeline: pipeline, run: run, task: task)
        return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    func stop() async { await server.stop() }
}
