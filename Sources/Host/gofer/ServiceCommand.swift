import ArgumentParser
import ExtensionSDK
import Foundation
import GoferHost
import UnixSignals

struct ServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service", abstract: "Run the Gofer server.", subcommands: [Start.self, Stop.self, ResetAdmin.self, Migrate.self])

    /// The data directory the server commands act on: the flag, GOFER_DATA_DIR, or the default.
    static func dataDirectory(_ flag: String?) -> String {
        (flag ?? ProcessInfo.processInfo.environment["GOFER_DATA_DIR"]).map { ($0 as NSString).expandingTildeInPath }
            ?? ServerSettings.defaultDataDir
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop the server running on a data directory, leaving its tasks running for the next start (or, with --drain, after its runs end).",
            discussion: """
                Without --drain the server stops at once (SIGTERM, what systemd sends): it stops taking requests, lets go of \
                every running task without stopping it, and exits; the next start finds every task again, as if nothing \
                happened. With --drain (SIGQUIT) it first lets the runs in progress finish, admitting no new ones (runs \
                created meanwhile wait for the next start); after --timeout it stops as without --drain.
                Run it on the server's machine as the server's user.
                """)
        @Option(help: "Data directory of the server (default: GOFER_DATA_DIR or ~/.gofer).") var dataDir: String?
        @Flag(help: "Let the runs in progress finish first.") var drain = false
        @Option(help: "With --drain: how long to wait for the runs (e.g. 30m); then the server stops anyway, leaving the rest running.")
        var timeout: String = "1h"
        @Flag(help: "Print JSON instead of text.") var json = false

        func run() async throws {
            let dir = ServiceCommand.dataDirectory(dataDir)
            guard let wait = DurationText.parse(timeout) else { throw ValidationError("--timeout \(timeout): write a duration such as 30m") }
            guard DataDirLock.isHeld(dataDir: dir), let pid = DataDirLock.pid(dataDir: dir) else {
                Output.error("no Gofer server is running on \(dir)")
                throw ExitCode.failure
            }
            let started = ContinuousClock.now
            if drain {
                kill(pid, SIGQUIT)
                if !json { print("draining the server (pid \(pid)): waiting up to \(DurationText.format(wait)) for its runs to end") }
                if await Self.waitForExit(dir, within: wait) {
                    return report(pid, started, drained: true)
                }
                if !json { print("runs still in progress after \(DurationText.format(wait)); stopping with them left running") }
            }
            kill(pid, SIGTERM)
            guard await Self.waitForExit(dir, within: .seconds(60)) else {
                Output.error("the server (pid \(pid)) did not stop within 60s; its log says why (kill -9 \(pid) loses nothing: the next start recovers)")
                throw ExitCode.failure
            }
            report(pid, started, drained: false)
        }

        func report(_ pid: Int32, _ started: ContinuousClock.Instant, drained: Bool) {
            let took = ContinuousClock.now - started
            Output.done(
                "stopped the server (pid \(pid)) in \(DurationText.format(took))" + (drained ? " after its runs ended" : ""),
                json: ["stopped": .int(Int64(pid)), "drained": .bool(drained), "seconds": .double(Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18)])
        }

        /// Whether the server let go of the data directory within `timeout`.
        static func waitForExit(_ dir: String, within timeout: Duration) async -> Bool {
            let deadline = ContinuousClock.now + timeout
            while DataDirLock.isHeld(dataDir: dir) {
                if ContinuousClock.now >= deadline { return false }
                try? await Task.sleep(for: .milliseconds(50))
            }
            return true
        }
    }

    struct ResetAdmin: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-admin",
            abstract: "Make a new admin token and write it to DATA_DIR/admin-token (0600): the way back in when every admin token is lost.",
            discussion:
                "Run it on the server's machine as the server's user: it needs write access to the data directory. It works whether the server runs or not; existing tokens are untouched (revoke lost ones afterwards with `gofer token revoke`)."
        )
        @Option(help: "Data directory of the server (default: GOFER_DATA_DIR or ~/.gofer).") var dataDir: String?
        @Option(help: "The server's PostgreSQL database, if it has one (default: GOFER_DATABASE_URL).") var databaseURL: String?
        @Flag(help: "Print JSON instead of text.") var json = false

        func run() async throws {
            let dir = ServiceCommand.dataDirectory(dataDir)
            var settings = ServerSettings()
            settings.dataDir = dir
            do {
                if let url = databaseURL ?? ProcessInfo.processInfo.environment["GOFER_DATABASE_URL"] {
                    try settings.set("database_url", url, source: databaseURL == nil ? "GOFER_DATABASE_URL" : "--database-url")
                }
            } catch {
                Output.error(ErrorText.describe(error))
                throw ExitCode.validationFailure
            }
            guard settings.databaseURL != nil || FileManager.default.fileExists(atPath: dir + "/gofer.sqlite") else {
                Output.error("no Gofer database in \(dir); pass the server's --data-dir (or its --database-url)")
                throw ExitCode.failure
            }
            do {
                let path = try await AdminBootstrap.reset(settings: settings)
                Output.done(
                    "wrote a new admin token to \(path) (mode 0600); use it with: gofer login --token-file \(path)",
                    json: ["admin_token_file": .string(path)])
            } catch {
                Output.error(ErrorText.wrapping("cannot make an admin token", error))
                throw ExitCode.failure
            }
        }
    }

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy an embedded installation's database into PostgreSQL, verified table by table (count and SHA-256).",
            discussion:
                "Stop the server first: it refuses while one runs on the data directory or on the database. The database must exist (createdb); its tables are created. Runs, task executions, events, pipelines and every version, tokens, roles, secrets' metadata (values stay in the secret store), objects' metadata, triggers, hooks and extensions are copied; task logs, objects' contents, keys and extension state stay in the data directory, which the server keeps using. Resumable: run it again after a failure. Then start the server with the same --data-dir and --database-url (or GOFER_DATABASE_URL). See docs/cluster.md."
        )
        @Option(help: "The embedded installation's data directory (default: GOFER_DATA_DIR or ~/.gofer).") var from: String?
        @Option(help: "The PostgreSQL database, postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (default: GOFER_DATABASE_URL).") var to: String?
        @Flag(help: "Print JSON Lines instead of text.") var json = false

        func run() async throws {
            let dir = ServiceCommand.dataDirectory(from)
            guard let url = to ?? ProcessInfo.processInfo.environment["GOFER_DATABASE_URL"] else {
                Output.error("say where to: --to postgres://USER@HOST/DATABASE (or set GOFER_DATABASE_URL)", exitCode: 64)
                throw ExitCode(64)
            }
            let json = self.json
            do {
                let tables = try await DatabaseMigration.run(from: dir, to: url) { t in
                    if json {
                        Output.line(.object(["table": .string(t.name), "rows": .int(Int64(t.rows)), "copied": .int(Int64(t.copied)), "sha256": .string(t.sha256)]))
                    } else {
                        print("\(t.name): \(t.rows) rows\(t.copied == t.rows ? "" : ", \(t.copied) copied now") — verified (sha256 \(t.sha256.prefix(16))…)")
                    }
                }
                let rows = tables.reduce(0) { $0 + $1.rows }
                Output.done(
                    "copied and verified \(tables.count) tables, \(rows) rows. Start the server with --data-dir \(dir) and this database_url (logs, objects and keys stay in the data directory)",
                    json: ["migrated": .bool(true), "tables": .int(Int64(tables.count)), "rows": .int(Int64(rows))])
            } catch {
                Output.error(ErrorText.wrapping("the migration stopped (run it again to resume)", error))
                throw ExitCode.failure
            }
        }
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start the server (settings: file, then GOFER_* variables, then flags; see docs/server-config.md).")

        @Option(help: "Server config file (YAML).") var config: String?
        @Option(help: "Data directory (database, logs, extension state).") var dataDir: String?
        @Option(help: "PostgreSQL database, postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (default: the embedded SQLite file in the data directory; prefer GOFER_DATABASE_URL for a password).")
        var databaseURL: String?
        @Option(help: "Address to listen on, host:port.") var listen: String?
        @Option(help: ServerStartup.schedulerHelp) var scheduler: String?
        @Flag(help: "Print JSON Lines instead of text (what it logs goes to stderr either way).") var json = false

        func run() async throws {
            let (server, telemetry) = try await ServerStartup.start("the server") { settings in
                if let config { try settings.load(file: config) }
                try settings.load(environment: ProcessInfo.processInfo.environment)
                if let dataDir { try settings.set("data_dir", dataDir, source: "--data-dir") }
                if let databaseURL { try settings.set("database_url", databaseURL, source: "--database-url") }
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
                "gofer \(goferVersion) listening on \(address) (data in \(settings.dataDir)\(settings.databaseURL == nil ? "" : ", database \(settings.databaseLocation)"), scheduler \(settings.scheduler))",
                json: [
                    "listening": .string(address), "version": .string(goferVersion), "data_dir": .string(settings.dataDir),
                    "scheduler": .string(settings.scheduler),
                ])
            // Serve until SIGINT/SIGTERM; SIGQUIT drains first (gofer service stop --drain).
            let name = await ShutdownSignal.wait(draining: { await server.drain(within: .seconds(365 * 24 * 3600)) })
            Output.done("received \(name), shutting down; running tasks keep running", json: ["shutting_down": .string(name)])
            let stopping = ContinuousClock.now
            await server.stop()
            Output.done(
                "stopped in \(DurationText.format(ContinuousClock.now - stopping)); the next start picks the runs up where they are",
                json: ["stopped": .bool(true)])
            await telemetry.shutdown()  // what is still buffered goes out
        }
    }
}

