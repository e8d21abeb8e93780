/// A reusable task run by the host for a pipeline, such as posting a commit status or a notification.
///
/// ```swift
/// @main
/// struct Echo: CommonTask {
///     static let manifest = Manifest(name: "echo", version: "1.0.0", summary: "Prints its message.",
///         params: .object(["message": .string()], required: ["message"]))
///     struct Params: Decodable, Sendable { var message: String }
///     init(config: NoConfig, context: ExtensionContext) {}
///     func run(_ params: Params, run: TaskRun) async throws -> TaskResult {
///         try await run.output.write(params.message + "\n")
///         return TaskResult(status: .success)
///     }
/// }
/// ```
public protocol CommonTask: Extension {
    /// The task's inputs from the pipeline, decoded after they passed ``Manifest/params``.
    associatedtype Params: Decodable & Sendable

    /// Checks inputs beyond what the schema can say. The default finds no problem.
    func validate(_ params: Params) async throws -> [Diagnostic]

    /// Does the work. Write what the user should see to ``TaskRun/output``.
    func run(_ params: Params, run: TaskRun) async throws -> TaskResult
}

extension CommonTask {
    /// Finds no problem beyond the schema's.
    public func validate(_ params: Params) async throws -> [Diagnostic] { [] }

    /// Serves this task over stdin/stdout.
    public static func main() async {
        ExtensionRuntime.main(CommonTaskAdapter<Self>())
    }
}

/// Facts about the run a task executes in, and where its output goes.
public struct TaskRun: Sendable {
    /// Variables of the run (`GOFER_PIPELINE`, `GOFER_RUN`, trigger variables, …).
    public var variables: [String: String]
    /// Output shown in the task's logs; throws away nothing, waits when the host is behind.
    public var output: TaskOutput
    /// The host's idempotency key for this execution: the same key means the same execution.
    public var idempotencyKey: String?
    /// Set when the task runs as a **hook** of a run (a pipeline's `hooks:`) rather than as a
    /// step: the run has just started or just ended. A hook is called once per phase and retried
    /// by the host until it answers, so use ``idempotencyKey`` to do its work once.
    public var hook: RunHook?
}

/// What a hook hears about its run.
public struct RunHook: Sendable, Codable, Equatable {
    /// When the hook is called: as the run starts, or once it ended.
    public enum Phase: String, Sendable, Codable {
        /// The run has just started.
        case runStarted = "run_started"
        /// The run has ended (``RunInfo/state`` says how).
        case runFinished = "run_finished"
    }

    /// A run's state as a hook sees it.
    public struct RunInfo: Sendable, Codable, Equatable {
        /// One task of the run as a hook sees it.
        public struct TaskInfo: Sendable, Codable, Equatable {
            /// The task's id in the pipeline config.
            public var id: String
            /// `succeeded`, `failed`, `skipped`, `cancelled`, …
            public var state: String

            /// Task `id` in `state`.
            public init(id: String, state: String) {
                self.id = id
                self.state = state
            }
        }
        /// The run's number in its pipeline.
        public var id: Int
        /// `running` at `run_started`; `succeeded`, `failed` or `cancelled` at `run_finished`.
        public var state: String
        /// Why it failed or was cancelled.
        public var reason: String?
        /// RFC 3339.
        public var startedAt: String?
        /// RFC 3339; absent while the run goes on.
        public var endedAt: String?
        /// Where people see the run (when the server knows its public URL).
        public var url: String?
        /// The run's tasks and their states (at `run_finished`).
        public var tasks: [TaskInfo]?

        /// A run as a hook sees it.
        public init(
            id: Int, state: String, reason: String? = nil, startedAt: String? = nil, endedAt: String? = nil, url: String? = nil,
            tasks: [TaskInfo]? = nil
        ) {
            self.id = id
            self.state = state
            self.reason = reason
            self.startedAt = startedAt
            self.endedAt = endedAt
            self.url = url
            self.tasks = tasks
        }
    }

    /// An earlier finished run of the same pipeline.
    public struct PastRun: Sendable, Codable, Equatable {
        /// The run's number.
        public var id: Int
        /// How it ended: `succeeded`, `failed` or `cancelled`.
        public var state: String
        /// How long it took, in milliseconds.
        public var durationMs: Int?

        /// An earlier run.
        public init(id: Int, state: String, durationMs: Int? = nil) {
            self.id = id
            self.state = state
            self.durationMs = durationMs
        }
    }

    /// Which phase this call is for.
    public var phase: Phase
    /// The run the hook is about.
    public var run: RunInfo
    /// The pipeline's finished runs before this one, newest first (at `run_finished`; up to 100).
    public var history: [PastRun]?

    /// What a hook hears (the host builds it; tests of a task may too).
    public init(phase: Phase, run: RunInfo, history: [PastRun]? = nil) {
        self.phase = phase
        self.run = run
        self.history = history
    }
}

/// The log output of a task run.
public struct TaskOutput: Sendable {
    let stream: OutputStream?

    /// Writes text to the task's log.
    public func write(_ text: String) async throws {
        try await stream?.write(text)
    }
}

/// How a task run ended.
public struct TaskResult: Sendable, Codable {
    /// Whether the task did its job.
    public enum Status: String, Sendable, Codable {
        /// It did its job.
        case success
        /// It did not: its step of the run fails.
        case failure
    }
    /// Whether the task did its job: a `failure` fails its step of the run.
    public var status: Status
    /// One line for the run summary.
    public var summary: String?
    /// Named outputs for later tasks.
    public var outputs: [String: String]

    /// A result; `summary` is one line for the run's page, `outputs` named values for later tasks.
    public init(status: Status, summary: String? = nil, outputs: [String: String] = [:]) {
        self.status = status
        self.summary = summary
        self.outputs = outputs
    }
}

struct CommonTaskAdapter<T: CommonTask>: KindAdapter {
    var kind: ExtensionKind { .task }
    var manifest: Manifest { T.manifest }

    func start(config: JSONValue, context: ExtensionContext) async throws -> [String: RequestHandler] {
        let ext = try await T(config: Self.decodeConfig(T.Config.self, config), context: context)
        var handlers = commonHandlers(ext)
        handlers[ProtocolMethod.taskValidate.rawValue] = { _, params in
            let p = try decodeParams(T.Params.self, try ProtocolCalls.taskValidate.decodeParams(params).params)
            return try ProtocolCalls.taskValidate.encodeResult(Diagnostics(diagnostics: try await ext.validate(p).map { $0.prefixed("/params") }))
        }
        handlers[ProtocolMethod.taskRun.rawValue] = { ctx, params in
            let request = try ProtocolCalls.taskRun.decodeParams(params)
            let p = try decodeParams(T.Params.self, request.params)
            let problems = try await ext.validate(p).map { $0.prefixed("/params") }
            if problems.contains(where: { $0.severity == "error" }) { throw ProtocolError.invalidParams(diagnostics: problems) }
            let variables = request.variables
            var hook: RunHook?
            if let h = request.hook, h != .null {
                do {
                    hook = try JSONCodec.decode(RunHook.self, from: h)
                } catch {
                    throw ProtocolError.invalidParams(diagnostics: [Diagnostic(path: "/hook", message: ErrorText.wrapping("not a run hook", error))])
                }
            }
            let run = TaskRun(
                variables: variables, output: TaskOutput(stream: ctx.stream), idempotencyKey: ctx.idempotencyKey, hook: hook)
            return try ProtocolCalls.taskRun.encodeResult(try await ext.run(p, run: run))
        }
        return handlers
    }
}
