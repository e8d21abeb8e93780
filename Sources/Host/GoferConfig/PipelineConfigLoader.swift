import ExtensionSDK
import Foundation
import Yams

/// Turns pipeline config text (YAML or JSON) into a validated ``PipelineConfig``, reporting every
/// problem at once with file, line and field path.
///
/// YAML is read as a node tree (never untyped `Yams.load`, which turns `1.10` into 1.1 and `yes`
/// into true) and converted to JSON guided by the pipeline schema, so a string field keeps the
/// text the user wrote. The structure is checked with the same JSON Schema validator extensions
/// use; meaning (cycles, dangling dependencies, durations) is checked after.
public struct PipelineConfigLoader: Sendable {
    public enum Format: String, Sendable, CaseIterable { case yaml, json, toml }

    /// Largest config accepted.
    public static let maxBytes = 1024 * 1024
    /// Bounds of a task's timeout (server settings).
    public var minTaskTimeout: Duration
    public var maxTaskTimeout: Duration
    /// The image of tasks that give only `run:` (server setting `default_task_image`).
    public var defaultImage: String
    /// What a task may ask for (server settings `task_cpu_max`, `task_memory_max`): a config
    /// asking for more is refused at apply, so no scheduler is ever handed a value it cannot run.
    public var limits: TaskResourceLimits

    public init(
        minTaskTimeout: Duration = .seconds(300), maxTaskTimeout: Duration = .seconds(8 * 3600), defaultImage: String = "busybox:latest",
        limits: TaskResourceLimits = TaskResourceLimits()
    ) {
        self.minTaskTimeout = minTaskTimeout
        self.maxTaskTimeout = maxTaskTimeout
        self.defaultImage = defaultImage
        self.limits = limits
    }

    /// Guesses the format from a file name (`.json`, `.toml`; anything else YAML).
    public static func format(forFile name: String) -> Format {
        let lower = name.lowercased()
        if lower.hasSuffix(".json") { return .json }
        if lower.hasSuffix(".toml") { return .toml }
        return .yaml
    }

    /// Namespace, pipeline, task, trigger and role ids: 1–63 lower-case letters, digits, `-` or
    /// `_`, starting with a letter or digit. ``isIdentifier(_:)`` checks the same without a regex
    /// engine (it runs on every API request).
    public static let idPattern = "^[a-z0-9][a-z0-9_-]{0,62}$"

