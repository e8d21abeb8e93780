/// Choices read from bytes: a fuzzer's input, or a seeded stream for a property test. Past the
/// end every choice is the first option, so any input is a complete pipeline.
public struct Choices {
    private let bytes: [UInt8]
    private var index = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// `count` bytes from a SplitMix64 stream seeded with `seed` (the same seed, the same pipeline).
    public init(seed: UInt64, count: Int = 8192) {
        var state = seed
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            for shift in stride(from: 0, to: 64, by: 8) where out.count < count { out.append(UInt8(truncatingIfNeeded: z >> UInt64(shift))) }
        }
        self.bytes = out
    }

    public mutating func byte() -> UInt8 {
        guard index < bytes.count else { return 0 }
        defer { index += 1 }
        return bytes[index]
    }

    /// A number in `0..<n` (`n` at least 1).
    public mutating func below(_ n: Int) -> Int {
        guard n > 1 else { return 0 }
        let wide = Int(byte()) << 8 | Int(byte())
        return wide % n
    }

    public mutating func pick<T>(_ options: [T]) -> T { options[below(options.count)] }

    /// True about `percent` times in a hundred.
    public mutating func chance(_ percent: Int) -> Bool { Int(byte()) * 100 < percent * 256 }
}

/// A pipeline config made to look valid while pushing every limit: long and wide dependency
/// graphs declared in any order (and sometimes closed into a cycle), extreme numbers in every
/// numeric field, every task shape. Written as JSON text, which is YAML too.
public struct GeneratedPipeline: Sendable {
    public var text: String
    /// `json` or `yaml`: the text is both; YAML-only number forms (`.inf`) appear only in `yaml`.
    public var format: String
    public var taskCount: Int
    /// A short description for failure messages ("chain of 5000, reversed, cpu 1e10").
    public var shape: String
}

public enum PipelineGenerator {
    public enum TaskShapes: Sendable {
        /// Every shape, common tasks and missing images included.
        case all
        /// Only tasks the process scheduler can run (`image` with a command, or `run`).
        case runnable
    }

    static let sizes = [1, 2, 3, 5, 8, 20, 100, 1_000, 5_000]
    static let integers = [
        "0", "1", "-1", "2", "3", "64", "65", "1000", "2147483647", "2147483648", "9223372036854775807", "9223372036854775808",
        "-9223372036854775808", "99999999999999999999999", "1e3", "1.5", "1e308", "-0",
    ]
    static let cpus = integers + ["0.001", "1e-9", "1e10", "1e308", "-1e308", "0.5", "5e-324", "0.25", "2"]
    static let yamlNumbers = [".inf", "-.inf", ".nan", "0x7fffffffffffffff", "1_000", "0o777"]
    static let memories = [
        "\"512MB\"", "\"4MB\"", "\"5MB\"", "\"6MB\"", "\"1GB\"", "\"256GiB\"", "\"256GB\"", "\"257GB\"", "\"9000000000000GB\"",
        "\"99999999999999999999999GB\"", "\"1e3MB\"", "\"-5MB\"", "\"0.5GB\"", "\"MB\"", "\"\"", "\"12\"", "\"4PB\"",
        "\"18446744073709551616KB\"", "\"1TB\"", "\"64m\"",
    ]
    static let timeouts = [
        "\"1s\"", "\"0s\"", "\"-1s\"", "\"30m\"", "\"2h\"", "\"1.5h\"", "\"99999999999999999999h\"", "\"1e308s\"",
        "\"2562047788015216h\"", "\"9223372036854775807ns\"", "\"\"", "\"s\"", "\"1d\"", "10", "\"nan s\"", "\"10m\"",
    ]

