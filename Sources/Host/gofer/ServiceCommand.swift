import ArgumentParser
import Foundation
import GoferHost

struct ServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "service", abstract: "Run the Gofer server.", subcommands: [Start.self])

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start the server (settings: file, then GOFER_* variables, then flags; see docs/server-config.md).")

        @Option(help: "Server config file (YAML).") var config: String?
        @Option(help: "Data directory (database, logs, extension state).") var dataDir: String?
        @Option(help: "Address to listen on, host:port.") var listen: String?
        @Option(help: "Scheduler extension: docker or process.") var scheduler: String?

        func run() async throws {
            let server = try await ServerStartup.start("the server") { settings in
                if let config { try settings.load(file: config) }
                try settings.load(environment: ProcessInfo.processInfo.environment)
                if let dataDir { try settings.set("data_dir", dataDir, source: "--data-dir") }
                if let listen { try settings.set("listen", listen, source: "--listen") }
                if let scheduler { try settings.set("scheduler", scheduler, source: "--scheduler") }
            }
            let settings = server.settings
            let health = await ServerStartup.schedulerHealth(server)
            if health.status != "healthy" {
                Output.error(
                    "warning: the \(settings.scheduler) scheduler is \(health.status): \(health.detail); runs will fail until it is healthy"
                )
            }
            let port = try await server.startHTTP()
            print(
                "gofer \(goferVersion) listening on \(settings.listen.split(separator: ":").dropLast().joined(separator: ":")):\(port) (data in \(settings.dataDir), scheduler \(settings.scheduler))"
            )
            // Serve until SIGINT/SIGTERM.
            let sig = await SignalWaiter.next([SIGINT, SIGTERM])
            print("received signal \(sig), shutting down")
            await server.stop()
        }
    }
}

/// Waits for one of several signals (handled through Dispatch, not the default action).
enum SignalWaiter {
    final class Sources: @unchecked Sendable {  // only touched on creation and in the handler
        var all: [any DispatchSourceSignal] = []
    }

    static func next(_ signals: [Int32]) async -> Int32 {
        await withCheckedContinuation { (c: CheckedContinuation<Int32, Never>) in
            let sources = Sources()
            let once = Once()
            for sig in signals {
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig)
                source.setEventHandler {
                    if once.first() {
                        for s in sources.all { s.cancel() }
                        c.resume(returning: sig)
                    }
                }
                sources.all.append(source)
                source.resume()
            }
        }
    }

    final class Once: @unchecked Sendable {
        private let lock = NSLock()
        private var done = false
        func first() -> Bool {
            lock.lock()
            defer { lock.unlock() }
            if done { return false }
            done = true
            return true
        }
    }
}
