import ArgumentParser
import Foundation
import GoferHost
import UnixSignals

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
        @Flag(help: "Print JSON instead of text.") var json = false

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
                Output.done(
                    "wrote a new admin token to \(path) (mode 0600); use it with: gofer login --token-file \(path)",
                    json: ["admin_token_file": .string(path)])
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
        @Flag(help: "Print JSON Lines instead of text (what it logs goes to stderr either way).") var json = false

        func run() async throws {
            let (server, telemetry) = try await ServerStartup.start("the server") { settings in
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
                Output.done(
                    "first start: wrote an admin token to \(file) (mode 0600); log in with: gofer login --token-file \(file)",
                    json: ["admin_token_file": .string(file)])
            }
            let address = "\(settings.listen.split(separator: ":").dropLast().joined(separator: ":")):\(port)"
            Output.done(
                "gofer \(goferVersion) listening on \(address) (data in \(settings.dataDir), scheduler \(settings.scheduler))",
                json: [
                    "listening": .string(address), "version": .string(goferVersion), "data_dir": .string(settings.dataDir),
                    "scheduler": .string(settings.scheduler),
                ])
            // Serve until SIGINT/SIGTERM.
            let signal = await ShutdownSignal.next()
            let name = signal.map { "\($0)" } ?? "a signal"
            Output.done("received \(name), shutting down", json: ["shutting_down": .string(name)])
            await server.stop()
            await telemetry.shutdown()  // what is still buffered goes out
        }
    }
}

/// The first of SIGINT/SIGTERM, through ServiceLifecycle's signal sequence (which traps the
/// signals, so their default action never kills the process mid-shutdown).
enum ShutdownSignal {
    static func next() async -> UnixSignal? {
        for await signal in await UnixSignalsSequence(trapping: .sigint, .sigterm) { return signal }
        return nil
    }
}