    /// A pipeline `id` built from `choices`.
    /// `maxTasks` leaves out the larger sizes (a fuzzer under AddressSanitizer wants many small
    /// inputs a second; the property tests go to 5,000).
    public static func generate(_ choices: inout Choices, id: String = "generated", shapes: TaskShapes = .all, maxTasks: Int = 5_000)
        -> GeneratedPipeline
    {
        let yaml = choices.chance(50)
        let count = choices.pick(sizes.filter { $0 <= max(maxTasks, 1) })
        // Half the pipelines are plausible (values a team would write, no mutations): most of them
        // are accepted, so what happens after apply is exercised too. The rest push every limit.
        let hostile = choices.chance(50)
        var notes: [String] = [hostile ? "hostile" : "plausible"]
        func number(_ pool: [String]) -> String { yaml && choices.chance(10) ? choices.pick(yamlNumbers) : choices.pick(pool) }
        func value(_ pool: [String], plausible: [String]) -> String { hostile ? number(pool) : choices.pick(plausible) }
        // Big graphs keep to short tasks: the API takes configs of at most 1 MiB.
        let extras = count < 1_000

        // The graph: each task's parents, by index (a parent always has a lower index: acyclic).
        var parents = [[Int]](repeating: [], count: count)
        let graph = choices.below(4)
        switch graph {
        case 0:
            notes.append("chain of \(count)")
            for i in 1..<max(count, 1) { parents[i] = [i - 1] }
        case 1:
            notes.append("fan-out of \(count)")
            for i in 1..<max(count, 1) { parents[i] = [0] }
        case 2:
            notes.append("fan-in of \(count)")
            if count > 1 { parents[count - 1] = Array(0..<(count - 1)) }
        default:
            notes.append("random DAG of \(count)")
            for i in 1..<max(count, 1) {
                for _ in 0..<choices.below(4) { parents[i].append(choices.below(i)) }
            }
        }
        // Mutations a tenant might send on purpose.
        var names = (0..<count).map { "t\($0)" }
        var extraParents = [[String]](repeating: [], count: count)
        if hostile && count > 1 && choices.chance(10) {
            notes.append("closed into a cycle")
            parents[0].append(count - 1)
        }
        if hostile && choices.chance(5) {
            notes.append("a self-dependency")
            extraParents[count - 1].append(names[count - 1])
        }
        if hostile && choices.chance(5) {
            notes.append("an unknown dependency")
            extraParents[0].append("missing")
        }
        if hostile && count > 1 && choices.chance(5) {
            notes.append("a duplicate id")
            names[count - 1] = names[0]
        }
        if hostile && choices.chance(3) {
            notes.append("an invalid id")
            names[0] = "Not An Id!"
        }

        // Declaration order.
        var order = Array(0..<count)
        switch choices.below(3) {
        case 0: break
        case 1:
            order.reverse()
            notes.append("reversed")
        default:
            for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, choices.below(i + 1)) }
            notes.append("shuffled")
        }

        var tasks: [String] = []
        tasks.reserveCapacity(count)
        for i in order {
            var fields: [String] = ["\"id\": \(quoted(names[i]))"]
            let shape = shapes == .runnable ? choices.below(2) : choices.below(hostile ? 5 : 4)
            switch shape {
            case 0: fields += ["\"image\": \"none\"", "\"command\": [\"true\"]"]
            case 1: fields += ["\"run\": \"exit 0\""]
            case 2: fields += ["\"extension\": \"echo\"", "\"settings\": {\"message\": \"hi\"}"]
            case 3: fields += ["\"image\": \"busybox:latest\"", "\"entrypoint\": [\"/bin/sh\", \"-c\"]", "\"command\": [\"true\"]"]
            default: break  // no image, run or extension: refused
            }
            let deps = parents[i].map { names[$0] } + extraParents[i]
            if !deps.isEmpty {
                if choices.chance(50) {
                    fields.append("\"depends_on\": [\(deps.map(quoted).joined(separator: ", "))]")
                } else {
                    let conditions = ["success", "failure", "any", "sometimes"]
                    let pairs = deps.map { "\(quoted($0)): \"\(choices.pick(shapes == .runnable || !hostile ? ["success", "any"] : conditions))\"" }
                    fields.append("\"depends_on\": {\(pairs.joined(separator: ", "))}")
                }
            }
            if choices.chance(20) { fields.append("\"cpu\": \(value(cpus, plausible: ["0.5", "1", "2", "0.25", "64"]))") }
            if choices.chance(20) {
                let memory = hostile && choices.chance(30) ? number(integers) : choices.pick(hostile ? memories : ["\"512MB\"", "\"1GB\"", "\"6MB\"", "\"256GiB\""])
                fields.append("\"memory\": \(memory)")
            }
            if choices.chance(15) { fields.append("\"timeout\": \(hostile ? choices.pick(timeouts) : choices.pick(["\"5m\"", "\"30m\"", "\"2h\""]))") }
            if extras && choices.chance(10) {
                // Secret and object references only where the tasks are not run (they would fail
                // at start for want of the secret, as they should).
                fields.append(
                    shapes == .runnable
                        ? "\"env\": {\"PLAIN\": \"x\", \"EMPTY\": \"\"}"
                        : "\"env\": {\"PLAIN\": \"x\", \"FROM_SECRET\": \"secret{{token}}\", \"FROM_OBJECT\": \"object{{cache}}\"}")
            }
            if extras && shapes == .all && choices.chance(5) {
                fields.append("\"registry_auth\": {\"username\": \"u\", \"password\": \"secret{{registry}}\"}")
            }
            if extras && shapes == .all && choices.chance(5) { fields.append("\"placement\": {\"constraints\": [\"node.role == worker\"]}") }
            if extras && choices.chance(5) { fields.append("\"logging\": \(choices.pick(hostile ? ["true", "false", "\"yes\"", "1"] : ["true", "false"]))") }
            if extras && choices.chance(5) { fields.append("\"inject_api_token\": \(choices.pick(["true", "false"]))") }
            tasks.append("{" + fields.joined(separator: ", ") + "}")
        }
        var top = ["\"id\": \(quoted(id))"]
        if choices.chance(20) { top.append("\"parallelism\": \(value(integers, plausible: ["0", "1", "4", "64"]))") }
        if choices.chance(10) { top.append("\"keep_versions\": \(value(integers, plausible: ["1", "10", "100"]))") }
        if hostile && choices.chance(10) {
            top.append("\"triggers\": [{\"trigger\": \"interval\", \"settings\": {\"every\": \(choices.pick(timeouts))}}]")
        }
        top.append("\"tasks\": [\n  " + tasks.joined(separator: ",\n  ") + "\n]")
        return GeneratedPipeline(
            text: "{" + top.joined(separator: ", ") + "}\n", format: yaml ? "yaml" : "json", taskCount: count,
            shape: notes.joined(separator: ", "))
    }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for c in s {
            if c == "\"" || c == "\\" { out.append("\\") }
            out.append(c)
        }
        return out + "\""
    }
}
