import ExtensionSDK
import Foundation
import GoferConfig

/// A pipeline written in Swift: the same document as a YAML config, built with types, checked
/// by the same loader `gofer pipeline apply` uses, each problem reported at the Swift line that
/// wrote the part it is about.
///
/// ```swift
/// import GoferPipeline
///
/// let pipeline = Pipeline("website", description: "Build, test and publish the site.") {
///     Container("build", image: "node:22", command: ["npm", "run", "build"])
///     Shell("test", "npm test").after("build")
///     Shell("lint", "npm run lint").after("build")
///     Container("publish", image: "alpine:3", command: ["sh", "-c", "./publish.sh"])
///         .env(["TOKEN": Secret.pipeline("publish_token")])
///         .after("test", "lint")
///     Shell("tell-oncall", "echo the site is broken").after("test", when: .failure)
/// }
/// .every("1h")
/// .hook("github-status")
///
/// pipeline.emit()   // prints the JSON document: `swift run website | gofer pipeline apply -`
/// ```
public struct Pipeline: Sendable {
    var id: String
    var fields: [String: JSONValue] = [:]
    var tasks: [TaskSpec]
    var triggers: [(value: JSONValue, at: SourceLocation)] = []
    var hooks: [(value: JSONValue, at: SourceLocation)] = []
    let at: SourceLocation

    /// A pipeline with `id` (1–63 of a-z 0-9 - _) and its tasks.
    public init(
        _ id: String, name: String? = nil, description: String? = nil, file: StaticString = #filePath, line: UInt = #line,
        @TaskListBuilder tasks: () -> [TaskSpec]
    ) {
        self.id = id
        self.tasks = tasks()
        self.at = SourceLocation(file: file, line: line)
        if let name { fields["name"] = .string(name) }
        if let description { fields["description"] = .string(description) }
    }

    /// Runs of this pipeline in progress at once (0: no limit).
    public func parallelism(_ runs: Int) -> Pipeline { with("parallelism", .int(Int64(runs))) }
    /// Each run gets its own API token as GOFER_API_TOKEN.
    public func injectAPIToken(_ on: Bool = true) -> Pipeline { with("inject_api_token", .bool(on)) }
    /// Versions to keep (default: the server's keep_versions).
    public func keepVersions(_ n: Int) -> Pipeline { with("keep_versions", .int(Int64(n))) }

    /// A run every `duration` (`15m`, `1h`): the interval trigger.
    public func every(_ duration: String, label: String? = nil, file: StaticString = #filePath, line: UInt = #line) -> Pipeline {
        trigger("interval", label: label, settings: ["every": .string(duration)], file: file, line: line)
    }

    /// A run on a cron schedule (`0 3 * * *`): the cron trigger.
    public func cron(_ schedule: String, label: String? = nil, file: StaticString = #filePath, line: UInt = #line) -> Pipeline {
        trigger("cron", label: label, settings: ["schedule": .string(schedule)], file: file, line: line)
    }

    /// Any installed trigger, with its settings.
    public func trigger(
        _ name: String, label: String? = nil, settings: JSONValue = .emptyObject, file: StaticString = #filePath, line: UInt = #line
    ) -> Pipeline {
        var copy = self
        var use: JSONValue = ["trigger": .string(name), "settings": settings]
        if let label { use["label"] = .string(label) }
        copy.triggers.append((use, SourceLocation(file: file, line: line)))
        return copy
    }

    /// A hook: a common task told when each run starts and ends (a commit status, an alert).
    public func hook(
        _ extensionName: String, label: String? = nil, settings: JSONValue = .emptyObject, file: StaticString = #filePath, line: UInt = #line
    ) -> Pipeline {
        var copy = self
        var use: JSONValue = ["extension": .string(extensionName)]
        if settings != .emptyObject { use["settings"] = settings }
        if let label { use["label"] = .string(label) }
        copy.hooks.append((use, SourceLocation(file: file, line: line)))
        return copy
    }

    private func with(_ key: String, _ value: JSONValue) -> Pipeline {
        var copy = self
        copy.fields[key] = value
        return copy
    }

    /// The pipeline document, as `gofer pipeline apply` takes it (JSON).
    public var document: JSONValue {
        var doc = fields
        doc["id"] = .string(id)
        doc["tasks"] = .array(tasks.map(\.document))
        if !triggers.isEmpty { doc["triggers"] = .array(triggers.map(\.value)) }
        if !hooks.isEmpty { doc["hooks"] = .array(hooks.map(\.value)) }
        return .object(doc)
    }

    /// What apply would refuse, each at the Swift line that wrote its part. The checks are the
    /// server's own loader; a trigger's or common task's settings are checked by the extension
    /// itself when the pipeline is applied.
    public func problems() -> [PipelineProblem] {
        do {
            _ = try PipelineConfigLoader().load(document.description, file: "pipeline.json", format: .json)
            return []
        } catch {
            return error.problems.map { PipelineProblem(path: $0.path, message: $0.message, at: location(of: $0.path)) }
        }
    }

    /// Where the part at a JSON Pointer `path` was written.
    func location(of path: String) -> SourceLocation {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count >= 2, let index = Int(parts[1]), index >= 0 else { return at }
        switch parts[0] {
        case "tasks" where index < tasks.count: return tasks[index].at
        case "triggers" where index < triggers.count: return triggers[index].at
        case "hooks" where index < hooks.count: return hooks[index].at
        default: return at
        }
    }

    /// Prints the document (JSON) on stdout for `gofer pipeline apply -`; or, when apply would
    /// refuse it, every problem on stderr as `file:line: path: message` and exits 1.
    public func emit() {
        let found = problems()
        guard found.isEmpty else {
            for p in found { FileHandle.standardError.write(Data("\(p)\n".utf8)) }
            exit(1)
        }
        FileHandle.standardOutput.write(Data((document.description + "\n").utf8))
    }
}

/// Where a part of a pipeline was written in Swift.
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let line: UInt

    init(file: StaticString, line: UInt) {
        self.file = "\(file)"
        self.line = line
    }

    public var description: String { "\(file):\(line)" }
}

/// One thing apply would refuse: the field (a JSON Pointer), why, and the line that wrote it.
public struct PipelineProblem: Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let message: String
    public let at: SourceLocation

    /// `file:line: path: message`, as compilers print them.
    public var description: String { "\(at): \(path.isEmpty ? "" : path + ": ")\(message)" }
}

/// Collects the tasks written in a ``Pipeline``'s closure.
@resultBuilder
public enum TaskListBuilder {
    public static func buildExpression(_ task: TaskSpec) -> [TaskSpec] { [task] }
    public static func buildExpression(_ tasks: [TaskSpec]) -> [TaskSpec] { tasks }
    public static func buildBlock(_ parts: [TaskSpec]...) -> [TaskSpec] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [TaskSpec]?) -> [TaskSpec] { part ?? [] }
    public static func buildEither(first: [TaskSpec]) -> [TaskSpec] { first }
    public static func buildEither(second: [TaskSpec]) -> [TaskSpec] { second }
    public static func buildArray(_ parts: [[TaskSpec]]) -> [TaskSpec] { parts.flatMap { $0 } }
}
