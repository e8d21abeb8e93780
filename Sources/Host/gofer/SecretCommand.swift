import ArgumentParser
import ExtensionSDK
import Foundation
import GoferHost

/// `gofer secret pipeline|global put|get|list|delete`.
struct SecretCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret", abstract: "Manage secrets: a pipeline's own, or global ones an admin shares with namespaces.",
        subcommands: [PipelineSecrets.self, GlobalSecrets.self])
}

/// Where a secret's value comes from. Never a plain argument: that lands in shell history.
struct SecretValueOptions: ParsableArguments {
    @Option(help: "Read the value from this file (any bytes).") var file: String?
    @Option(help: "The value itself. It lands in your shell history and process list; prefer stdin or --file.")
    var value: String?
    @Flag(help: "Keep a trailing newline (from stdin or --file) as part of the value; by default one is dropped.")
    var keepTrailingNewline = false

    func read() throws -> [UInt8] {
        if let value {
            if file != nil { throw ValidationError("give the value with --value or --file, not both") }
            return Array(value.utf8)
        }
        var bytes: [UInt8]
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
            bytes = Array(data)
        } else {
            if isatty(STDIN_FILENO) != 0 {
                FileHandle.standardError.write(Data("Enter the secret value, then Ctrl-D:\n".utf8))
            }
            bytes = Array(FileHandle.standardInput.readDataToEndOfFile())
        }
        // A trailing newline from `echo`, an editor or the terminal is not part of the secret,
        // whether it came on stdin or in a file (the same value either way).
        if !keepTrailingNewline { bytes = Self.droppingTrailingNewline(bytes) }
        if bytes.isEmpty {
            throw ValidationError(file.map { "\($0) is empty" } ?? "the value is empty; pipe it on stdin, or use --file")
        }
        return bytes
    }

    /// `bytes` without one trailing `\n` or `\r\n`.
    static func droppingTrailingNewline(_ bytes: [UInt8]) -> [UInt8] {
        var bytes = bytes
        if bytes.last == 0x0A {
            bytes.removeLast()
            if bytes.last == 0x0D { bytes.removeLast() }
        }
        return bytes
    }

    static func request(_ bytes: [UInt8], namespaces: [String]? = nil) -> PutSecretRequest {
        PutSecretRequest(bytes: bytes, namespaces: namespaces)
    }
}

/// Prints a revealed value as it is (binary values raw), or says how to reveal it.
func printSecret(_ answer: JSONValue, reveal: Bool, json: Bool) {
    if json { return print(answer.description) }
    guard reveal else {
        print("secret \(answer["name"]?.stringValue ?? "") exists; add --reveal to print its value")
        return
    }
    if let text = answer["value"]?.stringValue {
        print(text)
    } else if let b64 = answer["value_b64"]?.stringValue, let data = Data(base64Encoded: b64) {
        FileHandle.standardOutput.write(data)
    }
}

