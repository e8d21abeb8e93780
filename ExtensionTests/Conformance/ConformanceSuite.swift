import ExtensionClient
import ExtensionSDK
import Foundation

/// What to test and how.
public struct ConformanceOptions: Sendable {
    public var kind: ExtensionKind
    public var launch: ExtensionLaunch
    /// Admin config for the handshake (the `config` member of the `--config` file).
    public var adminConfig: JSONValue
    /// Valid per-use params for this extension (`params` in the `--config` file): trigger
    /// settings, task inputs.
    public var params: JSONValue?
    /// Scheduler: the image for test jobs (`image` in the `--config` file).
    public var image: String
    /// Only run checks whose id starts with one of these.
    public var only: [String]
    /// Skip checks whose id starts with one of these.
    public var skip: [String]
    public var checkTimeout: Duration
    public var stateDirectory: String?
    /// Trigger: a cursor to subscribe with (`cursor` in the `--config` file), for triggers that
    /// emit on resume, such as a cron schedule catching up a missed time.
    public var cursor: String?
    /// Trigger: how many events the emit check waits for (`minEvents`; default 2).
    public var minEvents = 2
    /// Trigger with `external`: two forwarded requests (`externalSamples`: `[{headers, bodyB64}]`),
    /// each of which should make the subscription emit; the first is sent while subscribed, the
    /// second after unsubscribe, when nothing may be emitted.
    public var externalSamples: [JSONValue] = []
    /// Secret store: an admin config whose backend does not answer (`unreachableConfig`), for
    /// the retryable-error check; stores without a remote backend leave it out.
    public var unreachableConfig: JSONValue?

    public init(
        kind: ExtensionKind, launch: ExtensionLaunch, adminConfig: JSONValue = .emptyObject, params: JSONValue? = nil,
        image: String = "busybox:latest", only: [String] = [], skip: [String] = [], checkTimeout: Duration = .seconds(30),
        stateDirectory: String? = nil
    ) {
        self.kind = kind
        self.launch = launch
        self.adminConfig = adminConfig
        self.params = params
        self.image = image
        self.only = only
        self.skip = skip
        self.checkTimeout = checkTimeout
        self.stateDirectory = stateDirectory
    }

    /// Reads a `--config` file: `{"config": {…}, "params": {…}, "image": "…", "cursor": "…",
    /// "minEvents": 1, "externalSamples": [{"headers": {…}, "bodyB64": "…"}, …]}`.
    public mutating func load(configFile path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let value = try JSONParser().parse(data)
        guard case .object(let o) = value else { throw CheckFailure("\(path): expected a JSON object with config, params, image") }
        let known = ["config", "params", "image", "cursor", "minEvents", "externalSamples", "unreachableConfig"]
        for key in o.keys where !known.contains(key) {
            throw CheckFailure("\(path): unknown member \"\(key)\" (known: \(known.joined(separator: ", ")))")
        }
        if let c = o["cursor"]?.stringValue { cursor = c }
        if let n = o["minEvents"]?.intValue { minEvents = max(1, Int(n)) }
        if let samples = o["externalSamples"]?.arrayValue { externalSamples = samples }
        if let c = o["unreachableConfig"] { unreachableConfig = c }
        if let c = o["config"] { adminConfig = c }
        if let p = o["params"] { params = p }
        if let i = o["image"]?.stringValue { image = i }
    }
}

/// How much a requirement matters.
public enum Level: String, Sendable {
    /// Failing it fails the suite.
    case must = "MUST"
    /// Failing it is reported as a warning.
    case should = "SHOULD"
}

/// The outcome of one check.
public enum Outcome: Sendable, Equatable {
    case passed
    case failed(String)
    case skipped(String)
}

/// One check's result.
public struct CheckResult: Sendable {
    public var id: String
    public var level: Level
    public var title: String
    public var outcome: Outcome
    public var duration: Duration
}

/// Everything a run found.
public struct ConformanceReport: Sendable {
    public var kind: ExtensionKind
    public var command: String
    public var results: [CheckResult]

    public var passed: Int { results.filter { $0.outcome == .passed }.count }
    /// Failed MUST checks: the extension does not conform.
    public var failed: Int { failedMust.count }
    /// Failed SHOULD checks: warnings, which do not make the extension non-conforming.
    public var warned: Int { failedIDs.count - failed }
    public var skipped: Int { results.filter { if case .skipped = $0.outcome { return true } else { return false } }.count }

