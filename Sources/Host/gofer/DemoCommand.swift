import ArgumentParser
import ExtensionSDK
import Foundation
import GoferHost

/// `gofer demo`: an embedded server on defaults, the example pipeline, its run live.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Start an embedded server in a temporary directory, run examples/hello.yaml and show it live; exit with the run's status."
    )

    @Option(help: "Pipeline file to run (default: examples/hello.yaml, or the built-in copy of it).") var file: String?
    @Option(help: ServerStartup.schedulerHelp) var scheduler: String = "docker"
    @Option(help: "Keep the data here instead of a temporary directory.") var dataDir: String?
    @Flag(help: "JSON Lines instead of text: what happened, each log line as {\"task\", \"line\"}, the run's detail last.") var json = false

    func run() async throws {
        let dir = dataDir ?? NSTemporaryDirectory() + "gofer-demo-\(UUID().uuidString.prefix(8))"
        defer { if dataDir == nil { try? FileManager.default.removeItem(atPath: dir) } }
        let (server, telemetry) = try await ServerStartup.start("the embedded server") { settings in
            try settings.set("data_dir", dir, source: "demo")
            try settings.set("listen", "127.0.0.1:0", source: "demo")
            try settings.set("scheduler", scheduler, source: "--scheduler")
            try settings.set("log_level", "warning", source: "demo")
            try settings.load(
                environment: ProcessInfo.processInfo.environment.filter {
                    $0.key == "GOFER_DOCKER_ENDPOINT" || $0.key == "GOFER_EXTENSIONS_DIR" || $0.key == "GOFER_OTLP_ENDPOINT"
                })
        }
        let health = await ServerStartup.schedulerHealth(server)
        if health.status != "healthy" {
            Output.error(
                "the \(scheduler) scheduler is not ready: \(health.detail)\n"
                    + (scheduler == "docker"
                        ? "Start dockerd (and import busybox:latest, see README), or try `gofer demo --scheduler process`." : ""))
            await server.stop()
            await telemetry.shutdown()
            throw ExitCode.failure
        }
        let port = try await server.startHTTP()
        // The embedded server's first admin token (written to its data directory on first start).
        let token = try? String(contentsOfFile: AdminBootstrap.tokenFile(dataDir: dir), encoding: .utf8)
        let client = try APIClient(address: "127.0.0.1:\(port)", token: token?.trimmingCharacters(in: .whitespacesAndNewlines))
        Output.done(
            Output.color("gofer \(goferVersion) demo", "1") + ": embedded server on 127.0.0.1:\(port), data in \(dir), scheduler \(scheduler)",
            json: ["demo": ["version": .string(goferVersion), "listen": .string("127.0.0.1:\(port)"), "data_dir": .string(dir), "scheduler": .string(scheduler)]])

        var text = Self.builtInHello
        var name = "hello.yaml"
        let path = file ?? "examples/hello.yaml"
        if let data = FileManager.default.contents(atPath: path) {
            text = String(decoding: data, as: UTF8.self)
            name = (path as NSString).lastPathComponent
        } else if file != nil {
            Output.error("cannot read \(path)")
            await server.stop()
            await telemetry.shutdown()
            throw ExitCode.failure
        }
        let status: RunState
        do {
            let applied: ApplyResult = try await client.call(
                "POST", "/api/namespaces/default/pipelines",
                request: ApplyPipelineRequest(config: text, format: PipelineConfigLoader.format(forFile: name).rawValue, file: name))
            Output.done(
                "applied pipeline default/\(applied.pipeline.id) version \(applied.version)"
                    + applied.changes.map { "\n  " + Output.color($0, "32") }.joined(),
                json: ["applied": Output.jsonValue(applied)])
            let run: Run = try await client.call(
                "POST", "/api/namespaces/default/pipelines/\(applied.pipeline.id)/runs", request: StartRunRequest())
            Output.done("started run \(run.id)\n", json: ["started": Output.jsonValue(run)])
            let final = try await RunFollower(client: client, namespace: "default", pipeline: applied.pipeline.id, run: run.id, view: .lines(logs: true))
                .follow()
            let detail: RunDetail = try await client.call("GET", "/api/namespaces/default/pipelines/\(applied.pipeline.id)/runs/\(run.id)")
            if Output.jsonMode {
                Output.line(["finished": Output.jsonValue(detail)])
            } else {
                print("")
                Output.taskTable(detail.tasks)
                print(
                    "\nrun \(final.id) \(Output.state(final.state.rawValue)) in \(Output.duration(final.startedAt, final.endedAt))\(final.reason.map { ": \($0.message)" } ?? "")"
                )
            }
            status = final.state
        } catch let e as APIError {
            Output.error(e.description)
            await server.stop()
            await telemetry.shutdown()
            throw ExitCode.failure
        }
        await server.stop()
        await telemetry.shutdown()
        if status != .succeeded { throw ExitCode.failure }
    }

    /// The same pipeline as examples/hello.yaml (a test keeps them equal), for running the demo
    /// from any directory.
    static let builtInHello = #"""
        # A small DAG: greet runs first, then two tasks in parallel, then a summary that runs
        # whatever happened (depends_on condition "any"). Run it with `swift run gofer demo`.
        id: hello
        name: Hello, Gofer
        description: Four busybox tasks in a diamond.
        parallelism: 2

        tasks:
          - id: greet
            image: busybox:latest
            command: ["sh", "-c", "echo \"Hello from $GOFER_PIPELINE run $GOFER_RUN\"; sleep 1"]

          - id: count
            image: busybox:latest
            depends_on: [greet]
            command: ["sh", "-c", "for i in 1 2 3; do echo \"counting $i\"; sleep 0.5; done"]
            timeout: 10m

          - id: inspect
            image: busybox:latest
            depends_on: { greet: success }
            env:
              GREETING: "hi there"
            command: ["sh", "-c", "echo \"GREETING=$GREETING on $(uname -s)\"; echo 'a line on stderr' >&2"]

          - id: summary
            image: busybox:latest
            depends_on: { count: any, inspect: any }
            command: ["sh", "-c", "echo \"all done in task $GOFER_TASK\""]

        """#
}
