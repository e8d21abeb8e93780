import ArgumentParser
import Foundation
import GoferHost

struct ServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service", abstract: "Run the Gofer server.", subcommands: [Start.self, ResetAdmin.self])

    struct ResetAdmin: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-admin",
            abstract: "Make a new admin token and write it to DATA_DIR/admin-token (0600): the way back in when every admin token is lost.",
            discussion:
                "Run it on the server's machine as the server's user: it needs write access to the data directory. It works whether the server runs or not; existing tokens are untouched (revoke lost ones afterwards with `gofer token revoke`)."
        )
        @Option(help: "Data directory of the server (default: GOFER_DATA_DIR or ~/.gofer).") var dataDir: String?

        func run() async throws {
            let dir =
                (dataDir ?? ProcessInfo.processInfo.environment["GOFER_DATA_DIR"]).map { ($0 as NSString).expandingTildeInPath }
                ?? ServerSettings.defaultDataDir
            guard FileManager.default.fileExists(atPath: dir + "/gofer.sqlite") else {
                Output.error("no Gofer database in \(dir); pass the server's --data-dir")
                throw ExitCode.failure
            }
            do {
                let path = try await AdminBootstrap.reset(dataDir: dir)
                print("wrote a new admin token to \(path) (mode 0600); use it with: gofer login --token-file \(path)")
            } catch {
                Output.error("cannot make an admin token: \(error)")
                throw ExitCode.failure
            }
        }
    }

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
            if let file = server.bootstrapTokenFile {
                print("first start: wrote an admin token to \(file) (mode 0600); log in with: gofer login --token-file \(file)")
            }
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