struct PipelineSecrets: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline", abstract: "A pipeline's own secrets, used as secret{{NAME}} in its task env.",
        subcommands: [Put.self, Get.self, List.self, Delete.self])

    static func path(_ options: ClientOptions, _ pipeline: String, _ name: String? = nil) -> String {
        Paths.pipeline(options.ns, pipeline) + "/secrets" + (name.map { "/" + APIClient.segment($0) } ?? "")
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Store a secret (value from stdin, --file or --value).")
        @OptionGroup var options: ClientOptions
        @Argument var pipeline: String
        @Argument var name: String
        @OptionGroup var source: SecretValueOptions

        func run() async throws {
            let value = try source.read()
            _ = try await cli {
                try await options.client.raw("PUT", PipelineSecrets.path(options, pipeline, name), request: SecretValueOptions.request(value))
            }
            Output.done(
                "stored secret \(name) of \(options.ns)/\(pipeline); use it as secret{{\(name)}}",
                json: ["stored": ["namespace": .string(options.ns), "pipeline": .string(pipeline), "name": .string(name)], "reference": .string("secret{{\(name)}}")])
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check a secret exists; print its value only with --reveal.")
        @OptionGroup var options: ClientOptions
        @Argument var pipeline: String
        @Argument var name: String
        @Flag(help: "Print the value.") var reveal = false

        func run() async throws {
            let answer = try await cli {
                try JSONParser().parse(
                    try await options.client.raw("GET", PipelineSecrets.path(options, pipeline, name) + (reveal ? "?reveal=true" : "")))
            }
            printSecret(answer, reveal: reveal, json: options.json)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Names of a pipeline's secrets (never values).")
        @OptionGroup var options: ClientOptions
        @Argument var pipeline: String

        func run() async throws {
            let answer = try await cli {
                try JSONParser().parse(try await options.client.raw("GET", PipelineSecrets.path(options, pipeline)))
            }
            if options.json { return print(answer.description) }
            let names = (answer["items"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
            if names.isEmpty { return print("pipeline \(options.ns)/\(pipeline) has no secrets") }
            Output.table(["NAME"], names.map { [$0] })
        }
    }

    struct Delete: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument var pipeline: String
        @Argument var name: String

        func run() async throws {
            _ = try await cli { try await options.client.raw("DELETE", PipelineSecrets.path(options, pipeline, name)) }
            Output.done(
                "deleted secret \(name) of \(options.ns)/\(pipeline)",
                json: ["deleted": ["namespace": .string(options.ns), "pipeline": .string(pipeline), "name": .string(name)]])
        }
    }
}

struct GlobalSecrets: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "global", abstract: "Admin secrets shared with namespaces, used as global_secret{{NAME}}.",
        subcommands: [Put.self, Get.self, List.self, Delete.self])

    static func path(_ name: String? = nil) -> String { "/api/secrets" + (name.map { "/" + APIClient.segment($0) } ?? "") }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Store a global secret (value from stdin, --file or --value).")
        @OptionGroup var options: ClientOptions
        @Argument var name: String
        @Option(help: "Namespaces that may use it, comma-separated patterns (team-*, default). Default: all.")
        var namespaces = "*"
        @OptionGroup var source: SecretValueOptions

        func run() async throws {
            let value = try source.read()
            let patterns = namespaces.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            _ = try await cli { try await options.client.raw("PUT", GlobalSecrets.path(name), request: SecretValueOptions.request(value, namespaces: patterns)) }
            Output.done(
                "stored global secret \(name) for namespaces \(namespaces); use it as global_secret{{\(name)}}",
                json: ["stored": ["name": .string(name), "namespaces": .array(patterns.map(JSONValue.string))], "reference": .string("global_secret{{\(name)}}")])
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check a global secret exists; print its value only with --reveal.")
        @OptionGroup var options: ClientOptions
        @Argument var name: String
        @Flag(help: "Print the value.") var reveal = false

        func run() async throws {
            let answer = try await cli {
                try JSONParser().parse(try await options.client.raw("GET", GlobalSecrets.path(name) + (reveal ? "?reveal=true" : "")))
            }
            printSecret(answer, reveal: reveal, json: options.json)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Global secrets and the namespaces allowed to use them.")
        @OptionGroup var options: ClientOptions
        func run() async throws {
            let list: ItemList<GlobalSecret> = try await cli { try await options.client.call("GET", GlobalSecrets.path()) }
            if options.json { return Output.json(list) }
            Output.table(
                ["NAME", "NAMESPACES", "UPDATED"],
                list.items.map { [$0.name, $0.namespaces.joined(separator: ","), Output.ago($0.updatedAt)] })
        }
    }

    struct Delete: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument var name: String

        func run() async throws {
            _ = try await cli { try await options.client.raw("DELETE", GlobalSecrets.path(name)) }
            Output.done("deleted global secret \(name)", json: ["deleted": ["name": .string(name)]])
        }
    }
}