    /// Ids of failed MUST checks.
    public var failedMust: [String] {
        results.filter { r in
            if case .failed = r.outcome { return r.level == .must }
            return false
        }.map(\.id)
    }

    /// Ids of every failed check.
    public var failedIDs: [String] {
        results.filter { if case .failed = $0.outcome { return true } else { return false } }.map(\.id)
    }

    /// True when no MUST check failed.
    public var conforms: Bool { failedMust.isEmpty }

    /// The closing line: `N passed, N failed, N skipped` — with `, N warnings` before the skipped
    /// count when SHOULD checks failed: a warning never reads as a failure.
    public var summaryLine: String {
        "\(passed) passed, \(failed) failed, " + (warned > 0 ? "\(warned) warning\(warned == 1 ? "" : "s"), " : "") + "\(skipped) skipped"
    }

    /// Human-readable report, one line per check, ending with ``summaryLine``.
    public var text: String {
        var lines = ["gofer-conformance: \(kind.rawValue) extension \(command)"]
        for r in results {
            let ms = Int(r.duration.components.seconds * 1000 + r.duration.components.attoseconds / 1_000_000_000_000_000)
            switch r.outcome {
            case .passed: lines.append("  PASS  \(r.id) [\(r.level.rawValue)] (\(ms) ms)")
            case .skipped(let why): lines.append("  SKIP  \(r.id) [\(r.level.rawValue)]: \(why)")
            case .failed(let why):
                let tag = r.level == .must ? "FAIL" : "WARN"
                lines.append("  \(tag)  \(r.id) [\(r.level.rawValue)]: \(r.title)")
                for l in why.split(separator: "\n", omittingEmptySubsequences: false).prefix(12) { lines.append("        \(l)") }
            }
        }
        lines.append(summaryLine)
        return lines.joined(separator: "\n")
    }

    /// JUnit XML, one test case per check.
    public var junitXML: String {
        func esc(_ s: String) -> String {
            var out = ""
            for scalar in s.unicodeScalars {
                switch scalar {
                case "&": out += "&amp;"
                case "<": out += "&lt;"
                case ">": out += "&gt;"
                case "\"": out += "&quot;"
                case "\n", "\t": out.unicodeScalars.append(scalar)
                default:
                    // XML 1.0 forbids most control characters even when escaped.
                    if scalar.value < 0x20 { out += "?" } else { out.unicodeScalars.append(scalar) }
                }
            }
            return out
        }
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml +=
            "<testsuite name=\"gofer-conformance.\(kind.rawValue)\" tests=\"\(results.count)\" failures=\"\(failedMust.count)\" skipped=\"\(skipped)\">\n"
        for r in results {
            let secs = Double(r.duration.components.seconds) + Double(r.duration.components.attoseconds) / 1e18
            xml +=
                "  <testcase classname=\"\(kind.rawValue).\(r.level.rawValue)\" name=\"\(esc(r.id))\" time=\"\(String(format: "%.3f", secs))\">\n"
            switch r.outcome {
            case .passed: break
            case .skipped(let why): xml += "    <skipped message=\"\(esc(why))\"/>\n"
            case .failed(let why):
                if r.level == .must {
                    xml += "    <failure message=\"\(esc(r.title))\">\(esc(why))</failure>\n"
                } else {
                    xml += "    <system-out>WARNING (SHOULD): \(esc(why))</system-out>\n"
                }
            }
            xml += "  </testcase>\n"
        }
        xml += "</testsuite>\n"
        return xml
    }
}

/// A check: a stable id, a level, and what it does.
struct Check: Sendable {
    var id: String
    var level: Level
    var title: String
    /// `nil`: every kind.
    var kinds: Set<ExtensionKind>?
    var run: @Sendable (CheckContext) async throws -> Void
}

/// The suite: runs every applicable check against one extension executable.
///
/// ```swift
/// let report = await ConformanceSuite.run(ConformanceOptions(kind: .trigger, launch: ExtensionLaunch(executable: path)))
/// #expect(report.conforms, "\(report.text)")
/// ```
public enum ConformanceSuite {
    /// Every check id with its level and title, for documentation.
    public static var catalogue: [(id: String, level: Level, title: String, kinds: String)] {
        allChecks.map { ($0.id, $0.level, $0.title, $0.kinds.map { $0.map(\.rawValue).sorted().joined(separator: ",") } ?? "all") }
    }

    static var allChecks: [Check] {
        CommonChecks.all + FrameLimitChecks.all + TriggerChecks.all + TaskChecks.all + SchedulerChecks.all + SecretsChecks.all
    }

