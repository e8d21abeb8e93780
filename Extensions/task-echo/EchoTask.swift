import ExtensionSDK

/// Writes a message to the task log. The smallest useful common task, and the example in
/// `docs/extensions.md`.
@main
struct EchoTask: CommonTask {
    static let manifest = Manifest(
        name: "echo", version: "0.1.0", summary: "Prints a message to the task log.",
        params: .object(
            [
                "message": .string(description: "What to print."),
                "repeat": .integer(description: "How many times.", minimum: 1, maximum: 10_000),
                "fail": .boolean(description: "End with failure (for testing pipelines)."),
                "remember": .string(description: "Also keep the message as this extension's object under this key."),
                "recall": .string(description: "First print what was kept under this key (or \"nothing\")."),
            ], required: ["message"]))

    struct Params: Decodable, Sendable {
        var message: String
        var `repeat`: Int?
        var fail: Bool?
        var remember: String?
        var recall: String?
    }

    let context: ExtensionContext

    init(config: NoConfig, context: ExtensionContext) { self.context = context }

    func run(_ params: Params, run: TaskRun) async throws -> TaskResult {
        // The extension's own state, kept by the host across runs, restarts and upgrades.
        if let key = params.recall {
            let kept = try await context.objects.get(key).map { String(decoding: $0, as: UTF8.self) }
            try await run.output.write("recalled: \(kept ?? "nothing")\n")
        }
        if let key = params.remember { try await context.objects.put(key, Array(params.message.utf8)) }
        for _ in 0..<(params.repeat ?? 1) {
            try await run.output.write(params.message + "\n")
        }
        return TaskResult(status: params.fail == true ? .failure : .success, summary: "printed \(params.repeat ?? 1) line(s)")
    }
}
