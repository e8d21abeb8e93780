import ArgumentParser
import ExtensionClient
import ExtensionSDK
import Foundation
import GoferHost

#if canImport(Glibc)
    import Glibc
#endif

/// `gofer init`: a first pipeline config, from a few questions on a terminal or from flags.
struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a starter pipeline config (asks a few questions on a terminal; flags otherwise).",
        discussion: "The file is checked with the same validation `gofer pipeline apply` uses before it is written; an existing file is kept unless --force.")

    @Argument(help: "The file to write.") var file: String = "gofer.yaml"
    @Option(help: "Pipeline id (default: the current directory's name).") var id: String?
    @Option(help: "Container image of the build task.") var image: String?
    @Option(help: "Shell command the build task runs.") var command: String?
    @Option(help: "When it runs by itself: none, an interval (every:15m) or a cron schedule (cron:'0 3 * * *').") var trigger: String?
    @Flag(help: "Replace the file if it exists.") var force = false
    @Flag(help: "Print JSON instead of text.") var json = false

    enum Schedule: Equatable {
        case none
        case every(String)
        case cron(String)

        init(_ text: String) throws {
            let t = text.trimmingCharacters(in: .whitespaces)
            if t.isEmpty || t == "none" {
                self = .none
            } else if t.hasPrefix("every:") {
                let d = String(t.dropFirst(6))
                guard DurationText.parse(d) != nil else { throw ValidationError("--trigger \(text): \"\(d)\" is not a duration; write e.g. every:15m") }
                self = .every(d)
            } else if t.hasPrefix("cron:") {
                self = .cron(String(t.dropFirst(5)))
            } else {
                throw ValidationError("--trigger \(text): write none, every:DURATION (every:15m) or cron:SCHEDULE (cron:'0 3 * * *')")
            }
        }
    }

    func run() async throws {
        do {
            try await write()
        } catch let e as ValidationError {
            Output.error(e.message, exitCode: ExitCode.validationFailure.rawValue)
            throw ExitCode.validationFailure
        }
    }

    func write() async throws {
        let interactive = isatty(STDIN_FILENO) == 1 && isatty(STDOUT_FILENO) == 1 && !json
        let directory = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).lastPathComponent
        let suggested = Self.pipelineID(from: directory)
        let id = try self.id ?? (interactive ? Self.ask("Pipeline id", default: suggested) : suggested)
        let image = try self.image ?? (interactive ? Self.ask("Image of the build task", default: "busybox:latest") : "busybox:latest")
        let command = try self.command ?? (interactive ? Self.ask("Command it runs", default: "echo building") : "echo building")
        let schedule = try Schedule(self.trigger ?? (interactive ? Self.ask("Run by itself (none, every:15m, cron:'0 3 * * *')", default: "none") : "none"))

        if case .cron(let expression) = schedule { try await Self.checkCron(expression) }
        let text = Self.render(id: id, image: image, command: command, schedule: schedule)
        // The same checks as `pipeline apply`, so the file applies as written.
        do {
            _ = try PipelineConfigLoader().load(text, file: file)
        } catch {
            throw ValidationError("the answers do not make a valid pipeline:\n" + error.problems.map { "  \($0.path): \($0.message)" }.joined(separator: "\n"))
        }
        if FileManager.default.fileExists(atPath: file) && !force {
            Output.error("\(file) exists; keep it, or pass --force to replace it")
            throw ExitCode.failure
        }
        do {
            try text.write(toFile: file, atomically: true, encoding: .utf8)
        } catch {
            Output.error(ErrorText.wrapping("cannot write \(file)", error))
            throw ExitCode.failure
        }
        Output.done(
            "wrote \(file) (pipeline \(id)); apply it with: gofer pipeline apply \(file)",
            json: ["file": .string(file), "pipeline": .string(id)])
    }

    /// The schedule checked by the cron trigger itself — the bundled extension beside this
    /// binary, asked with `trigger/validate` as apply asks it — so the file applies as written.
    /// Without the extension (a CLI installed alone) the server checks it at apply.
    static func checkCron(_ expression: String) async throws {
        let executable = GoferServer.executableDirectory + "/gofer-trigger-cron"
        guard FileManager.default.isExecutableFile(atPath: executable) else { return }
        let cron = ExtensionSupervisor(name: "cron", launch: ExtensionLaunch(executable: executable), options: InitializeOptions(kind: .trigger))
        var diagnostics: [Diagnostic] = []
        do {
            _ = try await cron.start()
            diagnostics = try await cron.call(ProtocolCalls.triggerValidate, ParamsCheck(params: ["schedule": .string(expression)]), timeout: .seconds(10)).diagnostics
        } catch let error as ProtocolError where error.code == .invalidParams {
            diagnostics = error.diagnostics
        } catch {
            await cron.stop()
            return  // could not ask: apply will
        }
        await cron.stop()
        let errors = diagnostics.filter { $0.severity == "error" }.map(\.message)
        if !errors.isEmpty {
            throw ValidationError("--trigger cron:\(expression): " + errors.joined(separator: "; ") + " (write e.g. cron:'0 3 * * *')")
        }
    }

    /// A valid pipeline id from a directory name: lower case, other characters as dashes.
    static func pipelineID(from name: String) -> String {
        var id = String(name.lowercased().map { $0.isLetter && $0.isASCII || $0.isNumber && $0.isASCII || $0 == "_" ? $0 : "-" })
        while id.hasPrefix("-") || id.hasPrefix("_") { id.removeFirst() }
        id = String(id.prefix(63))
        return id.isEmpty ? "my-pipeline" : id
    }

    /// Asks on the terminal; an empty answer takes the default. End of input cancels.
    static func ask(_ question: String, default value: String) throws -> String {
        print("\(question) [\(value)]: ", terminator: "")
        fflushStdout()
        guard let line = readLine() else { throw ExitCode.failure }
        let answer = line.trimmingCharacters(in: .whitespaces)
        return answer.isEmpty ? value : answer
    }

    static func fflushStdout() { FileHandle.standardOutput.synchronizeFile() }

    static func quoted(_ s: String) -> String {
        String(decoding: JSONValue.string(s).serialized(), as: UTF8.self)
    }

    static func render(id: String, image: String, command: String, schedule: Schedule) -> String {
        var out = """
            # A Gofer pipeline: tasks run as containers, in the order their depends_on give.
            # Reference: docs/pipelines.md. Apply with: gofer pipeline apply <this file>
            id: \(quoted(id))
            tasks:
              - id: build
                image: \(quoted(image))
                run: \(quoted(command))
              - id: test
                image: \(quoted(image))
                run: "echo testing"
                depends_on: [build]    # runs once build succeeded

            """
        switch schedule {
        case .none:
            out += "# triggers:                      # uncomment to run it by itself\n#   - { trigger: interval, settings: { every: 1h } }\n"
        case .every(let d):
            out += "triggers:\n  - { trigger: interval, settings: { every: \(quoted(d)) } }\n"
        case .cron(let c):
            out += "triggers:\n  - { trigger: cron, settings: { schedule: \(quoted(c)) } }\n"
        }
        return out
    }
}
