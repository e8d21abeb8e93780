import ExtensionSDK
import Foundation
import TestSupport
import Testing

/// The `gofer-conformance` executable as extension authors run it in their CI.
struct ConformanceCommandTests {
    func run(_ args: [String]) async throws -> (status: TerminationStatus, output: String) {
        let result = try await ChildProcess.run(BuiltProducts.path("gofer-conformance"), arguments: args)
        return (result.status, String(decoding: result.stdout, as: UTF8.self))
    }

    @Test func passingExtensionExitsZeroWithSummaryLastAndJUnit() async throws {
        let dir = try TemporaryDirectory()
        let junit = dir.path + "/junit.xml"
        let (status, output) = try await run([
            "--kind", "secrets", "--quiet", "--junit", junit, "--", BuiltProducts.path("gofer-secrets-memory"),
        ])
        #expect(status == .exited(0), "\(output)")
        let last = output.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.range(of: #"^\d+ passed, 0 failed, \d+ skipped$"#, options: .regularExpression) != nil, "last line: \(last)")
        #expect(FileManager.default.contents(atPath: junit).map { String(decoding: $0, as: UTF8.self) }?.contains("<testsuite") == true)
    }

    @Test func failingExtensionExitsOne() async throws {
        let (status, output) = try await run([
            "--kind", "secrets", "--quiet", "--only", "run.,secrets.round", "--", BuiltProducts.path("gofer-fixture-broken"), "--faults",
            "junk-stdout",
            "--", BuiltProducts.path("gofer-secrets-memory"),
        ])
        #expect(status == .exited(1), "\(output)")
        #expect(output.contains("FAIL  run.stdout-hygiene"))
    }

    @Test func usageErrorsExitTwo() async throws {
        #expect(try await run(["--kind", "plugin", "--", "/bin/true"]).status == .exited(2))
        #expect(try await run(["--kind", "task"]).status == .exited(2))
        #expect(try await run(["--kind", "task", "--", "/no/such/file"]).status == .exited(2))
    }

    @Test func docsSchemasMatchTheCode() throws {
        // docs/protocol/*.schema.json is generated from ProtocolSchemas; regenerate with
        // `swift run gofer-conformance schemas --out docs/protocol` when this fails.
        let docs = BuiltProducts.repositoryRoot.appendingPathComponent("docs/protocol")
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: docs.path).filter { $0.hasSuffix(".schema.json") }
        #expect(Set(onDisk) == Set(ProtocolSchemas.documents.map(\.file)))
        for (file, schema) in ProtocolSchemas.documents {
            let text = try String(contentsOf: docs.appendingPathComponent(file), encoding: .utf8)
            #expect(text == schema.prettyPrinted() + "\n", "\(file) is stale")
        }
    }
}
