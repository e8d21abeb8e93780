import ArgumentParser
import ExtensionSDK
import Foundation
import GoferHost

/// `gofer pipeline apply --canary …`: the rollout strategy as flags.
struct CanaryOptions: ParsableArguments {
    @Option(help: "Roll the new version out as a canary: a share of new runs (20%) or every Nth run (every:5); the rest keep the live version.")
    var canary: String?
    @Option(help: "With --canary: how long to watch it: a number of canary runs (10) or a duration (2h). Default: 10 runs.")
    var window: String?
    @Option(help: "With --canary and a duration window: canary runs that must finish before it is promoted (default 1).")
    var minRuns: Int?
    @Option(help: "With --canary: roll back when more than this share of its finished runs failed (default 10%).")
    var maxFailure: String?

    /// The rollout strategy the flags describe, or nil without --canary — the SDK-level type the
    /// server reads (``RolloutStrategy``), sent as its `json`. The server checks the ranges; this
    /// names the flag that cannot be read.
    func rollout() throws -> RolloutStrategy? {
        guard let canary else {
            if window != nil || minRuns != nil || maxFailure != nil {
                throw ValidationError("--window, --min-runs and --max-failure go with --canary")
            }
            return nil
        }
        let share: CanaryShare
        if canary.hasPrefix("every:"), let n = Int(canary.dropFirst(6)) {
            share = .every(n)
        } else if let n = Int(canary.hasSuffix("%") ? String(canary.dropLast()) : canary) {
            share = .percent(n)
        } else {
            throw ValidationError("--canary \"\(canary)\" is neither a percentage (20%) nor every:N (every:5)")
        }
        var strategy = RolloutStrategy(share: share)
        if let window {
            if let runs = Int(window) {
                strategy.window = CanaryWindow(runs: runs)
            } else if let duration = DurationText.parse(window) {
                strategy.window = CanaryWindow(durationSeconds: Int(clamping: duration.components.seconds), minRuns: minRuns ?? 1)
            } else {
                throw ValidationError("--window \"\(window)\" is neither a number of runs (10) nor a duration (2h)")
            }
        } else if minRuns != nil {
            throw ValidationError("--min-runs goes with a duration --window (e.g. --window 2h --min-runs 3)")
        }
        if let maxFailure {
            guard let n = Int(maxFailure.hasSuffix("%") ? String(maxFailure.dropLast()) : maxFailure) else {
                throw ValidationError("--max-failure \"\(maxFailure)\" is not a percentage (10%)")
            }
            strategy.maxFailurePercent = n
        }
        return strategy
    }
}

extension PipelineCommand {
    struct Versions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a pipeline's versions, newest first, with what each changed.")
        @OptionGroup var options: ClientOptions
        @OptionGroup var page: PageOptions
        @Argument var id: String

