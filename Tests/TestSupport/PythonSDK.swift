import ExtensionSDK
import Foundation

/// The Python side of the repository for tests: whether pytest and mypy are here, and the Python
/// extension SDK (Sources/ExtensionSDK/Python) with its examples packed into executables.
public enum PythonSDK {
    /// Where the `gofer_extension` package lives.
    public static let root = BuiltProducts.repositoryRoot.appendingPathComponent("Sources/ExtensionSDK/Python").path

    /// Whether pytest and mypy are here; with GOFER_REQUIRE_PYTHON=1 (CI) their absence fails.
    public static func toolsAvailable() async throws -> Bool {
        let r = try await ChildProcess.run("/usr/bin/env", arguments: ["python3", "-c", "import pytest, mypy"])
        if r.status == .exited(0) { return true }
        if ProcessInfo.processInfo.environment["GOFER_REQUIRE_PYTHON"] == "1" {
            throw PythonToolsMissing()
        }
        print("skipping Python tests: pytest or mypy is missing (pip install pytest mypy)")
        return false
    }

    public struct PythonToolsMissing: Error, CustomStringConvertible {
        public var description: String { "GOFER_REQUIRE_PYTHON=1 but pytest or mypy is missing (pip install pytest mypy)" }
    }

    /// `script` (absolute, or relative to the repository) packed with the SDK into one
    /// executable at `output` (`python3 -m gofer_extension.pack`); returns its SHA-256.
    public static func pack(_ script: String, to output: String) async throws -> String {
        let source = script.hasPrefix("/") ? script : BuiltProducts.repositoryRoot.appendingPathComponent(script).path
        let r = try await ChildProcess.run(
            "/usr/bin/env", arguments: ["PYTHONPATH=\(root)", "python3", "-m", "gofer_extension.pack", source, "-o", output], timeout: .seconds(60))
        let out = String(decoding: r.stdout, as: UTF8.self)
        guard r.status == .exited(0), let sha = out.split(separator: " ").first, sha.count == 64 else {
            throw PackFailed(description: "packing \(source) failed: \(out)\(String(decoding: r.stderr, as: UTF8.self))")
        }
        return String(sha)
    }

    /// Writes `gofer extension new NAME --kind KIND --lang python` into `directory` and returns the
    /// handler's path (the scaffold is where the SDK's scheduler example comes from).
    public static func scaffold(_ name: String, kind: ExtensionKind, in directory: String) async throws -> String {
        let r = try await ChildProcess.run(
            BuiltProducts.path("gofer"), arguments: ["extension", "new", name, "--kind", kind.rawValue, "--lang", "python", "--dir", directory + "/" + name])
        guard r.status == .exited(0) else {
            throw PackFailed(description: "gofer extension new \(name) failed: \(String(decoding: r.stdout + r.stderr, as: UTF8.self))")
        }
        return directory + "/" + name + "/" + name + ".py"
    }

    public struct PackFailed: Error, CustomStringConvertible {
        public let description: String
    }
}