/// Signals that stop the server, through ServiceLifecycle's signal sequence (which traps them,
/// so their default action never kills the process mid-shutdown).
enum ShutdownSignal {
    /// Waits for SIGINT or SIGTERM. SIGQUIT starts `draining` (runs in progress finish, nothing
    /// new is admitted); when it has drained, or on SIGINT/SIGTERM meanwhile, this returns.
    /// Returns what ended the wait.
    static func wait(draining: @escaping @Sendable () async -> Int) async -> String {
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm, .sigquit)
        return await withTaskGroup(of: String.self) { group in
            let (drainRequests, requestDrain) = AsyncStream<Void>.makeStream()
            group.addTask {
                for await signal in signals {
                    if signal == .sigquit {
                        requestDrain.yield()
                        continue
                    }
                    return "\(signal)"
                }
                return "the end of the signal sequence"
            }
            group.addTask {
                for await _ in drainRequests {
                    Output.done(
                        "received SIGQUIT: draining — runs in progress finish, new runs wait for the next start (SIGTERM stops at once)",
                        json: ["draining": .bool(true)])
                    let left = await draining()
                    return left == 0 ? "SIGQUIT (drained)" : "SIGQUIT (\(left) run(s) still in progress)"
                }
                return "no drain"  // the stream ends once a signal has decided
            }
            let first = await group.next() ?? "a signal"
            requestDrain.finish()
            group.cancelAll()
            return first
        }
    }
}