    /// Whether `value` matches ``idPattern``.
    public static func isIdentifier(_ value: String) -> Bool {
        var count = 0
        for b in value.utf8 {
            count += 1
            guard count <= 63 else { return false }
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): continue
            case UInt8(ascii: "-"), UInt8(ascii: "_"): if count == 1 { return false }
            default: return false
            }
        }
        return count > 0
    }

    /// The JSON Schema of a pipeline config: every loaded config is checked against it (docs/pipelines.md describes the format).
    public static let schema: JSONSchema = {
        let id = JSONSchema(["type": "string", "pattern": .string(idPattern)])
        let strings = JSONSchema.array(of: .string())
        let task = JSONSchema.object(
            [
                "id": id,
                "description": .string(),
                "image": .string(minLength: 1),
                "run": .string(minLength: 1),
                "extension": JSONSchema(["type": "string", "pattern": .string(idPattern)]),
                "settings": JSONSchema(["type": "object"]),
                "registry_auth": .object(
                    ["username": .string(minLength: 1), "password": .string(writeOnly: true)], required: ["username", "password"]),
                "entrypoint": strings,
                "command": strings,
                "env": .map(of: .string()),
                "depends_on": JSONSchema([
                    "oneOf": [
                        ["type": "object", "additionalProperties": ["enum": ["success", "failure", "any"]]],
                        ["type": "array", "items": ["type": "string"]],
                    ]
                ]),
                "timeout": .string(description: "e.g. 30m, 2h"),
                "cpu": JSONSchema(["type": "number", "exclusiveMinimum": 0]),
                "memory": JSONSchema(["oneOf": [["type": "string"], ["type": "integer", "minimum": .int(Int64(TaskResourceLimits.minMemoryMB))]]]),
                "logging": .boolean(),
                "inject_api_token": .boolean(),
                "placement": JSONSchema([
                    "type": "object",
                    "description": "Where the scheduler runs the task, in its own terms; checked against the selected scheduler's params schema.",
                ]),
            ], required: ["id"])
        let hook = JSONSchema.object(
            [
                "extension": JSONSchema(["type": "string", "pattern": .string(idPattern)]),
                "label": JSONSchema(["type": "string", "pattern": .string(idPattern)]),
                "settings": JSONSchema(["type": "object"]),
            ], required: ["extension"])
        return .object(
            [
                "id": id,
                "name": .string(),
                "description": .string(),
                "parallelism": .integer(minimum: 0),
                "inject_api_token": .boolean(),
                "logging": .boolean(),
                "keep_versions": .integer(minimum: 1),
                "tasks": JSONSchema(["type": "array", "minItems": 1, "items": task.json]),
                "hooks": JSONSchema.array(of: hook),
                "triggers": JSONSchema.array(
                    of: .object(
                        [
                            "trigger": JSONSchema(["type": "string", "pattern": .string(idPattern)]),
                            "label": JSONSchema(["type": "string", "pattern": .string(idPattern)]),
                            "settings": JSONSchema(["type": "object"]),
                        ], required: ["trigger"])),
            ], required: ["id", "tasks"])
    }()

    /// Loads a config. `file` names the source in error messages.
    public func load(_ text: String, file: String, format: Format? = nil) throws(ConfigError) -> PipelineConfig {
        try loadLocated(text, file: file, format: format).config
    }

    /// Finds where a JSON Pointer path of a loaded config was written (file:line), for problems
    /// found after loading (trigger settings are checked against the trigger's own schema).
    public struct Locator: Sendable {
        let file: String
        let marks: [String: (Int, Int)]

        public func problem(_ path: String, _ message: String) -> ConfigProblem {
            var p = path
            while !p.isEmpty && marks[p] == nil { p = String(p[..<(p.lastIndex(of: "/") ?? p.startIndex)]) }
            let mark = marks[p]
            return ConfigProblem(file: file, line: mark?.0, column: mark?.1, path: path, message: message)
        }
    }

    /// Loads a config and keeps where each part was written.
    public func loadLocated(_ text: String, file: String, format: Format? = nil) throws(ConfigError) -> (
        config: PipelineConfig, locator: Locator
    ) {
        let format = format ?? Self.format(forFile: file)
        if text.utf8.count > Self.maxBytes {
            throw ConfigError(problems: [
                ConfigProblem(
                    file: file, path: "", message: "the config is \(text.utf8.count) bytes; the limit is \(Self.maxBytes) bytes (1 MiB)")
            ])
        }
        var marks: [String: (Int, Int)] = [:]
        // Every problem at once: what the YAML converter found, what the schema finds and what
        // the meaning checks find all go into one list (a field of the wrong shape does not hide
        // a cycle elsewhere).
        var problems: [ConfigProblem] = []
        let value: JSONValue
        switch format {
        case .json:
            do {
                value = try JSONParser().parse(text)
                marks = JSONPositions.marks(in: text)
            } catch {
                let (line, column) = Self.lineColumn(of: error.offset, in: text)
                throw ConfigError(problems: [
                    ConfigProblem(file: file, line: line, column: column, path: "", message: "invalid JSON: \(error.reason)")
                ])
            }
        case .toml:
            var reader = TOMLReader(text)
            do {
                value = try reader.read()
            } catch {
                throw ConfigError(problems: [
                    ConfigProblem(file: file, line: error.line, column: error.column, path: "", message: "invalid TOML: \(error.message)")
                ])
            }
            marks = reader.marks
        case .yaml:
            // The parser must outlive the conversion: Yams holds nodes' anchors weakly and the
            // parser keeps them, and the anchors are how the converter refuses aliases before
            // expanding them.
            let parser: Parser
            let node: Node?
            do {
                parser = try Parser(yaml: text)
                node = try parser.singleRoot()
            } catch {
                throw ConfigError(problems: [Self.yamlProblem(error, file: file)])
            }
            guard let node else { throw ConfigError(problems: [ConfigProblem(file: file, path: "", message: "the file is empty")]) }
            var converter = YAMLConverter(schema: Self.schema, file: file)
            value = withExtendedLifetime(parser) { converter.convert(node, schema: Self.schema.json, path: "") }
            marks = converter.marks
            problems += converter.problems
        }
        let locator = Locator(file: file, marks: marks)
        let nul = value.pathsWithNUL()
        if !nul.isEmpty {
            throw ConfigError(problems: nul.map { locator.problem($0.replacingOccurrences(of: "\u{0}", with: "\\u0000"), "NUL characters (\\u0000) are not allowed") })
        }
        // The converter already named the fields it could not convert; the schema would name them again.
        let converted = Set(problems.map(\.path))
        problems += Self.schema.validate(value).map { locator.problem($0.path, $0.message) }.filter { !converted.contains($0.path) }
        for (i, t) in (value["tasks"]?.arrayValue ?? []).enumerated() where t.objectValue != nil {
            if t["image"] == nil && t["run"] == nil && t["extension"] == nil {
                problems.append(
                    locator.problem(
                        "/tasks/\(i)/image",
                        "required field is missing: give image (with command), run (a shell command on \(defaultImage)) or extension (a common task)"))
            }
        }
        do {
            let config = try build(value, locate: locator.problem)
            if problems.isEmpty { return (config, locator) }
        } catch {
            problems += error.problems
        }
        throw ConfigError(problems: Self.ordered(problems))
    }

    /// Each problem once, in the order of the file (line, column), unplaced ones last.
    static func ordered(_ problems: [ConfigProblem]) -> [ConfigProblem] {
        var seen = Set<ConfigProblem>()
        let unique = problems.filter { seen.insert($0).inserted }
        return unique.enumerated().sorted { a, b in
            let la = a.element.line ?? Int.max
            let lb = b.element.line ?? Int.max
            if la != lb { return la < lb }
            let ca = a.element.column ?? 0
            let cb = b.element.column ?? 0
            return ca != cb ? ca < cb : a.offset < b.offset
        }.map(\.element)
    }

    private func build(_ value: JSONValue, locate: (String, String) -> ConfigProblem) throws(ConfigError) -> PipelineConfig {
        var problems: [ConfigProblem] = []
        var tasks: [TaskConfig] = []
        var seen: [String: Int] = [:]
        for (i, t) in (value["tasks"]?.arrayValue ?? []).enumerated() {
            let path = "/tasks/\(i)"
            let id = t["id"]?.stringValue ?? ""
            if let first = seen[id] {
                problems.append(
                    locate("\(path)/id", "duplicate task id \"\(id)\" (also task \(first) at /tasks/\(first)); task ids must be unique"))
            }
            seen[id] = i
            var dependsOn: [String: DependencyCondition] = [:]
            if let list = t["depends_on"]?.arrayValue {
                for parent in list.compactMap(\.stringValue) { dependsOn[parent] = .success }
            } else if let map = t["depends_on"]?.objectValue {
                for (parent, cond) in map { dependsOn[parent] = DependencyCondition(rawValue: cond.stringValue ?? "") ?? .success }
            }
            var timeout: Int?
            if let text = t["timeout"]?.stringValue {
                if let d = DurationText.parse(text) {
                    if d < minTaskTimeout || d > maxTaskTimeout {
                        problems.append(
                            locate(
                                "\(path)/timeout",
                                "\(text) is outside the allowed range \(DurationText.format(minTaskTimeout))–\(DurationText.format(maxTaskTimeout))"
                            ))
                    }
                    timeout = Int(d.components.seconds)
                } else {
                    problems.append(locate("\(path)/timeout", "\"\(text)\" is not a duration; write e.g. 30m or 2h"))
                }
            }
            var memoryMB: Int?
            if let m = t["memory"] {
                let asked: (mb: Int, text: String)? = m.intValue.map { (Int(clamping: $0), "\($0)") } ?? m.stringValue.flatMap { text in Self.parseMemory(text).map { ($0, "\"\(text)\"") } }
                if let asked {
                    if asked.mb < TaskResourceLimits.minMemoryMB {
                        problems.append(locate("\(path)/memory", "\(asked.text) is less than \(TaskResourceLimits.minMemoryMB)MB; write e.g. 512MB or 2GB"))
                    } else if asked.mb > limits.maxMemoryMB {
                        problems.append(
                            locate(
                                "\(path)/memory",
                                "\(asked.text) is more than a task may ask for on this server (task_memory_max: \(TaskResourceLimits.format(mb: limits.maxMemoryMB)))"))
                    } else {
                        memoryMB = asked.mb
                    }
                } else if let text = m.stringValue {
                    problems.append(locate("\(path)/memory", "\"\(text)\" is not a memory size; write e.g. 512MB or 2GB"))
                }
            }
            var cpus: Double?
            if let c = t["cpu"]?.doubleValue {
                if !c.isFinite || c < TaskResourceLimits.minCPUs {
                    problems.append(locate("\(path)/cpu", "\(c) is less than \(TaskResourceLimits.minCPUs) CPUs, the least a scheduler can give"))
                } else if c > limits.maxCPUs {
                    problems.append(
                        locate(
                            "\(path)/cpu", "\(c) is more CPUs than a task may ask for on this server (task_cpu_max: \(TaskResourceLimits.format(cpus: limits.maxCPUs)))"))
                } else {
                    cpus = c
                }
            }
            var env: [String: String] = [:]
            for (k, v) in t["env"]?.objectValue ?? [:] {
                if k.isEmpty || k.contains("=") || k.contains("\0") {
                    problems.append(locate("\(path)/env/\(k)", "environment variable names cannot be empty or contain '=' or NUL"))
                }
                if k.uppercased().hasPrefix("GOFER_") {
                    problems.append(locate("\(path)/env/\(k)", "names starting with GOFER_ are reserved for variables Gofer sets"))
                }
                env[k] = v.stringValue ?? ""
                do {
                    _ = try SecretReference.parse(env[k] ?? "")
                } catch {
                    problems.append(
                        locate("\(path)/env/\(k)", "bad secret reference: \(error.message); write secret{{name}} or global_secret{{name}}"))
                }
                do {
                    _ = try ObjectReference.parse(env[k] ?? "")
                } catch {
                    problems.append(
                        locate("\(path)/env/\(k)", "bad object reference: \(error.message); write pipeline_object{{key}} or run_object{{key}}"))
                }
            }
            var auth: RegistryAuthConfig?
            if let a = t["registry_auth"], let u = a["username"]?.stringValue, let p = a["password"]?.stringValue {
                // A password is never stored: only a reference to a secret, resolved at task start.
                if RegistryAuthConfig.passwordReference(p) == nil {
                    problems.append(
                        locate(
                            "\(path)/registry_auth/password",
                            "write the password as secret{{name}} or global_secret{{name}} (store it with `gofer secret pipeline put`); plain passwords are not stored"
                        ))
                }
                auth = RegistryAuthConfig(username: u, password: p)
            }
            // What runs it: a common-task extension, a container, or a shell command on the
            // default image.
            var image = t["image"]?.stringValue ?? ""
            var command = t["command"]?.arrayValue?.compactMap(\.stringValue)
            let ext = t["extension"]?.stringValue
            if let ext {
                for field in ["image", "run", "command", "entrypoint", "registry_auth", "cpu", "memory", "placement"] where t[field] != nil {
                    problems.append(
                        locate(
                            "\(path)/\(field)",
                            "task \"\(id)\" runs the common task \"\(ext)\", not a container, so it takes no \(field); remove it or remove extension"))
                }
            } else {
                if t["settings"] != nil {
                    problems.append(locate("\(path)/settings", "settings go with extension: (a common task); container tasks use env"))
                }
                if let run = t["run"]?.stringValue {
                    for field in ["command", "entrypoint"] where t[field] != nil {
                        problems.append(locate("\(path)/\(field)", "give run (a shell command) or \(field), not both"))
                    }
                    command = ["sh", "-c", run]
                    if image.isEmpty { image = defaultImage }
                }
            }
            tasks.append(
                TaskConfig(
                    id: id, description: t["description"]?.stringValue ?? "", image: image, extension: ext,
                    settings: ext.map { _ in t["settings"] ?? .emptyObject }, registryAuth: auth,
                    entrypoint: t["entrypoint"]?.arrayValue?.compactMap(\.stringValue),
                    command: command,
                    env: env, dependsOn: dependsOn, timeoutSeconds: timeout, cpus: cpus, memoryMB: memoryMB,
                    logging: t["logging"]?.boolValue ?? value["logging"]?.boolValue ?? true, injectAPIToken: t["inject_api_token"]?.boolValue,
                    placement: ext == nil ? t["placement"] : nil))
        }
        // Dependencies: dangling, self and cycles.
        for (i, task) in tasks.enumerated() {
            for parent in task.dependsOn.keys.sorted() {
                if parent == task.id {
                    problems.append(locate("/tasks/\(i)/depends_on", "task \"\(task.id)\" depends on itself"))
                } else if seen[parent] == nil {
                    let known = tasks.map(\.id).filter { $0 != task.id }.joined(separator: ", ")
                    problems.append(locate("/tasks/\(i)/depends_on", "unknown task \"\(parent)\" (tasks: \(known))"))
                }
            }
        }
        if let cycle = Self.findCycle(tasks) {
            let index = seen[cycle[0]] ?? 0
            // A cycle through thousands of tasks is named by its ends, not printed whole.
            let path = cycle.count <= 12 ? cycle : Array(cycle.prefix(5)) + ["… \(cycle.count - 10) more …"] + Array(cycle.suffix(5))
            problems.append(locate("/tasks/\(index)/depends_on", "dependency cycle: \(path.joined(separator: " → "))"))
        }
        // Triggers and hooks: each use has a label, unique in its list, defaulting to the extension's name.
        func uses(_ list: String, nameKey: String, what: String) -> [(name: String, label: String, settings: JSONValue)] {
            var labels: [String: Int] = [:]
            return (value[list]?.arrayValue ?? []).enumerated().map { i, entry in
                let name = entry[nameKey]?.stringValue ?? ""
                let label = entry["label"]?.stringValue ?? name
                if let first = labels[label] {
                    problems.append(
                        locate(
                            "/\(list)/\(i)/label",
                            "duplicate \(what) label \"\(label)\" (also /\(list)/\(first)); give each use of \(nameKey == "trigger" ? "a trigger" : "an extension") its own label"
                        ))
                }
                labels[label] = i
                return (name, label, entry["settings"] ?? .emptyObject)
            }
        }
        let triggers = uses("triggers", nameKey: "trigger", what: "trigger").map { TriggerUse(trigger: $0.name, label: $0.label, settings: $0.settings) }
        let hooks = uses("hooks", nameKey: "extension", what: "hook").map { HookUse(extension: $0.name, label: $0.label, settings: $0.settings) }
        if !problems.isEmpty { throw ConfigError(problems: problems) }
        let id = value["id"]?.stringValue ?? ""
        return PipelineConfig(
            id: id, name: value["name"]?.stringValue ?? id, description: value["description"]?.stringValue ?? "",
            parallelism: Int(value["parallelism"]?.intValue ?? 0), tasks: tasks, triggers: triggers,
            injectAPIToken: value["inject_api_token"]?.boolValue ?? false, logging: value["logging"]?.boolValue ?? true,
            keepVersions: value["keep_versions"]?.intValue.flatMap { Int(exactly: $0) }, hooks: hooks)
    }

    /// A dependency cycle, as the ids along it (first = last), or nil. Iterative: a chain as long
    /// as the config allows must not take the stack with it.
    static func findCycle(_ tasks: [TaskConfig]) -> [String]? {
        let byID = Dictionary(tasks.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        enum Mark { case visiting, done }
        var mark: [String: Mark] = [:]
        for root in tasks where mark[root.id] == nil {
            // The path from `root`, each entry with the parents still to visit.
            var path: [(id: String, parents: [String])] = []
            func enter(_ id: String) {
                mark[id] = .visiting
                let parents = (byID[id]?.dependsOn.keys.sorted() ?? []).filter { $0 != id && byID[$0] != nil }
                path.append((id, parents.reversed()))
            }
            enter(root.id)
            while !path.isEmpty {
                guard let parent = path[path.count - 1].parents.popLast() else {
                    mark[path.removeLast().id] = .done
                    continue
                }
                switch mark[parent] {
                case .done: continue
                case .visiting:
                    let start = path.firstIndex { $0.id == parent } ?? 0
                    return path[start...].map(\.id) + [parent]
                case nil: enter(parent)
                }
            }
        }
        return nil
    }

    /// `512MB`, `2GB`, `1GiB`, `256` (MB), in MB; nil when it is not a size. A size too large to
    /// count is `Int.max` (saturated, never trapped): the caller's bound then refuses it by name.
    public static func parseMemory(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased()
        let units: [(String, Double)] = [
            ("TIB", 1024 * 1024), ("TB", 1000 * 1000), ("T", 1024 * 1024),
            ("GIB", 1024), ("GB", 1000), ("G", 1024), ("MIB", 1), ("MB", 1), ("M", 1), ("KIB", 1.0 / 1024), ("KB", 1.0 / 1000),
        ]
        var number = Substring(t)
        var scale = 1.0
        if let (suffix, s) = units.first(where: { t.hasSuffix($0.0) }) {
            number = t.dropLast(suffix.count)
            scale = s
        }
        let digits = number.trimmingCharacters(in: .whitespaces)
        // Digits and one point only: no signs, exponents, hex, inf or nan.
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), digits.filter({ $0 == "." }).count <= 1,
            let n = Double(digits), n > 0
        else { return nil }
        return Checked.int(n * scale) ?? Int.max
    }

    static func lineColumn(of offset: Int, in text: String) -> (Int, Int) {
        var line = 1
        var column = 1
        for (i, b) in text.utf8.enumerated() {
            if i >= offset { break }
            if b == 0x0A {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return (line, column)
    }

    public static func yamlProblem(_ error: any Error, file: String) -> ConfigProblem {
        switch error {
        case YamlError.scanner(let context, let problem, let mark, _), YamlError.parser(let context, let problem, let mark, _),
            YamlError.composer(let context, let problem, let mark, _):
            let what = context.map { "\($0.text) " } ?? ""
            return ConfigProblem(file: file, line: mark.line, column: mark.column, path: "", message: "invalid YAML: \(what)\(problem)")
        case YamlError.duplicatedKeysInMapping(let duplicates, let context):
            return ConfigProblem(
                file: file, line: context.mark.line, column: context.mark.column, path: "",
                message: "duplicate key\(duplicates.count > 1 ? "s" : "") \(duplicates.joined(separator: ", ")) in a mapping")
        case YamlError.reader(let problem, _, _, _):
            return ConfigProblem(file: file, path: "", message: "cannot read the file as YAML: \(problem)")
        default:
            return ConfigProblem(file: file, path: "", message: ErrorText.wrapping("invalid YAML", error))
        }
    }
}

/// Converts a YAML node tree into JSON, using the schema to decide how plain scalars are typed,
/// and remembers where each field was written.
struct YAMLConverter {
    let schema: JSONSchema
    let file: String
    var marks: [String: (Int, Int)] = [:]
    var problems: [ConfigProblem] = []

    init(schema: JSONSchema, file: String) {
        self.schema = schema
        self.file = file
    }

    mutating func convert(_ node: Node, schema sub: JSONValue?, path: String) -> JSONValue {
        if let mark = node.mark, marks[path] == nil { marks[path] = (mark.line, mark.column) }
        // An anchored node is an anchor or an alias of one: refused before descending, so an
        // alias bomb (aliases of aliases, exponentially many nodes) is never expanded.
        if let anchor = node.anchor {
            problems.append(
                ConfigProblem(
                    file: file, line: node.mark?.line, column: node.mark?.column, path: path,
                    message: "YAML anchors and aliases (&\(anchor.rawValue) / *\(anchor.rawValue)) are not supported; write the value out"))
            return .null
        }
        switch node {
        case .mapping(let mapping):
            var members: [String: JSONValue] = [:]
            for (keyNode, valueNode) in mapping {
                let key = keyNode.scalar?.string ?? "\(keyNode)"
                let childPath = path + "/" + key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
                if let mark = keyNode.mark { marks[childPath] = (mark.line, mark.column) }
                members[key] = convert(valueNode, schema: childSchema(sub, member: key), path: childPath)
            }
            return .object(members)
        case .sequence(let sequence):
            var out: [JSONValue] = []
            for (i, item) in sequence.enumerated() { out.append(convert(item, schema: sub?["items"], path: "\(path)/\(i)")) }
            return .array(out)
        case .scalar(let scalar):
            return typed(scalar, expected: expectedTypes(sub))
        case .alias:
            problems.append(
                ConfigProblem(
                    file: file, line: node.mark?.line, column: node.mark?.column, path: path, message: "YAML aliases are not supported"))
            return .null
        }
    }

    func childSchema(_ schema: JSONValue?, member: String) -> JSONValue? {
        guard let schema else { return nil }
        if let p = schema["properties"]?[member] { return p }
        if let additional = schema["additionalProperties"], additional.objectValue != nil { return additional }
        for option in schema["oneOf"]?.arrayValue ?? [] where option["type"] == "object" { return childSchema(option, member: member) }
        return nil
    }

    func expectedTypes(_ schema: JSONValue?) -> Set<String> {
        guard let schema else { return [] }
        if let t = schema["type"]?.stringValue { return [t] }
        if schema["enum"] != nil { return ["string"] }
        return Set((schema["oneOf"]?.arrayValue ?? []).compactMap { $0["type"]?.stringValue })
    }

    /// A scalar typed the way the schema expects: quoted scalars and string fields stay text.
    func typed(_ scalar: Node.Scalar, expected: Set<String>) -> JSONValue {
        let text = scalar.string
        if scalar.style != .plain { return .string(text) }
        if expected == ["string"] { return .string(text) }
        if text == "null" || text == "~" || text.isEmpty { return expected.contains("string") && !text.isEmpty ? .string(text) : .null }
        if text == "true" { return .bool(true) }
        if text == "false" { return .bool(false) }
        if let i = Int64(text) { return .int(i) }
        if let d = Double(text), d.isFinite, text.contains(".") || text.lowercased().contains("e") { return .double(d) }
        return .string(text)
    }
}