    /// Runs the suite. Never throws: a harness problem is reported as a failed check.
    public static func run(_ options: ConformanceOptions, progress: (@Sendable (CheckResult) -> Void)? = nil) async -> ConformanceReport {
        // `paths.state` is always sent, as the host does: a directory of the run's own when none is given.
        var options = options
        var ownState: String?
        if options.stateDirectory == nil {
            let dir = NSTemporaryDirectory() + "gofer-conformance-state-" + UUID().uuidString
            if (try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)) != nil {
                options.stateDirectory = dir
                ownState = dir
            }
        }
        defer { if let ownState { try? FileManager.default.removeItem(atPath: ownState) } }
        let journal = Journal()
        let canary = "GOFER-CANARY-\(UUID().uuidString)"
        let manifest = await describe(options.launch)
        var results: [CheckResult] = []
        // The handshake first: whether anything else can run depends on it.
        let selected = allChecks.filter { check in
            (check.kinds?.contains(options.kind) ?? true)
                && (options.only.isEmpty || options.only.contains { check.id.hasPrefix($0) })
                && !options.skip.contains { check.id.hasPrefix($0) }
        }
        let checks = selected.filter { $0.id == "lifecycle.handshake" } + selected.filter { $0.id != "lifecycle.handshake" }
        // When the extension cannot complete a handshake with the given config, every later check
        // would fail the same way: stop after the handshake and say why once.
        var handshakeFailure: String?
        for check in checks where !check.id.hasPrefix("run.") {
            if let handshakeFailure, check.id != "describe.manifest" {
                let result = CheckResult(
                    id: check.id, level: check.level, title: check.title,
                    outcome: .skipped("not run: the handshake fails with this config (lifecycle.handshake: \(handshakeFailure))"),
                    duration: .zero)
                progress?(result)
                results.append(result)
                continue
            }
            let result = await runOne(
                check, CheckContext(options: options, journal: journal, checkID: check.id, canary: canary, manifest: manifest))
            progress?(result)
            results.append(result)
            if check.id == "lifecycle.handshake", case .failed(let why) = result.outcome, why.hasPrefix("handshake failed") {
                handshakeFailure = why
            }
        }
        // Whole-run checks read what every session recorded.
        for check in checks where check.id.hasPrefix("run.") {
            let result = await runOne(
                check, CheckContext(options: options, journal: journal, checkID: check.id, canary: canary, manifest: manifest))
            progress?(result)
            results.append(result)
        }
        let command = ([options.launch.executable] + options.launch.arguments).joined(separator: " ")
        return ConformanceReport(kind: options.kind, command: command, results: results)
    }

    static func runOne(_ check: Check, _ context: CheckContext) async -> CheckResult {
        let start = ContinuousClock.now
        let outcome: Outcome = await withTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                do {
                    try await check.run(context)
                    return .passed
                } catch let skip as CheckSkipped {
                    return .skipped(skip.reason)
                } catch let failure as CheckFailure {
                    return .failed(failure.description)
                } catch let error as ProtocolError {
                    return .failed("unexpected error from the extension: \(error)")
                } catch is CancellationError {
                    return nil
                } catch {
                    return .failed("\(error)")
                }
            }
            group.addTask {
                try? await Task.sleep(for: context.options.checkTimeout)
                return Task.isCancelled ? nil : .failed("did not finish within \(DurationText.format(context.options.checkTimeout))")
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .failed("cancelled")
        }
        await context.sessions.closeAll()
        return CheckResult(id: check.id, level: check.level, title: check.title, outcome: outcome, duration: ContinuousClock.now - start)
    }

    /// Runs `--describe` and parses its output.
    static func describe(_ launch: ExtensionLaunch) async -> JSONValue? {
        guard let result = try? await runToCompletion(launch, extraArguments: ["--describe"], timeout: .seconds(10)) else { return nil }
        guard result.status == .exited(0) else { return nil }
        return try? JSONParser().parse(result.stdout)
    }

    /// Runs the extension with extra arguments, without the protocol.
    static func runToCompletion(_ launch: ExtensionLaunch, extraArguments: [String], timeout: Duration) async throws
        -> ChildProcess.Completed
    {
        try await ChildProcess.run(
            launch.executable, arguments: launch.arguments + extraArguments,
            environment: launch.environment ?? ProcessInfo.processInfo.environment, timeout: timeout)
    }
}
