import ExtensionClient
import ExtensionSDK
import Foundation
import GitHubStatusClient
import GoferHost
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import TestSupport
import Testing
import _CryptoExtras

#if canImport(Glibc)
    import Glibc
#endif

/// The loop closed: a signed GitHub push starts runs on real Docker, and the github-status hook
/// posts `pending`, then `success` / `failure` / `error` to a FAKE GitHub (FakeGitHub.swift) that
/// validates every request against GitHub's published OpenAPI schema — also when the server is
/// killed with `kill -9` right after a run ends.
@Suite(.serialized)
struct GitHubStatusTests {
    static let secret = "webhook-s3cret"
    static let token = "ghp_testtoken"
    static let sha = "6dcb09b5b57875f334f61aebed695e2e4193db5e"

    static func pipeline(_ id: String, _ script: String) -> String {
        """
        id: \(id)
        triggers:
          - { trigger: github, settings: { repository: octo/app } }
        tasks:
          - { id: job, image: busybox:latest, command: ["sh", "-c", "\(script)"] }
        hooks:
          - { extension: github-status }
        """
    }

    func waitForStatuses(_ fake: FakeGitHub, count: Int, seconds: Int = 90) async throws {
        for _ in 0..<(seconds * 10) where fake.statuses.count < count { try await Task.sleep(for: .milliseconds(100)) }
    }

    @Test func aPushSetsPendingThenTheOutcomeOnTheCommitForEachPipeline() async throws {
        guard try await DockerAvailability.check() else { return }
        let fake = try await FakeGitHub(token: Self.token, repositories: ["octo/app": [Self.sha]])
        return try await stopping({ await fake.stop() }) {
            let h = try await ServerHarness(scheduler: "docker") {
                $0.githubWebhookSecret = Self.secret
                $0.firstStartExtensions = ["github"]
                $0.publicURL = "https://ci.example.com"
            }
            try await stopping({ await h.stop() }) {
                try await h.server.extensions.install(
                    "github-status", .latest, config: ["token": .string(Self.token), "apiUrl": .string(fake.url)])
                for (id, script) in [("ok", "echo fine"), ("bad", "echo broken; exit 3"), ("slow", "sleep 120")] {
                    let config = try h.server.api.loader.load(Self.pipeline(id, script), file: "\(id).yaml")
                    let (_, locator) = try h.server.api.loader.loadLocated(Self.pipeline(id, script), file: "\(id).yaml")
                    let problems = await h.server.commonTasks.validate(config, locator: locator)
                    #expect(problems.isEmpty, "\(problems)")
                    _ = try await h.server.pipelines.apply(namespace: "default", config: config)
                }
                let body = GitHubWebhook.push(repository: "octo/app", branch: "main", sha: Self.sha)
                try await h.withRouter(token: "") { c in
                    var headers = HTTPFields()
                    for (k, v) in GitHubWebhook.headers(event: "push", delivery: "d-1", body: body, secret: Self.secret) {
                        headers[HTTPField.Name(k)!] = v
                    }
                    let r = try await c.execute(uri: "/api/external/github", method: .post, headers: headers, body: ByteBuffer(bytes: body))
                    #expect(r.status.code < 300, "\(String(buffer: r.body))")
                }
                // One run per pipeline; cancel the slow one once it runs.
                var slow: Run?
                for _ in 0..<1800 where slow?.state != .running {
                    slow = try await h.server.store.runs(namespace: "default", pipeline: "slow").items.first
                    try await Task.sleep(for: .milliseconds(100))
                }
                let slowRun = try #require(slow)
                try await h.server.engine.cancelRun(namespace: "default", pipeline: "slow", run: slowRun.id, by: .system, why: "superseded")
                for p in ["ok", "bad", "slow"] {
                    let run = try #require(try await h.server.store.runs(namespace: "default", pipeline: p).items.first)
                    _ = try await h.server.engine.waitForRun(namespace: "default", pipeline: p, run: run.id)
                }
                try await waitForStatuses(fake, count: 6)
                func states(_ context: String) -> [String] { fake.statuses.filter { $0.context == context }.map(\.state) }
                #expect(states("gofer/ok") == ["pending", "success"], "\(fake.statuses)")
                #expect(states("gofer/bad") == ["pending", "failure"], "\(fake.statuses)")
                #expect(states("gofer/slow") == ["pending", "error"], "\(fake.statuses)")
                #expect(fake.statuses.allSatisfy { $0.repository == "octo/app" && $0.sha == Self.sha })
                let failure = try #require(fake.statuses.first { $0.context == "gofer/bad" && $0.state == "failure" })
                #expect(failure.description?.contains("task job failed") == true, "\(failure)")
                // The time it took, as precise as is useful ("succeeded in 734ms", "in 1.25s", "in 1m08s" on a loaded
                // machine), never "in 0ms".
                let success = try #require(fake.statuses.first { $0.context == "gofer/ok" && $0.state == "success" })
                let took = success.description?.components(separatedBy: " succeeded in ").last ?? ""
                #expect(took.range(of: #"^([1-9][0-9]*ms|[0-9]+\.[0-9]+s|[1-9][0-9]*m[0-5][0-9]s|[1-9][0-9]*h[0-5][0-9]m)$"#, options: .regularExpression) != nil, "\(success)")
                #expect(failure.targetURL?.hasPrefix("https://ci.example.com/ui/namespaces/default/pipelines/bad/runs/") == true)
                #expect(fake.recorded.schemaViolations.isEmpty, "\(fake.recorded.schemaViolations)")
            }
        }
    }

