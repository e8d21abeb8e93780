import ArgumentParser
import ExtensionSDK
import Foundation
import GoferHost
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `gofer object pipeline|run put|get|list|delete`.
struct ObjectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "object",
        abstract: "Store and fetch objects: a pipeline's (kept across runs, oldest evicted at the limit) or a run's (expire with old runs).",
        subcommands: [PipelineObjects.self, RunObjects.self])
}

/// Where an object command points: a pipeline, or one of its runs.
protocol ObjectScopeArguments: ParsableArguments {
    var options: ClientOptions { get }
    var pipeline: String { get }
    var base: String { get }
    var scopeName: String { get }
}

struct PipelineScope: ObjectScopeArguments {
    @OptionGroup var options: ClientOptions
    @Argument(help: "The pipeline.") var pipeline: String
    var base: String { Paths.pipeline(options.ns, pipeline) + "/objects" }
    var scopeName: String { "pipeline \(options.ns)/\(pipeline)" }
}

struct RunScope: ObjectScopeArguments {
    @OptionGroup var options: ClientOptions
    @Argument(help: "The pipeline.") var pipeline: String
    @Argument(help: "The run number.") var run: Int
    var base: String { Paths.run(options.ns, pipeline, run) + "/objects" }
    var scopeName: String { "run \(options.ns)/\(pipeline)#\(run)" }
    func validate() throws { guard run > 0 else { throw ValidationError("the run number must be positive") } }
}

/// Bytes moved so far, on stderr when it is a terminal (at most five times a second).
final class TransferProgress: Sendable {
    private let state = Mutex<(shown: ContinuousClock.Instant, bytes: Int64)>((.now, 0))
    let total: Int64?
    let enabled = isatty(2) == 1

    init(total: Int64?) { self.total = total }

    func update(_ bytes: Int64) {
        guard enabled else { return }
        let show = state.withLock { s -> Bool in
            s.bytes = bytes
            guard ContinuousClock.now - s.shown > .milliseconds(200) else { return false }
            s.shown = .now
            return true
        }
        if show { draw(bytes) }
    }

    func finish() {
        guard enabled else { return }
        draw(state.withLock { $0.bytes })
        FileHandle.standardError.write(Data("\n".utf8))
    }

    private func draw(_ bytes: Int64) {
        let text = total.map { "\(Self.size(bytes)) / \(Self.size($0)) (\($0 > 0 ? bytes * 100 / $0 : 100)%)" } ?? Self.size(bytes)
        FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
    }

    static func size(_ n: Int64) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var v = Double(n)
        var i = 0
        while v >= 1024 && i < units.count - 1 {
            v /= 1024
            i += 1
        }
        return i == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[i])
    }
}

/// The four object commands, for one kind of scope.
struct ObjectCommands<Scope: ObjectScopeArguments> {
    struct Put: AsyncParsableCommand {
        static var configuration: CommandConfiguration {
            CommandConfiguration(abstract: "Store an object from a file or stdin (streamed; any size up to the server's limit).")
        }
        @OptionGroup var scope: Scope
        @Argument(help: "The object's key: letters, digits, '.', '_' or '-'.") var key: String
        @Option(name: .shortAndLong, help: "Read from this file instead of stdin.") var file: String?

        func run() async throws {
            let fd: Int32
            var length: Int64?
            if let file {
                fd = open(file, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw ValidationError("cannot read \(file): \(String(cString: strerror(errno)))") }
                var st = stat()
                if fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG { length = Int64(st.st_size) }
            } else {
                if isatty(STDIN_FILENO) != 0 { throw ValidationError("pipe the object on stdin, or give --file") }
                fd = STDIN_FILENO
            }
            defer { if file != nil { close(fd) } }
            let progress = TransferProgress(total: length)
            let answer = try await cli {
                try await scope.options.client.upload(
                    "PUT", scope.base + "/" + APIClient.segment(key), body: FileChunks(fd: fd, progress: progress.update), length: length)
            }
            progress.finish()
            if scope.options.json { return print(String(decoding: answer, as: UTF8.self)) }
            let info = (try? JSONParser().parse(answer)) ?? .emptyObject
            print(
                "stored \(key) in \(scope.scopeName): \(TransferProgress.size(info["size"]?.intValue ?? 0)), sha256 \(info["sha256"]?.stringValue ?? "?")")
        }
    }

