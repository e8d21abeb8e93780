import ExtensionClient
import ExtensionConformance
import ExtensionSDK
import Foundation
import TestSupport
import Testing

/// The Python SDK (Sources/ExtensionSDK/Python): its own tests and types, and an example of every
/// kind — packed into one executable as an author ships it — passing the whole conformance suite.
@Suite(.serialized)
struct PythonSDKTests {
    @Test func theSDKPassesItsTestsAndMypyStrict() async throws {
        guard try await PythonSDK.toolsAvailable() else { return }
        let tests = try await ChildProcess.run(
            "/usr/bin/env", arguments: ["PYTHONPATH=\(PythonSDK.root)", "python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", PythonSDK.root + "/tests"],
            timeout: .seconds(180))
        let testOut = String(decoding: tests.stdout + tests.stderr, as: UTF8.self)
        #expect(tests.status == .exited(0) && testOut.contains(" passed"), "\(testOut)")
        let types = try await ChildProcess.run(
            "/usr/bin/env",
            arguments: [
                "MYPYPATH=\(PythonSDK.root)", "python3", "-m", "mypy", "--strict", "--no-incremental", "--cache-dir=/dev/null",
                PythonSDK.root + "/gofer_extension", PythonSDK.root + "/examples", PythonSDK.root + "/tests",
            ], timeout: .seconds(300))
        let typeOut = String(decoding: types.stdout + types.stderr, as: UTF8.self)
        #expect(types.status == .exited(0) && typeOut.contains("Success"), "\(typeOut)")
    }

    /// Each example (the secret store is Extensions/python-secrets, the scheduler the docker-CLI one
    /// `gofer extension new` writes), packed (`python3 -m gofer_extension.pack`), conforms with no
    /// failure; the scheduler drives the real Docker engine.
    @Test(arguments: [
        (ExtensionKind.secrets, "Extensions/python-secrets/gofer_secrets.py", nil as JSONValue?, 58),
        (.trigger, "Sources/ExtensionSDK/Python/examples/every.py", JSONValue.object(["seconds": .double(0.3)]), 57),
        (.task, "Sources/ExtensionSDK/Python/examples/greet.py", JSONValue.object(["who": .string("conformance")]), 54),
        (.scheduler, "scaffold", nil, 66),
    ])
    func everyExampleConforms(kind: ExtensionKind, example: String, params: JSONValue?, atLeast: Int) async throws {
        if kind == .scheduler { guard try await DockerAvailability.check() else { return } }
        let dir = try TemporaryDirectory()
        // The scheduler example is what `gofer extension new --kind scheduler --lang python` writes.
        let script = example == "scaffold" ? try await PythonSDK.scaffold("py-docker", kind: kind, in: dir.path) : example
        let packed = dir.path + "/" + ((script as NSString).lastPathComponent as NSString).deletingPathExtension + "-packed"
        _ = try await PythonSDK.pack(script, to: packed)
        let state = try TemporaryDirectory()
        var options = ConformanceOptions(kind: kind, launch: ExtensionLaunch(executable: packed), params: params)
        options.stateDirectory = state.path
        let r = await ConformanceSuite.run(options)
        #expect(r.conforms && r.failed == 0 && r.warned == 0, "\(r.text)")
        #expect(r.results.filter { $0.outcome == .passed }.count >= atLeast, "\(r.summaryLine)")
    }
}
