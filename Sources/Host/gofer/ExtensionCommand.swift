import ArgumentParser
import ExtensionSDK
import Foundation
import GoferHost

/// `gofer extension install|upgrade|uninstall|list|get|logs|restart|new`.
struct ExtensionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extension", abstract: "Install, upgrade and uninstall extensions by name from registries; start writing one.",
        subcommands: [Install.self, Upgrade.self, Uninstall.self, List.self, Get.self, Logs.self, Restart.self, New.self])

    static func path(_ name: String? = nil) -> String { "/api/extensions" + (name.map { "/" + APIClient.segment($0) } ?? "") }

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new extension project: a working handler with TODOs, a conformance test, a pack script with a registry index, a CI snippet, a README.",
            discussion: """
                The project passes gofer-conformance as generated (./test.sh). Swift projects depend on Gofer's \
                ExtensionSDK: --sdk-path points at a Gofer checkout, else the Gofer package's git URL is used. Python \
                projects use the Python SDK (pip install gofer-extension, or a checkout's Sources/ExtensionSDK/Python).
                """)

        @Argument(help: "The extension's name: lower-case letters, digits and dashes (e.g. slack-notify).") var name: String
        @Option(help: "trigger, task, scheduler or secrets.") var kind: ExtensionKind
        @Option(help: "swift or python.") var lang: ExtensionScaffold.Language = .swift
        @Option(help: "Where to write it (default: ./NAME); must not exist or be empty.") var dir: String?
        @Option(help: "Swift: a Gofer checkout to take ExtensionSDK from (default: the Gofer package's git URL).") var sdkPath: String?
        @Option(help: "The manifest's one-sentence summary (default: a TODO).") var summary: String?
        @Flag(help: "Print JSON instead of text.") var json = false

        func validate() throws {
            if let problem = ExtensionScaffold.problem(withName: name) { throw ValidationError("extension name \"\(name)\" \(problem)") }
            if let summary, summary.isEmpty || summary.contains("\n") { throw ValidationError("--summary must be one non-empty line") }
        }

        func run() throws {
            let sdk: ExtensionScaffold.SDKSource =
                sdkPath.map { .path(URL(fileURLWithPath: ($0 as NSString).expandingTildeInPath).standardizedFileURL.path) }
                ?? .url("https://github.com/gofer/gofer.git", from: "0.1.0")
            var scaffold = ExtensionScaffold(name: name, kind: kind, language: lang, sdk: sdk)
            if let summary { scaffold.summary = summary }
            let target = dir ?? name
            do { try scaffold.write(into: target) } catch {
                Output.error(ErrorText.wrapping("cannot write the project to \(target)", error))
                throw ExitCode.failure
            }
            let files = scaffold.files().map(\.path)
            Output.done(
                "wrote a \(lang.rawValue) \(kind.rawValue) extension \(name) to \(target) (\(files.count) files); next: cd \(target) && ./test.sh",
                json: ["directory": .string(target), "files": .array(files.map { .string($0) }), "executable": .string(scaffold.executable)])
        }
    }

    struct Install: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install NAME, NAME@1.2.3 or NAME@^1: fetched, checksum-verified, described, handshaken, then started.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "NAME[@VERSION|@^MAJOR]") var name: String
        @Option(name: .customLong("config"), help: "Admin configuration KEY=VALUE (repeatable); typed by the extension's schema.")
        var config: [String] = []
        @Option(help: "Admin configuration as a JSON object in a file.") var configFile: String?

        func run() async throws {
            var strings: [String: JSONValue] = [:]
            for pair in config {
                guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else {
                    throw ValidationError("--config \(pair): write KEY=VALUE")
                }
                strings[String(pair[..<eq])] = .string(String(pair[pair.index(after: eq)...]))
            }
            var request = InstallExtensionRequest(name: name, configStrings: strings)
            if let configFile {
                guard let data = FileManager.default.contents(atPath: configFile) else {
                    throw ValidationError("cannot read \(configFile)")
                }
                do { request.config = try JSONParser().parse(Array(data)) } catch {
                    throw ValidationError(ErrorText.wrapping("\(configFile) is not JSON", error))
                }
            }
            let info: ExtensionInfo = try await cli { try await options.client.call("POST", ExtensionCommand.path(), request: request) }
            if options.json { return Output.json(info) }
            print("installed \(info.name) \(info.version) (\(info.kind.rawValue)) from \(info.registry): \(info.status)")
            if info.config.objectValue?.isEmpty == false { print("config: \(info.config.description)") }
        }
    }

    struct Upgrade: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Upgrade online: the new version is started and handed the old one's subscriptions; on failure the old one keeps running.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "NAME[@VERSION|@^MAJOR]") var name: String
        @Flag(help: "Allow a new major version of the extension itself.") var allowMajor = false

        func run() async throws {
            guard let (n, request) = VersionRequest.split(name) else { throw ValidationError("\(name): write NAME, NAME@1.2.3 or NAME@^1") }
            let upgrade = UpgradeExtensionRequest(version: request == .latest ? nil : request.description, allowMajor: allowMajor)
            let r: ExtensionManager.UpgradeResult = try await cli {
                try await options.client.call("POST", ExtensionCommand.path(n) + "/upgrade", request: upgrade)
            }
            if options.json { return Output.json(r) }
            let major = r.newerMajor.map { "; \(r.name) \($0) is a new major version (possibly breaking settings): take it with `gofer extension upgrade \(r.name) --allow-major`" } ?? ""
            if !r.upgraded {
                return print("\(r.name) is already at \(r.to)" + (r.newerMajor == nil ? "; nothing to upgrade" : ", the newest with its major version" + major))
            }
            print("upgraded \(r.name) \(r.from) → \(r.to)" + (r.live ? "" : "; restart the server to run it") + major)
        }
    }

    struct Uninstall: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Uninstall an extension; pipelines using it are listed, then (with confirmation or --yes) disabled with an error.")
        @OptionGroup var options: ClientOptions
        @Argument var name: String
        @Flag(help: "Do not ask; disable the pipelines that use it.") var yes = false

        func run() async throws {
            var confirmed = yes
            if !confirmed {
                // Unconfirmed, the server removes nothing from an extension pipelines use and
                // names them; an unused one is simply removed.
                let pipelines: [String]
                do {
                    let done: UninstallResult = try await options.client.call("DELETE", ExtensionCommand.path(name))
                    if options.json { return Output.json(done) }
                    return print("uninstalled \(done.name)")
                } catch let e as APIError where e.code == "confirmation_required" {
                    pipelines = e.details.filter { $0.field == "pipelines" }.map(\.message)
                } catch {
                    _ = try await cli { throw error }
                    return
                }
                let list = pipelines.joined(separator: ", ")
                guard isatty(STDIN_FILENO) != 0 else {
                    Output.error("\(name) is used by \(list); they would be disabled. Rerun with --yes to confirm")
                    throw ExitCode.failure
                }
                print("\(name) is used by \(list); these pipelines will be disabled. Continue? [y/N] ", terminator: "")
                guard readLine()?.lowercased().hasPrefix("y") == true else { throw ExitCode.failure }
                confirmed = true
            }
            let r: UninstallResult = try await cli {
                try await options.client.call("DELETE", ExtensionCommand.path(name) + (confirmed ? "?yes=true" : ""))
            }
            if options.json { return Output.json(r) }
            print("uninstalled \(r.name)")
            for p in r.pipelines { print("  disabled pipeline \(p) (see `gofer pipeline errors \(p.pipeline)`)") }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Installed extensions: version, kind, health, uptime, restarts, subscriptions.")
        @OptionGroup var options: ClientOptions
        func run() async throws {
            let list: ItemList<ExtensionInfo> = try await cli { try await options.client.call("GET", ExtensionCommand.path()) }
            if options.json { return Output.json(list) }
            Output.table(
                ["NAME", "KIND", "VERSION", "STATUS", "HEALTH", "UP", "RESTARTS", "SUBSCRIPTIONS"],
                list.items.map {
                    [
                        $0.name, $0.kind.rawValue, $0.version, $0.status, $0.health ?? "-", $0.startedAt.map(Output.ago) ?? "-", String($0.restarts),
                        $0.subscriptions.map(String.init) ?? "-",
                    ]
                })
        }
    }

    struct Get: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument var name: String

        func run() async throws {
            let info: ExtensionInfo = try await cli { try await options.client.call("GET", ExtensionCommand.path(name)) }
            if options.json { return Output.json(info) }
            print("\(Output.color(info.name, "1")) \(info.version) — \(info.kind.rawValue)")
            print("status:        \(info.status)")
            print("health:        \(info.health ?? "-")")
            print("started:       \(info.startedAt.map(Output.ago) ?? "-")   restarts: \(info.restarts)")
            if let subs = info.subscriptions { print("subscriptions: \(subs)") }
            print("from:          \(info.registry) (\(info.source))")
            print("config:        \(info.config.description)")
        }
    }

    struct Restart: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop and start an extension the server runs: after it was marked failed, or to forget the requests it quarantined.",
            discussion:
                "Running jobs survive a scheduler's restart and are found again; triggers subscribe again. Needs extensions:write.")
        @OptionGroup var options: ClientOptions
        @Argument var name: String

        func run() async throws {
            let info: ExtensionInfo = try await cli { try await options.client.call("POST", ExtensionCommand.path(name) + "/restart") }
            if options.json { return Output.json(info) }
            print("restarted \(info.name) \(info.version): \(info.status)")
        }
    }

    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The extension's recent stderr (its own log), up to 64 KiB.")
        @OptionGroup var options: ClientOptions
        @Argument var name: String

        func run() async throws {
            let bytes = try await cli { try await options.client.raw("GET", ExtensionCommand.path(name) + "/logs") }
            if options.json {
                // JSON Lines: one {"extension", "line"} object per line.
                for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast(bytes.last == 0x0A ? 1 : 0) {
                    Output.line(["extension": .string(name), "line": .string(String(decoding: line, as: UTF8.self))])
                }
                return
            }
            FileHandle.standardOutput.write(Data(bytes))
        }
    }
}
