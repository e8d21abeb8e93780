import ExtensionClient
import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GoferStore
import Logging

/// Owns every installed common-task extension: checks the settings pipelines give them, runs
/// them as steps of a run (through ``CommonTaskSteps``, a ``SchedulerClient``) and calls them as
/// run hooks (``HookDispatcher``).
public actor CommonTasks: ExtensionHost {
    let store: any Store
    let policy: ExtensionSupervisor.Policy
    let hostVersion: String
    private var roster = ExtensionRoster()
    private let logger = Logger(label: "gofer.tasks")
    /// How long a settings check may take.
    let callTimeout: Duration = .seconds(10)
    /// The steps in progress, by task execution id.
    let steps = CommonTaskSteps()

    package init(store: any Store, policy: ExtensionSupervisor.Policy = .init(), hostVersion: String) {
        self.store = store
        self.policy = policy
        self.hostVersion = hostVersion
    }

    // MARK: - Extensions

    /// Starts the installed common tasks; one that fails to start is recorded without stopping the others.
    public func start(_ specs: [ExtensionSpec]) async {
        for spec in specs {
            do {
                try await add(spec)
            } catch {
                roster.failed(spec.name, ErrorText.describe(error))
                logger.error("common task \(spec.name) did not start: \(ErrorText.describe(error))")
            }
        }
    }

    /// Starts a common task (installed now or at server start). For an installed one this is an
    /// online upgrade: the new version takes new calls once it has started, then the old stops; if
    /// the new one fails its handshake, the old keeps running.
    public func add(_ spec: ExtensionSpec) async throws {
        let s = ExtensionSupervisor(spec: spec, kind: .task, hostVersion: hostVersion, policy: policy)
        _ = try await s.start()
        await roster.started(spec.name, s)?.stop()
    }

    /// An online upgrade (see ``add(_:)``).
    public func replace(_ spec: ExtensionSpec) async throws -> Bool {
        try await add(spec)
        return true
    }

    public func remove(_ name: String) async {
        await roster.remove(name)?.stop()
    }

    public func stop() async {
        for s in roster.removeAll() { await s.stop() }
    }

    public func runningSupervisor(_ name: String) -> ExtensionSupervisor? { roster.running[name] }

    func supervisor(_ name: String) throws -> ExtensionSupervisor {
        if let s = roster.running[name] { return s }
        if let why = roster.unavailable[name] {
            throw ProtocolError(.unavailable, "common task \(name) is installed but not running: \(why)", retryable: true)
        }
        throw ProtocolError(.notFound, "no common task named \"\(name)\" is installed")
    }

    /// Pipelines whose live version uses `name` as a step or a hook, as `namespace/pipeline`.
    public func pipelinesUsing(_ name: String) async throws -> [PipelineRef] {
        var out: [PipelineRef] = []
        for (pipeline, config) in try await store.livePipelineConfigs() {
            let step = config.tasks.contains { $0.extension == name }
            let hook = config.hooks.contains { $0.extension == name }
            if step || hook { out.append(PipelineRef(namespace: pipeline.namespace, pipeline: pipeline.id)) }
        }
        return out.sorted()
    }

    // MARK: - Validation (apply time)

    /// Checks each extension task's and hook's settings: the extension is installed and running,
    /// the settings pass its params schema and its own `task/validate`. Problems name the path and line.
    public func validate(_ config: PipelineConfig, locator: PipelineConfigLoader.Locator) async -> [ConfigProblem] {
        var uses: [(base: String, name: String, settings: JSONValue)] = []
        for (i, t) in config.tasks.enumerated() {
            if let name = t.extension { uses.append(("/tasks/\(i)", name, t.settings ?? .emptyObject)) }
        }
        for (i, h) in config.hooks.enumerated() { uses.append(("/hooks/\(i)", h.extension, h.settings)) }
        var problems: [ConfigProblem] = []
        for use in uses {
            guard let s = roster.running[use.name] else {
                if let why = roster.unavailable[use.name] {
                    problems.append(locator.problem(use.base + "/extension", "common task \"\(use.name)\" is installed but not running: \(why)"))
                } else {
                    let known = roster.names
                    problems.append(
                        locator.problem(
                            use.base + "/extension",
                            "no common task named \"\(use.name)\" is installed (installed: \(known)); gofer extension install \(use.name)"
                        ))
                }
                continue
            }
            guard let shake = await s.handshake else { continue }
            // References are resolved at run time: check the shape with a placeholder in their place.
            let placeholder = Self.withoutReferences(use.settings)
            let structural = shake.paramsSchema.validate(placeholder, basePath: use.base + "/settings")
            if !structural.isEmpty {
                problems += structural.map { locator.problem($0.path, $0.message) }
                continue
            }
            func mapped(_ d: Diagnostic) -> ConfigProblem {
                var path = d.path
                if path.hasPrefix("/params") { path.removeFirst("/params".count) }
                return locator.problem(use.base + "/settings" + path, d.message)
            }
            do {
                let answer = try await s.call(ProtocolCalls.taskValidate, ParamsCheck(params: placeholder), timeout: callTimeout)
                for d in answer.diagnostics where d.severity == "error" {
                    problems.append(mapped(d))
                }
            } catch let error as ProtocolError where error.code == .invalidParams && !error.diagnostics.isEmpty {
                problems += error.diagnostics.map(mapped)
            } catch {
                problems.append(
                    locator.problem(use.base + "/extension", "common task \"\(use.name)\" could not check the settings: \(ErrorText.describe(error))"))
            }
        }
        return problems
    }

    /// The settings with every `secret{{…}}` reference replaced by a placeholder of the same
    /// kind (text), so schema checks see a string where one will be.
    static func withoutReferences(_ value: JSONValue) -> JSONValue {
        switch value {
        case .string(let s):
            guard let parts = try? SecretReference.parse(s), parts.contains(where: { if case .reference = $0 { true } else { false } })
            else { return value }
            return .string(parts.map { if case .text(let t) = $0 { t } else { "secret" } }.joined())
        case .array(let items): return .array(items.map(withoutReferences))
        case .object(let o): return .object(o.mapValues(withoutReferences))
        default: return value
        }
    }

    // MARK: - Calls

    /// Calls `task/run` on `name`, streaming its output to `output`. The idempotency key lets the
    /// extension recognise a repeat (after a host restart, or a retried hook).
    func run(
        _ name: String, params: JSONValue, variables: [String: String], hook: JSONValue? = nil, idempotencyKey: String,
        timeout: Duration, output: @Sendable ([UInt8]) async -> Void
    ) async throws -> JSONValue {
        let connection = try await supervisor(name).ready(timeout: .seconds(30))
        let call = ProtocolCalls.taskRun
        let (chunks, result) = connection.requestStream(
            call.method.rawValue, try call.encode(TaskRunRequest(params: params, variables: variables, hook: hook)), windowBytes: 1 << 20,
            timeout: timeout, meta: ["idempotencyKey": .string(idempotencyKey)])
        return try await withTaskCancellationHandler {
            for await chunk in chunks { await output(chunk.bytes) }
            try Task.checkCancellation()
            return try await result.value
        } onCancel: {
            result.cancel()
        }
    }
}
