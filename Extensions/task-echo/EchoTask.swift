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
            ], required: ["message"]))

    struct Params: Decodable, Sendable {
        var message: String
        var `repeat`: Int?
        var fail: Bool?
    }

    init(config: NoConfig, context: ExtensionContext) {}

    func run(_ params: Params, run: TaskRun) async throws -> TaskResult {
        for _ in 0..<(params.repeat ?? 1) {
            try await run.output.write(params.message + "\n")
        }
        return TaskResult(status: params.fail == true ? .failure : .success, summary: "printed \(params.repeat ?? 1) line(s)")
    }
}
