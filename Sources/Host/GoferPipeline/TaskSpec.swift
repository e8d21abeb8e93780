@_exported import enum GoferConfig.DependencyCondition
import ExtensionSDK
import GoferConfig

/// One task of a ``Pipeline``: a container, a shell command on the server's default image, or a
/// common task. Made with ``Container(_:image:command:file:line:)``, ``Shell(_:_:file:line:)`` or
/// ``CommonTask(_:extension:settings:file:line:)``, then changed with its modifiers.
public struct TaskSpec: Sendable {
    var fields: [String: JSONValue]
    var dependsOn: [(String, DependencyCondition)] = []
    let at: SourceLocation

    init(_ fields: [String: JSONValue], file: StaticString, line: UInt) {
        self.fields = fields
        self.at = SourceLocation(file: file, line: line)
    }

    /// Runs once each of `tasks` has ended as `when` says (default: succeeded).
    public func after(_ tasks: String..., when: DependencyCondition = .success) -> TaskSpec {
        var copy = self
        copy.dependsOn += tasks.map { ($0, when) }
        return copy
    }

    /// Environment variables; values may be secret references (``Secret``).
    public func env(_ variables: [String: String]) -> TaskSpec {
        with("env", .object((fields["env"]?.objectValue ?? [:]).merging(variables.mapValues(JSONValue.string)) { _, new in new }))
    }

    /// The image's entrypoint, replaced.
    public func entrypoint(_ arguments: [String]) -> TaskSpec { with("entrypoint", .array(arguments.map(JSONValue.string))) }
    /// How long it may run (`30m`; 5m–8h by the server's settings).
    public func timeout(_ duration: String) -> TaskSpec { with("timeout", .string(duration)) }
    /// CPU limit in cores.
    public func cpu(_ cores: Double) -> TaskSpec { with("cpu", .double(cores)) }
    /// Memory limit: `512MB`, `2GB`, `1GiB`.
    public func memory(_ amount: String) -> TaskSpec { with("memory", .string(amount)) }
    /// Store none of its output.
    public func logging(_ on: Bool) -> TaskSpec { with("logging", .bool(on)) }
    /// Where a cluster scheduler may run it, in the scheduler's terms (docs/schedulers.md).
    public func placement(_ placement: JSONValue) -> TaskSpec { with("placement", placement) }
    /// What it does, for people.
    public func description(_ text: String) -> TaskSpec { with("description", .string(text)) }

    private func with(_ key: String, _ value: JSONValue) -> TaskSpec {
        var copy = self
        copy.fields[key] = value
        return copy
    }

    var document: JSONValue {
        var doc = fields
        if !dependsOn.isEmpty {
            var conditions: [String: JSONValue] = [:]
            for (task, when) in dependsOn { conditions[task] = .string(when.rawValue) }
            doc["depends_on"] = .object(conditions)
        }
        return .object(doc)
    }
}

/// A task that runs `image` (with `command` replacing the image's CMD).
public func Container(_ id: String, image: String, command: [String]? = nil, file: StaticString = #filePath, line: UInt = #line) -> TaskSpec {
    var fields: [String: JSONValue] = ["id": .string(id), "image": .string(image)]
    if let command { fields["command"] = .array(command.map(JSONValue.string)) }
    return TaskSpec(fields, file: file, line: line)
}

/// A task that runs a shell command on the server's default image (`run:`).
public func Shell(_ id: String, _ script: String, file: StaticString = #filePath, line: UInt = #line) -> TaskSpec {
    TaskSpec(["id": .string(id), "run": .string(script)], file: file, line: line)
}

/// A task done by an installed common-task extension, with its settings.
public func CommonTask(
    _ id: String, extension name: String, settings: JSONValue = .emptyObject, file: StaticString = #filePath, line: UInt = #line
) -> TaskSpec {
    TaskSpec(["id": .string(id), "extension": .string(name), "settings": settings], file: file, line: line)
}

/// Secret references for env values and settings: resolved by the server when a task starts,
/// never written into the pipeline.
public enum Secret {
    /// A secret of this pipeline: `secret{{key}}`.
    public static func pipeline(_ key: String) -> String { "secret{{\(key)}}" }
    /// A global secret the pipeline's namespace may use: `global_secret{{key}}`.
    public static func global(_ key: String) -> String { "global_secret{{\(key)}}" }
}

