import ExtensionClient
import ExtensionConformance
import ExtensionSDK
import Foundation
import TestSupport
import Testing

/// Every in-repo extension passes the conformance suite, and the suite fails the broken fixture
/// on exactly the checks its faults break.
@Suite(.serialized)
struct InRepoExtensionsConformTests {
    static func report(
        _ kind: ExtensionKind, _ executable: String, arguments: [String] = [], config: JSONValue = .emptyObject, params: JSONValue? = nil,
        adjust: (inout ConformanceOptions) -> Void = { _ in }
    )
        async -> ConformanceReport
    {
        var options = ConformanceOptions(
            kind: kind, launch: ExtensionLaunch(executable: BuiltProducts.path(executable), arguments: arguments), adminConfig: config,
            params: params)
        adjust(&options)
        return await ConformanceSuite.run(options)
    }

    /// Cron fires on minute boundaries; subscribing with yesterday's cursor makes it catch up the
    /// missed time at once, which the emit check then sees.
    @Test func cronTriggerConforms() async {
        let yesterday = String(Int(Date().timeIntervalSince1970) - 86400)
        let r = await Self.report(.trigger, "gofer-trigger-cron", params: ["schedule": "*/5 * * * *", "timezone": "Europe/Berlin"]) {
            $0.cursor = yesterday
            $0.minEvents = 1
        }
        #expect(r.conforms, "\(r.text)")
        #expect(r.failed == 0 && r.warned == 0, "\(r.text)")
        #expect(r.results.contains { $0.id == "trigger.emit-unsubscribe" && $0.outcome == .passed }, "\(r.text)")
    }

    /// The non-Swift example: a secret store in Python 3's standard library, from docs/protocol.md alone.
    @Test func pythonSecretStoreConforms() async throws {
        let script = BuiltProducts.repositoryRoot.appendingPathComponent("Extensions/python-secrets/gofer_secrets.py").path
        let state = try TemporaryDirectory()
        var options = ConformanceOptions(kind: .secrets, launch: ExtensionLaunch(executable: "/usr/bin/env", arguments: ["python3", script]))
        options.stateDirectory = state.path
        let r = await ConformanceSuite.run(options)
        #expect(r.conforms && r.failed == 0 && r.warned == 0, "\(r.text)")
        #expect(r.results.filter { $0.outcome == .passed }.count >= 55, "\(r.summaryLine)")
    }

    @Test func embeddedSecretStoreConforms() async throws {
        let dir = try TemporaryDirectory()
        let key = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let r = await Self.report(.secrets, "gofer-secrets-embedded", config: ["key": .string(key), "path": .string(dir.path + "/s.json")])
        #expect(r.conforms, "\(r.text)")
        #expect(r.failed == 0 && r.warned == 0 && r.skipped == 1, "only the unreachable-backend check is skipped (no backend): \(r.text)")
    }

    @Test func vaultSecretStoreConformsAgainstOpenBao() async throws {
        guard let bao = try await OpenBao.start() else { return }
        return try await stopping({ await bao.stop() }) {
            let r = await Self.report(.secrets, "gofer-secrets-vault", config: ["address": .string(bao.address), "token": "root"]) {
                // Nothing listens on port 9 here.
                $0.unreachableConfig = ["address": "http://127.0.0.1:9", "token": "root"]
            }
            #expect(r.conforms, "\(r.text)")
            #expect(r.failed == 0 && r.warned == 0 && r.skipped == 0, "\(r.text)")
            #expect(r.results.contains { $0.id == "secrets.unreachable-is-retryable" && $0.outcome == .passed }, "\(r.text)")
        }
    }

    /// Two signed pushes: the first (subscribed) must emit, the second (after unsubscribe) must not.
    @Test func githubTriggerConforms() async {
        let secret = "conformance-secret"
        let samples: [JSONValue] = (1...2).map { i in
            let body = GitHubWebhook.push(repository: "acme/app", branch: "main", sha: String(repeating: "\(i)", count: 40))
            return GitHubWebhook.forwarded(event: "push", delivery: "delivery-\(i)", body: body, secret: secret)
        }
        let r = await Self.report(
            .trigger, "gofer-trigger-github", config: ["webhookSecret": .string(secret)], params: ["repository": "acme/app"]
        ) { $0.externalSamples = samples }
        #expect(r.conforms, "\(r.text)")
        #expect(r.failed == 0 && r.warned == 0, "\(r.text)")
        #expect(r.results.contains { $0.id == "trigger.emit-unsubscribe" && $0.outcome == .passed }, "\(r.text)")
        #expect(r.results.contains { $0.id == "config.canary-not-leaked" && $0.outcome == .passed }, "\(r.text)")
    }

