import ExtensionSDK
import Foundation
import GoferHost
import GoferPipeline
import TestSupport
import Testing

/// Pipelines as code: the same pipeline from Swift (GoferPipeline) and Python (gofer_pipeline),
/// piped into `gofer pipeline apply -`, refused where apply would refuse it at the line that wrote
/// the part — and the Python module's own tests (pytest) and types (mypy --strict).
struct PipelinesAsCodeTests {
    static let pythonPath = BuiltProducts.repositoryRoot.appendingPathComponent("Sources/Host/GoferPipeline/Python").path

    @Test func theSwiftAndPythonExamplesAreOnePipelineThatAppliesAndRuns() async throws {
        let swift = try await ChildProcess.run(BuiltProducts.path("example-pipeline"), arguments: [])
        #expect(swift.status == .exited(0), "\(String(decoding: swift.stderr, as: UTF8.self))")
        let python = try await ChildProcess.run(
            "/usr/bin/env",
            arguments: [
                "PYTHONPATH=\(Self.pythonPath)", "GOFER_BIN=\(BuiltProducts.path("gofer"))", "python3",
                BuiltProducts.repositoryRoot.appendingPathComponent("examples/python-pipeline/pipeline.py").path,
            ])
        #expect(python.status == .exited(0), "\(String(decoding: python.stderr, as: UTF8.self))")
        let fromSwift = try JSONParser().parse(swift.stdout)
        #expect(try JSONParser().parse(python.stdout) == fromSwift, "the two builders describe one model")

        // Piped into apply, as the docs say; then it runs.
        let h = try await ServerHarness()
        try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            let env = "GOFER_HOST=127.0.0.1:\(port) GOFER_TOKEN=\(h.adminToken) GOFER_CLI_CONFIG=\(h.dir.path)/cli.json"
            let apply = try await ChildProcess.run(
                "/bin/sh", arguments: ["-c", "\(BuiltProducts.path("example-pipeline")) | env \(env) \(BuiltProducts.path("gofer")) pipeline apply -"])
            let out = String(decoding: apply.stdout + apply.stderr, as: UTF8.self)
            #expect(apply.status == .exited(0) && out.contains("applied pipeline default/website version 1"), "\(out)")
            let again = try await ChildProcess.run(
                "/bin/sh",
                arguments: [
                    "-c",
                    "PYTHONPATH=\(Self.pythonPath) python3 \(BuiltProducts.repositoryRoot.path)/examples/python-pipeline/pipeline.py | env \(env) \(BuiltProducts.path("gofer")) pipeline apply -",
                ])
            #expect(String(decoding: again.stdout, as: UTF8.self).contains("is unchanged"), "the Python pipeline is the Swift one")
            try await h.server.secrets.putPipelineSecret(namespace: "default", pipeline: "website", name: "publish_token", value: Array("abc".utf8))
            let (run, tasks) = try await h.runToEnd("website")
            #expect(run.state == .succeeded, "\(tasks.map { "\($0.task): \($0.state)" })")
            #expect(tasks.first { $0.task == "tell-oncall" }?.state == .skipped, "runs only when test or lint fails")
            #expect(h.log("website", run: run.id, task: "publish").contains("a token of 3 characters"))
        }
    }

    @Test func whatApplyWouldRefuseIsRefusedAtTheSwiftLineThatWroteIt() {
        let line = #line + 3
        let pipeline = Pipeline("app") {
            Shell("a", "true")
            Container("b", image: "busybox:latest").memory("1").after("a", "nowhere")
        }
        .every("not a duration")
        let problems = pipeline.problems()
        #expect(problems.contains { $0.path == "/tasks/1/memory" && $0.at.line == UInt(line) && $0.message.contains("less than") }, "\(problems)")
        #expect(problems.contains { $0.path == "/tasks/1/depends_on" && $0.at.line == UInt(line) && $0.message.contains("nowhere") }, "\(problems)")
        #expect(problems.allSatisfy { "\($0)".hasPrefix("\($0.at.file):") }, "file:line: path: message")
        #expect(Pipeline("ok") { Shell("a", "true") }.problems().isEmpty)
    }

    @Test func thePythonModulePassesItsTestsAndMypyStrict() async throws {
        guard try await PythonSDK.toolsAvailable() else { return }
        let root = BuiltProducts.repositoryRoot.path
        let tests = try await ChildProcess.run(
            "/usr/bin/env", arguments: ["GOFER_BIN=\(BuiltProducts.path("gofer"))", "python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", root + "/Tests/pipelines"],
            timeout: .seconds(120))
        let testOut = String(decoding: tests.stdout + tests.stderr, as: UTF8.self)
        #expect(tests.status == .exited(0) && testOut.contains("5 passed"), "\(testOut)")
        let types = try await ChildProcess.run(
            "/usr/bin/env",
            arguments: [
                "python3", "-m", "mypy", "--strict", "--no-incremental", "--cache-dir=/dev/null", root + "/Sources/Host/GoferPipeline/Python/gofer_pipeline.py",
                root + "/Tests/pipelines/test_gofer_pipeline.py",
            ], timeout: .seconds(300))
        let typeOut = String(decoding: types.stdout + types.stderr, as: UTF8.self)
        #expect(types.status == .exited(0) && typeOut.contains("Success"), "\(typeOut)")
    }
}