        func run() async throws {
            let p: Page<PipelineVersionSummary> = try await cli {
                try await options.client.call("GET", Paths.pipeline(options.ns, id) + "/versions" + page.query())
            }
            if options.json { return Output.json(p) }
            Output.table(
                ["VERSION", "STATUS", "CREATED", "BY", "ORIGIN", "CHANGES"],
                p.items.map { v in
                    [
                        String(v.version), v.status == .previous ? "" : Output.color(v.status.rawValue, v.status == .live ? "32" : v.status == .canary ? "33" : "31"),
                        Output.ago(v.createdAt), v.createdBy?.description ?? "-",
                        v.origin == .rollback ? "rollback to \(v.copiedFrom.map(String.init) ?? "?")" : "apply",
                        v.changes.isEmpty ? "-" : v.changes.count == 1 ? v.changes[0] : "\(v.changes[0]) (+\(v.changes.count - 1) more)",
                    ]
                })
            printNextCursor(p.nextCursor)
        }
    }

    struct Version: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print one version's config as it was applied.")
        @OptionGroup var options: ClientOptions
        @Argument var id: String
        @Argument(help: "The version number.") var version: Int

        func run() async throws {
            let v: PipelineVersion = try await cli {
                try await options.client.call("GET", Paths.pipeline(options.ns, id) + "/versions/\(version)")
            }
            if options.json { return Output.json(v) }
            if let source = v.source {
                print(source, terminator: source.hasSuffix("\n") ? "" : "\n")
            } else {
                // Stored before Gofer kept the text: the config as Gofer understood it.
                Output.json(v.config)
            }
        }
    }

    struct Diff: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what changed between two versions (default: a version and the one before it).")
        @OptionGroup var options: ClientOptions
        @Argument var id: String
        @Argument(help: "The older version, or the version to compare with the one before it.") var first: Int
        @Argument(help: "The newer version.") var second: Int?

        func run() async throws {
            let path =
                second.map { "/versions/\($0)/diff?from=\(first)" } ?? "/versions/\(first)/diff"
            let d: VersionDiff = try await cli { try await options.client.call("GET", Paths.pipeline(options.ns, id) + path) }
            if options.json { return Output.json(d) }
            if d.text.isEmpty { return print("versions \(d.from) and \(d.to) are the same") }
            for line in d.text.split(separator: "\n", omittingEmptySubsequences: false) {
                let l = String(line)
                print(
                    l.hasPrefix("+") && !l.hasPrefix("+++")
                        ? Output.color(l, "32") : l.hasPrefix("-") && !l.hasPrefix("---") ? Output.color(l, "31") : l)
            }
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make an earlier version live again (as a new version); default: the one live before the live one.")
        @OptionGroup var options: ClientOptions
        @Argument var id: String
        @Option(help: "The version to make live again.") var to: Int?

        func run() async throws {
            let result: ApplyResult = try await cli {
                try await options.client.call("POST", Paths.pipeline(options.ns, id) + "/rollback", request: RollbackRequest(to: to))
            }
            if options.json { return Output.json(result) }
            print("rolled \(options.ns)/\(id) back: version \(result.version) is live, with the config of the version you chose")
            for change in result.changes { print("  " + change) }
        }
    }

    struct Rollouts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a pipeline's canary rollouts, newest first, and how each went.")
        @OptionGroup var options: ClientOptions
        @Argument var id: String

        func run() async throws {
            let p: Page<Rollout> = try await cli { try await options.client.call("GET", Paths.pipeline(options.ns, id) + "/rollouts") }
            if options.json { return Output.json(p) }
            if p.items.isEmpty { return print("pipeline \(options.ns)/\(id) has had no rollouts") }
            Output.table(
                ["ROLLOUT", "VERSION", "STATE", "SHARE", "CANARY RUNS", "FAILED", "STARTED", "REASON"],
                p.items.map { r in
                    [
                        String(r.id), "\(r.baseVersion) → \(r.version)", Output.state(r.state.rawValue), r.strategy.share.description,
                        String(r.stats.canaryRuns), "\(r.stats.failed)/\(r.stats.measured)", Output.ago(r.startedAt), r.reason ?? "",
                    ]
                })
        }
    }

    struct Promote: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Promote the canary now: it becomes the live version.")
        @OptionGroup var options: ClientOptions
        @Argument var id: String

        func run() async throws {
            let r: Rollout = try await cli { try await options.client.call("POST", Paths.pipeline(options.ns, id) + "/rollout/promote") }
            if options.json { return Output.json(r) }
            print("promoted version \(r.version) of \(options.ns)/\(id): it is live")
        }
    }

    struct Abort: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Abort the canary: new runs use the live version only (canary runs in progress finish).")
        @OptionGroup var options: ClientOptions
        @Argument var id: String
        @Option(help: "Recorded with the abort.") var reason: String?

        func run() async throws {
            let r: Rollout = try await cli {
                try await options.client.call("POST", Paths.pipeline(options.ns, id) + "/rollout/abort", request: CancelRequest(reason: reason))
            }
            if options.json { return Output.json(r) }
            print("aborted the canary of version \(r.version); version \(r.baseVersion) stays live")
        }
    }
}
