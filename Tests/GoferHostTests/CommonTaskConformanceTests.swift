import ExtensionClient
import ExtensionConformance
import ExtensionSDK
import Foundation
import TestSupport
import Testing

/// The new common tasks pass the same conformance suite as every extension (`gofer-conformance
/// --kind task`), against the fake GitHub and a local receiver.
struct CommonTaskConformanceTests {
    @Test func githubStatusConforms() async throws {
        let fake = try await FakeGitHub(token: "ghp_conformance", repositories: ["octo/app": ["6dcb09b5b57875f334f61aebed695e2e4193db5e"]])
        return try await stopping({ await fake.stop() }) {
            let report = await ConformanceSuite.run(
                ConformanceOptions(
                    kind: .task, launch: ExtensionLaunch(executable: BuiltProducts.path("gofer-task-github-status")),
                    adminConfig: ["token": "ghp_conformance", "apiUrl": .string(fake.url)],
                    params: ["repository": "octo/app", "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e", "state": "success"]))
            #expect(report.conforms && report.failed == 0, "\(report.text)")
            #expect(fake.statuses.contains { $0.state == "success" }, "the run check really posted a status")
        }
    }

    @Test func notifyConforms() async throws {
        let receiver = try await AlertReceiver()
        return try await stopping({ await receiver.stop() }) {
            let report = await ConformanceSuite.run(
                ConformanceOptions(
                    kind: .task, launch: ExtensionLaunch(executable: BuiltProducts.path("gofer-task-notify")),
                    params: ["message": "conformance", "webhook": ["url": .string(receiver.url + "/c")]]))
            #expect(report.conforms && report.failed == 0, "\(report.text)")
            #expect(!receiver.deliveries.isEmpty)
        }
    }

    /// Without its required admin config the extension cannot start: the suite says so once, naming
    /// the option, instead of failing every check.
    @Test func aMissingAdminConfigStopsTheSuiteAfterTheHandshakeNamingTheOption() async {
        let report = await ConformanceSuite.run(
            ConformanceOptions(kind: .task, launch: ExtensionLaunch(executable: BuiltProducts.path("gofer-task-github-status"))))
        #expect(!report.conforms)
        #expect(report.failedIDs == ["lifecycle.handshake"], "\(report.text)")
        let handshake = report.results.first { $0.id == "lifecycle.handshake" }
        let outcome = handshake.map { "\($0.outcome)" } ?? "no handshake check"
        #expect(outcome.contains("/config/admin/token"), "\(report.text)")
        #expect(report.results.filter { if case .skipped = $0.outcome { true } else { false } }.count > 40, "\(report.summaryLine)")
    }
}