    @Test func theFinalStatusIsDeliveredWhenTheServerWasKilledRightAfterTheRunEnded() async throws {
        guard try await DockerAvailability.check() else { return }
        let fake = try await FakeGitHub(token: Self.token, repositories: ["octo/app": [Self.sha]])
        return try await stopping({ await fake.stop() }) {
            let dir = try TemporaryDirectory()
            let port = FreePort.next()
            var env = [
                "GOFER_SCHEDULER": "docker", "GOFER_GITHUB_WEBHOOK_SECRET": Self.secret, "GOFER_FIRST_START_EXTENSIONS": "github",
            ]
            env["GOFER_FAILPOINTS"] = "run-end-crash-before-hooks"
            let first = try await RecoveryTests.ServerProcess(dataDir: dir.path, port: port, environment: env)
            let _: JSONValue = try await first.client.call(
                "POST", "/api/extensions",
                body: ["name": "github-status", "config": ["token": .string(Self.token), "apiUrl": .string(fake.url)]])
            let _: ApplyResult = try await first.client.call(
                "POST", "/api/namespaces/default/pipelines", body: ["config": .string(Self.pipeline("ok", "echo fine"))])
            let body = GitHubWebhook.push(repository: "octo/app", branch: "main", sha: Self.sha)
            let http = SimpleHTTPClient(endpoint: .tcp(host: "127.0.0.1", port: port))
            let answer = try await http.send(
                "POST", path: "/api/external/github",
                headers: GitHubWebhook.headers(event: "push", delivery: "d-kill", body: body, secret: Self.secret), body: body)
            #expect(answer.status < 300, "\(answer.text)")
            // The server kills itself right after storing the run's end, before any hook call for it.
            var exited = false
            for _ in 0..<1200 where !exited {
                exited = first.process.exitStatus != nil
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(exited, "the failpoint fired")
            #expect(!fake.statuses.contains { $0.state == "success" }, "nothing reported the end before the crash")
            // What the crash left: the run's end is stored, its final status is owed.
            do {
                let store = try SQLStore(path: dir.path + "/gofer.sqlite")
                let run = try #require(try await store.runs(namespace: "default", pipeline: "ok").items.first)
                #expect(run.state == .succeeded, "\(run)")
                let owed = try await store.hookDeliveries(namespace: "default", pipeline: "ok", run: run.id)
                #expect(owed.contains { $0.phase == .runFinished && $0.state == .pending }, "\(owed)")
            }
            env["GOFER_FAILPOINTS"] = nil
            let second = try await RecoveryTests.ServerProcess(dataDir: dir.path, port: port, environment: env)
            try await stopping({ await second.stop() }) {
                for _ in 0..<600 where !fake.statuses.contains(where: { $0.state == "success" }) { try await Task.sleep(for: .milliseconds(100)) }
                #expect(fake.statuses.map(\.state) == ["pending", "success"], "the final status arrives once, after the restart: \(fake.statuses)")
                #expect(fake.recorded.schemaViolations.isEmpty)
            }
        }
    }

    @Test func asAGitHubAppItSignsAJWTGetsAnInstallationTokenAndWaitsOutARateLimit() async throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let fake = try await FakeGitHub(
            token: "not-used", repositories: ["octo/app": [Self.sha]], app: (id: "4242", installation: "77", key: key.publicKey))
        return try await stopping({ await fake.stop() }) {
            fake.rateLimitNext(1)
            let connection = try ExtensionConnection.spawn(ExtensionLaunch(executable: BuiltProducts.path("gofer-task-github-status")))
            defer { connection.kill() }
            _ = try await connection.initialize(
                InitializeOptions(
                    kind: .task,
                    adminConfig: [
                        "appId": "4242", "installationId": "77", "privateKey": .string(key.pemRepresentation), "apiUrl": .string(fake.url),
                    ]))
            let result = try await connection.request(
                "task/run",
                [
                    "params": ["repository": "octo/app", "sha": .string(Self.sha), "state": "success", "context": "ci/app"],
                    "variables": ["GOFER_PIPELINE": "app", "GOFER_RUN": "7"],
                ], timeout: .seconds(30))
            #expect(result["status"] == "success", "\(result)")
            #expect(fake.statuses.map(\.state) == ["success"] && fake.statuses.first?.context == "ci/app")
            #expect(fake.recorded.installationTokens == 1, "one installation token, reused")
            // A second call reuses the token; a wrong key is refused clearly.
            _ = try await connection.request(
                "task/run", ["params": ["repository": "octo/app", "sha": .string(Self.sha), "state": "pending"], "variables": [:]],
                timeout: .seconds(30))
            #expect(fake.recorded.installationTokens == 1)
            let unknownSHA = try await errorOf(
                connection, ["params": ["repository": "octo/app", "sha": "deadbeef0", "state": "success"], "variables": [:]])
            #expect(unknownSHA.contains("422") && unknownSHA.contains("deadbeef0"), "\(unknownSHA)")
            let unknownRepo = try await errorOf(
                connection, ["params": ["repository": "octo/nope", "sha": .string(Self.sha), "state": "success"], "variables": [:]])
            #expect(unknownRepo.contains("404") && unknownRepo.contains("octo/nope"), "\(unknownRepo)")
            #expect(fake.recorded.schemaViolations.isEmpty)
        }
    }

    @Test func aWrongTokenIsReportedAsSuch() async throws {
        let fake = try await FakeGitHub(token: Self.token, repositories: ["octo/app": [Self.sha]])
        return try await stopping({ await fake.stop() }) {
            let connection = try ExtensionConnection.spawn(ExtensionLaunch(executable: BuiltProducts.path("gofer-task-github-status")))
            defer { connection.kill() }
            _ = try await connection.initialize(InitializeOptions(kind: .task, adminConfig: ["token": "wrong", "apiUrl": .string(fake.url)]))
            let text = try await errorOf(
                connection, ["params": ["repository": "octo/app", "sha": .string(Self.sha), "state": "success"], "variables": [:]])
            #expect(text.contains("401") && text.contains("credentials"), "\(text)")
        }
    }

    func errorOf(_ connection: ExtensionConnection, _ params: JSONValue) async throws -> String {
        do {
            let r = try await connection.request("task/run", params, timeout: .seconds(30))
            return "no error: \(r)"
        } catch let e as ProtocolError {
            return e.message
        }
    }
}