    struct Get: AsyncParsableCommand {
        static var configuration: CommandConfiguration {
            CommandConfiguration(abstract: "Write an object to stdout or a file; its SHA-256 is checked.")
        }
        @OptionGroup var scope: Scope
        @Argument var key: String
        @Option(name: .shortAndLong, help: "Write to this file instead of stdout (replaced only once the download checks out).")
        var output: String?

        func run() async throws {
            if output == nil && scope.options.json {
                throw ValidationError("--json needs --output FILE: stdout then carries the JSON summary, not the object's bytes")
            }
            if output == nil && isatty(STDOUT_FILENO) != 0 {
                throw ValidationError("stdout is a terminal: give --output FILE, or pipe it (… | tar x)")
            }
            let temporary = output.map { $0 + ".part-\(getpid())" }
            let fd = try temporary.map { path -> Int32 in
                let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw ValidationError("cannot write \(path): \(String(cString: strerror(errno)))") }
                return fd
            } ?? STDOUT_FILENO
            let progress = TransferProgress(total: nil)
            var written: Int64 = 0
            do {
                try await cli {
                    try await scope.options.client.download(scope.base + "/" + APIClient.segment(key)) { bytes in
                        try Self.writeAll(fd, bytes)
                        written += Int64(bytes.count)
                        if output != nil { progress.update(written) }
                    }
                }
            } catch {
                if let temporary {
                    close(fd)
                    unlink(temporary)
                }
                throw error
            }
            if let temporary, let output {
                fsync(fd)
                close(fd)
                guard rename(temporary, output) == 0 else { throw ValidationError("cannot move the download to \(output): \(String(cString: strerror(errno)))") }
                progress.finish()
                if scope.options.json { Output.line(["key": .string(key), "size": .int(written), "output": .string(output)]) }
            }
        }

        static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw APIError(status: 0, code: "write_failed", message: "cannot write the object: \(String(cString: strerror(errno)))")
                }
                offset += n
            }
        }
    }

    struct List: AsyncParsableCommand {
        static var configuration: CommandConfiguration { CommandConfiguration(abstract: "The objects, with size, age and SHA-256.") }
        @OptionGroup var scope: Scope

        func run() async throws {
            let answer = try await cli { try JSONParser().parse(try await scope.options.client.raw("GET", scope.base)) }
            if scope.options.json { return print(answer.description) }
            let items = answer["items"]?.arrayValue ?? []
            if items.isEmpty { return print("\(scope.scopeName) has no objects") }
            Output.table(
                ["KEY", "SIZE", "CREATED", "BY", "SHA256"],
                items.map {
                    [
                        $0["key"]?.stringValue ?? "", TransferProgress.size($0["size"]?.intValue ?? 0),
                        Output.ago($0["created_at"]?.stringValue.flatMap { try? Date($0, strategy: .iso8601) }), $0["created_by"]?.stringValue ?? "",
                        String(($0["sha256"]?.stringValue ?? "").prefix(12)),
                    ]
                })
        }
    }

    struct Delete: AsyncParsableCommand {
        static var configuration: CommandConfiguration { CommandConfiguration(abstract: "Delete an object.") }
        @OptionGroup var scope: Scope
        @Argument var key: String

        func run() async throws {
            _ = try await cli { try await scope.options.client.raw("DELETE", scope.base + "/" + APIClient.segment(key)) }
            if scope.options.json { return print(#"{"deleted":\#(JSONValue.string(key).description)}"#) }
            print("deleted \(key) from \(scope.scopeName)")
        }
    }
}

struct PipelineObjects: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline", abstract: "A pipeline's objects, kept across runs (tasks: pipeline_object{{KEY}}).",
        subcommands: [
            ObjectCommands<PipelineScope>.Put.self, ObjectCommands<PipelineScope>.Get.self, ObjectCommands<PipelineScope>.List.self,
            ObjectCommands<PipelineScope>.Delete.self,
        ])
}

struct RunObjects: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "A run's objects, gone once the run is old (tasks: run_object{{KEY}}).",
        subcommands: [
            ObjectCommands<RunScope>.Put.self, ObjectCommands<RunScope>.Get.self, ObjectCommands<RunScope>.List.self,
            ObjectCommands<RunScope>.Delete.self,
        ])
}