    @Test func intervalTriggerConforms() async {
        let r = await Self.report(
            .trigger, "gofer-trigger-interval", config: ["minimumInterval": "1s", "jitter": "0s"], params: ["every": "1s"])
        #expect(r.conforms, "\(r.text)")
        #expect(r.failed == 0 && r.warned == 0, "\(r.text)")
        #expect(r.results.contains { $0.id == "trigger.emit-unsubscribe" && $0.outcome == .passed }, "\(r.text)")
    }

    @Test func helloWorldTriggerConformsInUnder30Lines() async throws {
        let source = try String(
            contentsOf: BuiltProducts.repositoryRoot.appendingPathComponent("Extensions/hello-trigger/HelloTrigger.swift"), encoding: .utf8)
        #expect(source.split(separator: "\n", omittingEmptySubsequences: false).count <= 30)
        let r = await Self.report(.trigger, "gofer-trigger-hello", params: ["seconds": 1])
        #expect(r.conforms, "\(r.text)")
        #expect(r.results.contains { $0.id == "trigger.emit-unsubscribe" && $0.outcome == .passed }, "\(r.text)")
    }

    @Test func echoTaskConforms() async {
        let r = await Self.report(.task, "gofer-task-echo", params: ["message": "hello", "repeat": 3])
        #expect(r.conforms, "\(r.text)")
        #expect(r.failed == 0 && r.warned == 0, "\(r.text)")
    }

    @Test func memorySecretStoreConforms() async {
        let r = await Self.report(.secrets, "gofer-secrets-memory")
        #expect(r.conforms, "\(r.text)")
        #expect(r.failed == 0 && r.warned == 0, "\(r.text)")
    }

