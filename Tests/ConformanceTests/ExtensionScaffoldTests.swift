import ExtensionSDK
import Foundation
import TestSupport
import Testing

/// `gofer extension new`: a project of every kind, in Swift and in Python, passes the conformance
/// suite as generated — its own `./test.sh`, as its author would run it.
@Suite(.serialized)
struct ExtensionScaffoldTests {
    static func new(_ arguments: [String]) async throws -> (TerminationStatus, String) {
        let r = try await ChildProcess.run(BuiltProducts.path("gofer"), arguments: ["extension", "new"] + arguments)
        return (r.status, String(decoding: r.stdout + r.stderr, as: UTF8.self))
    }

    /// Runs a generated project's test.sh; returns its exit status and output.
    static func test(_ project: String, environment: [String: String]) async throws -> (TerminationStatus, String) {
        var env = ProcessInfo.processInfo.environment
        env["GOFER_CONFORMANCE"] = BuiltProducts.path("gofer-conformance")
        env.merge(environment) { $1 }
        let r = try await ChildProcess.run(project + "/test.sh", arguments: ["--quiet"], environment: env, timeout: .seconds(900))
        return (r.status, String(decoding: r.stdout + r.stderr, as: UTF8.self))
    }

    @Test func everyPythonScaffoldConformsWithTheSDKInstalledByPip() async throws {
        guard try await PythonSDK.toolsAvailable() else { return }
        let dir = try TemporaryDirectory()
        // The SDK installed as an author would (pip, from a checkout), into a venv of its own.
        // (From a copy: setuptools builds in the source folder.)
        let venv = dir.path + "/venv"
        var r = try await ChildProcess.run("/bin/cp", arguments: ["-r", PythonSDK.root, dir.path + "/sdk"])
        #expect(r.status == .exited(0))
        r = try await ChildProcess.run("/usr/bin/env", arguments: ["python3", "-m", "venv", "--system-site-packages", venv], timeout: .seconds(120))
        #expect(r.status == .exited(0), "\(String(decoding: r.stderr, as: UTF8.self))")
        r = try await ChildProcess.run(
            venv + "/bin/python3", arguments: ["-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps", "--no-index", dir.path + "/sdk"],
            timeout: .seconds(300))
        #expect(r.status == .exited(0), "pip install: \(String(decoding: r.stdout + r.stderr, as: UTF8.self))")
        let docker = try await DockerAvailability.check()
        for kind in ExtensionKind.allCases where kind != .scheduler || docker {
            let name = "py-\(kind.rawValue)-x"
            let (status, out) = try await Self.new([name, "--kind", kind.rawValue, "--lang", "python", "--dir", dir.path + "/" + name])
            #expect(status == .exited(0), "\(out)")
            let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
            let (tested, report) = try await Self.test(dir.path + "/" + name, environment: ["PATH": venv + "/bin:" + path])
            #expect(tested == .exited(0) && report.contains(" 0 failed"), "\(kind): \(report)")
        }
        // Typed as the SDK is.
        let handlers = ExtensionKind.allCases.map { dir.path + "/py-\($0.rawValue)-x/py-\($0.rawValue)-x.py" }.filter { FileManager.default.fileExists(atPath: $0) }
        let types = try await ChildProcess.run(
            "/usr/bin/env", arguments: ["MYPYPATH=\(PythonSDK.root)", "python3", "-m", "mypy", "--strict", "--no-incremental", "--cache-dir=/dev/null"] + handlers,
            timeout: .seconds(300))
        let typeOut = String(decoding: types.stdout + types.stderr, as: UTF8.self)
        #expect(types.status == .exited(0) && typeOut.contains("Success"), "\(typeOut)")
    }

    @Test func everySwiftScaffoldBuildsAndConforms() async throws {
        let dir = try TemporaryDirectory()
        let docker = try await DockerAvailability.check()
        for kind in ExtensionKind.allCases where kind != .scheduler || docker {
            let name = "sw-\(kind.rawValue)-x"
            let (status, out) = try await Self.new([
                name, "--kind", kind.rawValue, "--lang", "swift", "--dir", dir.path + "/" + name, "--sdk-path", BuiltProducts.repositoryRoot.path,
            ])
            #expect(status == .exited(0), "\(out)")
            // One build folder for the four projects: ExtensionSDK is built once.
            let (tested, report) = try await Self.test(dir.path + "/" + name, environment: ["SWIFT_SCRATCH_PATH": dir.path + "/.build-scaffolds"])
            #expect(tested == .exited(0) && report.contains(" 0 failed"), "\(kind): \(report)")
        }
    }

    /// Extensions/python-secrets is the Python secret-store scaffold, plus one line that finds the
    /// SDK in this repository: one definition, kept equal here.
    @Test func thePythonSecretsExampleIsTheScaffold() async throws {
        let dir = try TemporaryDirectory()
        let (status, out) = try await Self.new([
            "python-secrets", "--kind", "secrets", "--lang", "python", "--dir", dir.path + "/p", "--summary",
            "Secrets in a file in the state directory (Python example).",
        ])
        #expect(status == .exited(0), "\(out)")
        let generated = try String(contentsOfFile: dir.path + "/p/python-secrets.py", encoding: .utf8)
        let example = try String(
            contentsOfFile: BuiltProducts.repositoryRoot.appendingPathComponent("Extensions/python-secrets/gofer_secrets.py").path, encoding: .utf8)
        let withoutPathLine = example.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("import sys; sys.path.insert") }
        #expect(withoutPathLine.joined(separator: "\n") == generated, "regenerate Extensions/python-secrets/gofer_secrets.py from the scaffold")
    }

    @Test func aBadNameOrAFullDirectoryIsRefusedSayingWhy() async throws {
        var (status, out) = try await Self.new(["Bad_Name", "--kind", "task"])
        #expect(status != .exited(0) && out.contains("lower-case"), "\(out)")
        (status, out) = try await Self.new(["ok", "--kind", "nonsense"])
        #expect(status != .exited(0) && out.contains("nonsense"), "\(out)")
        let dir = try TemporaryDirectory()
        try "mine".write(toFile: dir.path + "/keep.txt", atomically: true, encoding: .utf8)
        (status, out) = try await Self.new(["ok", "--kind", "task", "--dir", dir.path])
        #expect(status != .exited(0) && out.contains("not empty"), "\(out)")
        #expect(try String(contentsOfFile: dir.path + "/keep.txt", encoding: .utf8) == "mine", "nothing of the user's is touched")
    }
}