    /// The process scheduler's jobs end with it, which it advertises (`ephemeralJobs`): the restart
    /// check is skipped for it, and everything else passes.
    @Test func processSchedulerConforms() async {
        let r = await Self.report(.scheduler, "gofer-scheduler-process")
        #expect(r.conforms && r.failed == 0 && r.warned == 0, "\(r.text)")
        #expect(
            r.results.contains { $0.id == "scheduler.restart-finds-job" && $0.outcome == .skipped("the scheduler advertises ephemeralJobs: its jobs end with it (tests and benchmarks only)") },
            "\(r.text)")
        #expect(r.results.contains { $0.id == "scheduler.logs-batched" && $0.outcome == .passed }, "\(r.text)")
    }

    /// The same scheduler without the capability (the fixture drops it from its answers) fails the
    /// restart check: the suite kills it while a job runs, and the new instance does not know the job.
    @Test func aSchedulerLosingItsJobsOnRestartFailsTheRestartCheck() async {
        let r = await ConformanceSuite.run(
            ConformanceOptions(
                kind: .scheduler,
                launch: ExtensionLaunch(
                    executable: BuiltProducts.path("gofer-fixture-broken"),
                    arguments: ["--faults", "hide-capabilities", "--", BuiltProducts.path("gofer-scheduler-process")]),
                only: ["scheduler.restart-finds-job", "scheduler.no-leaks"]))
        #expect(r.failedMust == ["scheduler.restart-finds-job"], "\(r.text)")
        #expect(r.text.contains("jobs must outlive the scheduler"), "\(r.text)")
    }

    @Test func brokenFixtureFailsExactlyTheExpectedChecks() async {
        let r = await Self.report(.secrets, "gofer-fixture-broken", arguments: ["--", BuiltProducts.path("gofer-secrets-memory")])
        #expect(!r.conforms)
        #expect(
            Set(r.failedMust) == ["shutdown.graceful", "shutdown.stdin-eof", "secrets.canary-only-in-get", "run.stdout-hygiene"],
            "\(r.text)")
        #expect(Set(r.failedIDs.filter { !r.failedMust.contains($0) }) == ["shutdown.exit-without-shutdown"], "\(r.text)")
        // Skipped: the config canary (no writeOnly fields) and the unreachable-backend check (no such config).
        // The SHOULD failure is a warning in the summary, not a fifth failure.
        #expect(r.summaryLine.hasSuffix("4 failed, 1 warning, 2 skipped"), "\(r.summaryLine)")
    }

    /// An extension that ignores `shutdown` (and its wrapped child) is gone when the suite returns:
    /// every check closes its sessions and kills their process groups before the next begins.
    @Test func theSuiteLeavesNoProcessBehindWhateverTheExtensionDoes() async throws {
        let marker = "conformance-\(UUID().uuidString)"
        var env = ProcessInfo.processInfo.environment
        env["GOFER_TEST_MARKER"] = marker
        let r = await ConformanceSuite.run(
            ConformanceOptions(
                kind: .secrets,
                launch: ExtensionLaunch(
                    executable: BuiltProducts.path("gofer-fixture-broken"),
                    arguments: ["--faults", "ignore-shutdown", "--", BuiltProducts.path("gofer-secrets-memory")], environment: env),
                // The checks that leave a session open at their end, with an extension that ignores shutdown.
                only: ["shutdown.graceful", "shutdown.stdin-eof", "run.stdout-hygiene", "secrets.canary-only-in-get"]))
        #expect(r.results.count == 4, "\(r.text)")
        func survivors() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { entry in
                guard Int32(entry) != nil, let environ = FileManager.default.contents(atPath: "/proc/\(entry)/environ") else { return false }
                return String(decoding: environ, as: UTF8.self).contains(marker)
            }
        }
        var left = survivors()
        for _ in 0..<300 where !left.isEmpty {  // exits are reaped asynchronously
            try await Task.sleep(for: .milliseconds(100))
            left = survivors()
        }
        #expect(left.isEmpty, "processes left behind: \(left)")
    }

    @Test func theFixtureWithoutFaultsPasses() async {
        // Proves the proxy itself is transparent: the failures above come from the faults alone.
        let r = await Self.report(
            .secrets, "gofer-fixture-broken", arguments: ["--faults", "none", "--", BuiltProducts.path("gofer-secrets-memory")])
        #expect(r.failed == 0 && r.warned == 0, "\(r.text)")
    }

    @Test func eachFaultFailsItsOwnCheck() async {
        let memory = BuiltProducts.path("gofer-secrets-memory")
        let junk = await Self.report(.secrets, "gofer-fixture-broken", arguments: ["--faults", "junk-stdout", "--", memory])
        #expect(junk.failedMust == ["run.stdout-hygiene"], "\(junk.text)")
        let leak = await Self.report(.secrets, "gofer-fixture-broken", arguments: ["--faults", "leak", "--", memory])
        #expect(leak.failedMust == ["secrets.canary-only-in-get"], "\(leak.text)")
    }

    /// Deadlines and the concurrency limit are checked for every kind: an extension of any kind
    /// that ignores `timeoutMs`, or that neither serves nor refuses a burst, fails.
    @Test(arguments: [
        (ExtensionKind.trigger, "gofer-trigger-interval"), (.task, "gofer-task-echo"), (.secrets, "gofer-secrets-memory"),
        (.scheduler, "gofer-scheduler-process"),
    ])
    func deadlinesAndBurstsAreCheckedForEveryKind(kind: ExtensionKind, executable: String) async {
        let inner = BuiltProducts.path(executable)
        func run(_ fault: String) async -> ConformanceReport {
            await ConformanceSuite.run(
                ConformanceOptions(
                    kind: kind,
                    launch: ExtensionLaunch(executable: BuiltProducts.path("gofer-fixture-broken"), arguments: ["--faults", fault, "--", inner]),
                    only: ["deadline.expired-on-arrival", "concurrency.limit"]))
        }
        let clean = await run("none")
        #expect(clean.results.map(\.outcome) == [.passed, .passed], "\(clean.text)")
        let deaf = await run("ignore-deadlines")
        #expect(deaf.failedMust == ["deadline.expired-on-arrival"], "\(deaf.text)")
        let dropping = await run("drop-bursts")
        #expect(dropping.failedMust == ["concurrency.limit"], "\(dropping.text)")
    }

    @Test func aLeakedWriteOnlyConfigValueFailsTheConfigCanaryCheck() async throws {
        // The Docker scheduler has a writeOnly registryPassword; behind the leaking fixture the
        // canary put there shows up in stderr.
        let docker = BuiltProducts.path("gofer-scheduler-docker")
        let clean = await ConformanceSuite.run(
            ConformanceOptions(
                kind: .scheduler, launch: ExtensionLaunch(executable: docker), adminConfig: ["registryUsername": "ci"],
                only: ["config.canary-not-leaked"]))
        #expect(clean.results.map(\.outcome) == [.passed], "\(clean.text)")
        let leaky = await ConformanceSuite.run(
            ConformanceOptions(
                kind: .scheduler,
                launch: ExtensionLaunch(
                    executable: BuiltProducts.path("gofer-fixture-broken"), arguments: ["--faults", "leak", "--", docker]),
                adminConfig: ["registryUsername": "ci"], only: ["config.canary-not-leaked"]))
        #expect(leaky.failedMust == ["config.canary-not-leaked"], "\(leaky.text)")
    }

    @Test func junitReportNamesEveryCheck() async throws {
        let r = await Self.report(
            .secrets, "gofer-fixture-broken", arguments: ["--faults", "junk-stdout", "--", BuiltProducts.path("gofer-secrets-memory")])
        let xml = r.junitXML
        #expect(xml.contains("<testsuite name=\"gofer-conformance.secrets\" tests=\"\(r.results.count)\" failures=\"1\""))
        #expect(xml.contains("name=\"run.stdout-hygiene\""))
        #expect(xml.contains("<failure message="))
        // Well-formed enough for CI parsers: every testcase closes.
        #expect(xml.components(separatedBy: "<testcase ").count == xml.components(separatedBy: "</testcase>").count)
    }
}
