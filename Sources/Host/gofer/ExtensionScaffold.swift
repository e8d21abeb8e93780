import ExtensionSDK
import ArgumentParser
import Foundation

/// `gofer extension new`: a working extension project of one kind in Swift or Python — the
/// handler (a small real behaviour and TODOs), a test that runs gofer-conformance on it, a script
/// that builds one executable and a registry index for it, a CI snippet and a README. Every
/// scaffold passes the conformance suite as generated (ExtensionScaffoldTests).
struct ExtensionScaffold {
    enum Language: String, CaseIterable, Sendable { case swift, python }

    /// Where a Swift scaffold gets ExtensionSDK: a Gofer checkout, or the Gofer package's git URL.
    enum SDKSource: Sendable {
        case path(String)
        case url(String, from: String)

        /// The package identity SwiftPM gives it (the last path component, lower-cased).
        var identity: String {
            switch self {
            case .path(let p): return (p as NSString).lastPathComponent.lowercased()
            case .url(let u, _): return ((u as NSString).lastPathComponent as NSString).deletingPathExtension.lowercased()
            }
        }

        var dependency: String {
            switch self {
            case .path(let p): return ".package(path: \(Self.quoted(p)))"
            case .url(let u, let v): return ".package(url: \(Self.quoted(u)), from: \(Self.quoted(v)))"
            }
        }

        static func quoted(_ s: String) -> String {
            "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
    }

    let name: String
    let kind: ExtensionKind
    let language: Language
    let sdk: SDKSource
    /// The manifest's one-sentence summary.
    var summary = "TODO: say in one sentence what it does."

    /// Why `name` cannot name an extension, or nil: lower-case letters, digits and dashes, starting
    /// with a letter (the protocol's rule for `extension.name`), at most 64 characters.
    static func problem(withName name: String) -> String? {
        guard let first = name.first, first.isLetter, first.isLowercase else { return "must start with a lower-case letter" }
        guard name.count <= 64 else { return "must be at most 64 characters" }
        guard name.allSatisfy({ ($0.isLetter && $0.isLowercase && $0.isASCII) || $0.isNumber || $0 == "-" }) else {
            return "may hold only lower-case letters, digits and dashes"
        }
        return nil
    }

    /// The executable's name: `gofer-<kind>-<name>` unless the name already starts with `gofer-`.
    var executable: String { name.hasPrefix("gofer-") ? name : "gofer-\(kind == .secrets ? "secrets" : kind.rawValue)-\(name)" }

    /// The Swift type of the handler: `my-thing` → `MyThing`.
    var typeName: String {
        let words = name.split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst() }
        let joined = words.joined()
        return joined.first?.isNumber == true ? "X" + joined : joined
    }

    /// Per-use params gofer-conformance needs for this kind's checks (nil: none).
    var conformanceParams: String? {
        switch kind {
        case .trigger: return #"{"params": {"seconds": 1}}"#
        case .task: return #"{"params": {"message": "hello from the conformance suite"}}"#
        case .scheduler, .secrets: return nil
        }
    }

    /// Relative path → content; `executable` files get mode 0755.
    func files() -> [(path: String, content: String, executable: Bool)] {
        var out: [(String, String, Bool)] = []
        switch language {
        case .python:
            out.append(("\(name).py", pythonHandler, true))
        case .swift:
            out.append(("Package.swift", swiftPackage, false))
            out.append(("Sources/\(executable)/\(typeName).swift", swiftHandler, false))
        }
        if let params = conformanceParams { out.append(("conformance.json", params + "\n", false)) }
        out.append(("test.sh", testScript, true))
        out.append(("pack.sh", packScript, true))
        out.append((".github/workflows/conformance.yml", ciSnippet, false))
        out.append(("README.md", readme, false))
        out.append((".gitignore", language == .swift ? ".build/\nPackage.resolved\ndist/\n" : "dist/\n__pycache__/\n", false))
        return out
    }

    /// Writes the project into `directory` (which must not exist or be empty).
    func write(into directory: String) throws {
        let fm = FileManager.default
        if let existing = try? fm.contentsOfDirectory(atPath: directory), !existing.isEmpty {
            throw ScaffoldError(description: "\(directory) exists and is not empty: choose another --dir or remove it")
        }
        for file in files() {
            let path = directory + "/" + file.path
            try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try file.content.write(toFile: path, atomically: true, encoding: .utf8)
            if file.executable { chmod(path, 0o755) }
        }
    }

    struct ScaffoldError: Error, CustomStringConvertible { let description: String }

    // MARK: - The project around the handler

    var runCommand: String { language == .python ? "python3 \(name).py" : "\"$(swift build \"${flags[@]}\" --show-bin-path)/\(executable)\"" }

    var testScript: String {
        let config = conformanceParams == nil ? "" : " --config conformance.json"
        let build =
            language == .swift
            ? "flags=(${SWIFT_SCRATCH_PATH:+--scratch-path \"$SWIFT_SCRATCH_PATH\"})   # SWIFT_SCRATCH_PATH: build there (several projects may share it)\nswift build \"${flags[@]}\" --product \(executable)\n"
            : ""
        return """
            #!/usr/bin/env bash
            # Runs Gofer's conformance suite on this extension: every MUST check has to pass.
            # gofer-conformance comes with every Gofer release (bin/gofer-conformance); set GOFER_CONFORMANCE to its path.
            set -euo pipefail
            cd "$(dirname "$0")"
            \(build)exec "${GOFER_CONFORMANCE:-gofer-conformance}" --kind \(kind.rawValue)\(config) "$@" -- \(runCommand)

            """
    }

    var packScript: String {
        let build =
            language == .python
            ? "python3 -m gofer_extension.pack \(name).py -o dist/\(executable) >/dev/null"
            : "swift build -c release --static-swift-stdlib --product \(executable)\ncp \"$(swift build -c release --show-bin-path)/\(executable)\" dist/\(executable)"
        return """
            #!/usr/bin/env bash
            # Builds the one executable Gofer installs, and dist/index.json: a registry listing it with its SHA-256.
            # Serve dist/ anywhere the server can read, add dist/index.json to the server's `registries`, then
            # `gofer extension install \(name)`.
            set -euo pipefail
            cd "$(dirname "$0")"
            mkdir -p dist
            \(build)
            sha=$(sha256sum dist/\(executable) | cut -d' ' -f1)
            version=$(dist/\(executable) --describe | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
            cat > dist/index.json <<JSON
            {"registry": "\(name)", "extensions": [{"name": "\(name)", "kind": "\(kind.rawValue)", "versions": [
              {"version": "$version", "protocolVersions": ["1.1"], "source": {"path": "\(executable)"}, "sha256": "$sha"}]}]}
            JSON
            echo "dist/\(executable) ($sha) and dist/index.json"

            """
    }

    var ciSnippet: String {
        let setup =
            language == .python
            ? "      - uses: actions/setup-python@v5\n        with: { python-version: \"3.12\" }\n      - run: pip install gofer-extension   # or: pip install path/to/gofer/Sources/ExtensionSDK/Python\n"
            : "      - uses: swift-actions/setup-swift@v2\n        with: { swift-version: \"6.1\" }\n"
        return """
            # Runs Gofer's conformance suite on every push. gofer-conformance is one self-contained file from a Gofer
            # release; pin the version you support.
            name: conformance
            on: [push, pull_request]
            jobs:
              conformance:
                runs-on: ubuntu-latest
                steps:
                  - uses: actions/checkout@v4
            \(setup)      - run: |
                      curl -fsSL -o gofer.tar.gz https://github.com/gofer/gofer/releases/download/v0.1.0/gofer-0.1.0-linux-x86_64.tar.gz
                      tar -xzf gofer.tar.gz && echo "GOFER_CONFORMANCE=$PWD/gofer-0.1.0-linux-x86_64/bin/gofer-conformance" >> "$GITHUB_ENV"
                  - run: ./test.sh --junit conformance.xml

            """
    }

    var readme: String {
        let language = self.language == .python ? "Python (the `gofer_extension` SDK)" : "Swift (ExtensionSDK)"
        return """
            # \(name)

            A Gofer \(kind.rawValue) extension in \(language), made by `gofer extension new`. It works as generated —
            \(behaviour) — and passes Gofer's conformance suite; make it yours where the handler says TODO.

            ```sh
            ./test.sh        # gofer-conformance on it (GOFER_CONFORMANCE=path/to/gofer-conformance if not on PATH)
            ./pack.sh        # dist/\(executable), one executable, and dist/index.json, a registry listing it
            ```

            Install it on a server: add `dist/index.json` to the server's `registries` setting, then
            `gofer extension install \(name)`\(selection). The protocol: docs/protocol.md in Gofer; writing
            extensions: docs/extensions.md (Swift) and docs/extensions-python.md (Python).

            """
    }

    var selection: String {
        switch kind {
        case .trigger: return "; pipelines use it with `triggers: [{ trigger: \(name), label: x, settings: { seconds: 60 } }]`"
        case .task: return "; pipelines use it as `extension: \(name)` in a task or a hook"
        case .scheduler: return "; select it with `scheduler: \(name)` in the server settings"
        case .secrets: return "; select it with `secret_store: \(name)` in the server settings"
        }
    }

    var behaviour: String {
        switch kind {
        case .trigger: return "it starts a run every `seconds`"
        case .task: return "it prints its `message` to the task log"
        case .scheduler: return "it runs each task as a container through the docker CLI"
        case .secrets: return "it keeps secrets in a file in its state directory"
        }
    }

    // MARK: - Swift

    var swiftPackage: String {
        """
        // swift-tools-version: 6.0
        import PackageDescription

        let package = Package(
            name: \(SDKSource.quoted(name)),
            platforms: [.macOS(.v15)],
            dependencies: [\(sdk.dependency)],
            targets: [
                .executableTarget(
                    name: \(SDKSource.quoted(executable)), dependencies: [.product(name: "ExtensionSDK", package: \(SDKSource.quoted(sdk.identity)))],
                    path: "Sources/\(executable)")
            ]
        )

        """
    }

    var swiftHandler: String {
        let manifest = "name: \(SDKSource.quoted(name)), version: \"0.1.0\", summary: \(SDKSource.quoted(summary))"
        switch kind {
        case .trigger:
            return """
                import ExtensionSDK

                /// Starts a run every `seconds`. TODO: watch what you care about instead of a timer.
                @main
                struct \(typeName): Trigger {
                    static let manifest = Manifest(
                        \(manifest),
                        params: .object(["seconds": .integer(description: "How often to fire.", minimum: 1)], required: ["seconds"]))

                    struct Params: Decodable, Sendable { var seconds: Int }

                    init(config: NoConfig, context: ExtensionContext) {}

                    func subscribe(_ subscription: Subscription<Params>) async throws {
                        var count = Int(subscription.cursor ?? "") ?? 0  // where the last acknowledged event left off
                        while true {
                            try await Task.sleep(for: .seconds(subscription.params.seconds))  // TODO: wait for your event
                            count += 1
                            // Returns once the host has stored the event; the same eventID is never a second run.
                            _ = try await subscription.emit(eventID: "\\(subscription.id)-\\(count)", cursor: "\\(count)", variables: ["TICK": "\\(count)"])
                        }
                    }
                }

                """
        case .task:
            return """
                import ExtensionSDK

                /// Prints its `message` to the task log. TODO: do the work your pipelines need.
                @main
                struct \(typeName): CommonTask {
                    static let manifest = Manifest(
                        \(manifest),
                        params: .object(["message": .string(description: "What to print.")], required: ["message"]))

                    struct Params: Decodable, Sendable { var message: String }

                    init(config: NoConfig, context: ExtensionContext) {}

                    func run(_ params: Params, run: TaskRun) async throws -> TaskResult {
                        try await run.output.write(params.message + "\\n")  // what `gofer task logs` shows
                        return TaskResult(status: .success, summary: "printed the message")
                    }
                }

                """
        case .secrets:
            return """
                import ExtensionSDK
                import Foundation

                /// Keeps secrets in a JSON file (0600) in its state directory. TODO: talk to your secret backend.
                @main
                struct \(typeName): SecretStore {
                    static let manifest = Manifest(\(manifest))

                    actor File {
                        let path: String
                        var values: [String: [UInt8]] = [:]
                        init(path: String) {
                            self.path = path
                            if let data = FileManager.default.contents(atPath: path),
                                let stored = try? JSONDecoder().decode([String: [UInt8]].self, from: data)
                            {
                                values = stored
                            }
                        }
                        func set(_ key: String, _ value: [UInt8]?) throws {
                            values[key] = value
                            let data = try JSONEncoder().encode(values)
                            guard FileManager.default.createFile(atPath: path + ".tmp", contents: data, attributes: [.posixPermissions: 0o600]),
                                rename(path + ".tmp", path) == 0
                            else { throw ProtocolError(.unavailable, "cannot write \\(path): \\(String(cString: strerror(errno)))") }
                        }
                    }

                    let file: File

                    init(config: NoConfig, context: ExtensionContext) {
                        file = File(path: (context.stateDirectory ?? NSTemporaryDirectory()) + "/secrets.json")
                    }

                    func get(_ key: String) async throws -> [UInt8] {
                        guard let value = await file.values[key] else { throw ProtocolError(.notFound, "no secret \\"\\(key)\\"") }
                        return value
                    }

                    func put(_ key: String, value: [UInt8]) async throws { try await file.set(key, value) }

                    func delete(_ key: String) async throws { try await file.set(key, nil) }

                    func list(prefix: String) async throws -> [String] { await file.values.keys.filter { $0.hasPrefix(prefix) }.sorted() }
                }

                """
        case .scheduler:
            return """
                import ExtensionSDK
                import Foundation

                /// Runs each task as a container through the docker CLI; jobs outlive this process and are found by label.
                /// TODO: drive your engine instead (its CLI or API); keep start idempotent per task execution.
                @main
                struct \(typeName): Scheduler {
                    static let manifest = Manifest(\(manifest))

                    init(config: NoConfig, context: ExtensionContext) {}

                    /// Runs `docker ARGS`; a failure is a retryable "unavailable" error with what docker said.
                    func docker(_ arguments: [String]) async throws -> (ok: Bool, out: [UInt8], err: String) {
                        let r = try await ChildProcess.run("/usr/bin/env", arguments: ["docker"] + arguments, timeout: .seconds(300))
                        return (r.status == .exited(0), r.stdout, String(decoding: r.stderr, as: UTF8.self))
                    }

                    func checked(_ arguments: [String]) async throws -> [UInt8] {
                        let r = try await docker(arguments)
                        guard r.ok else { throw ProtocolError(.unavailable, "docker \\(arguments.first ?? ""): \\(r.err.prefix(500))") }
                        return r.out
                    }

                    static func status(_ c: JSONValue) -> JobStatus {
                        let s = c["State"]
                        let raw = s?["Status"]?.stringValue ?? ""
                        let state = JobStatus.State(rawValue: raw) ?? .unknown
                        let started = s?["StartedAt"]?.stringValue.flatMap { $0.hasPrefix("0001") ? nil : $0 }
                        var labels: [String: String] = [:]
                        for (k, v) in c["Config"]?["Labels"]?.objectValue ?? [:] { labels[k] = v.stringValue }
                        return JobStatus(
                            handle: c["Id"]?.stringValue ?? "", state: state, exitCode: state == .exited ? s?["ExitCode"]?.intValue.map { Int($0) } : nil,
                            oomKilled: s?["OOMKilled"]?.boolValue ?? false, startedAt: started,
                            finishedAt: state == .exited ? s?["FinishedAt"]?.stringValue : nil, labels: labels)
                    }

                    func list(labels: [String: String]) async throws -> [JobStatus] {
                        let ids = String(decoding: try await checked(["ps", "-aq", "--no-trunc"] + labels.map { "--filter=label=\\($0.key)=\\($0.value)" }), as: UTF8.self)
                            .split(whereSeparator: \\.isWhitespace).map(String.init)
                        guard !ids.isEmpty else { return [] }
                        let r = try await docker(["inspect", "--type=container"] + ids)  // one may vanish meanwhile
                        return (try? JSONParser().parse(r.out))?.arrayValue?.map(Self.status) ?? []
                    }

                    func start(_ job: JobSpec) async throws -> String {
                        if let found = try await list(labels: ["gofer.task_execution": job.taskExecutionID]).first { return found.handle }
                        var flags = (job.labels.merging(["gofer.task_execution": job.taskExecutionID]) { $1 }).map { "--label=\\($0.key)=\\($0.value)" }
                        flags += job.env.map { "-e\\($0.key)=\\($0.value)" }
                        if let entry = job.entrypoint?.first { flags += ["--entrypoint", entry] }
                        let args = Array((job.entrypoint ?? []).dropFirst()) + (job.command ?? [])
                        let out = try await checked(["run", "-d"] + flags + [job.image] + args)
                        return String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                    }

                    func inspect(_ handle: String) async throws -> JobStatus {
                        let r = try await docker(["inspect", "--type=container", handle])
                        guard r.ok, let c = (try? JSONParser().parse(r.out))?.arrayValue?.first else { throw ProtocolError(.notFound, "no job \\(handle)") }
                        return Self.status(c)
                    }

                    func wait(_ handle: String) async throws -> JobStatus {
                        var delay = Duration.milliseconds(50)
                        while true {
                            let status = try await inspect(handle)
                            if status.state == .exited { return status }
                            try await Task.sleep(for: delay)
                            delay = min(delay * 2, .milliseconds(500))
                        }
                    }

                    func stop(_ handle: String, grace: Duration) async throws {
                        guard let status = try? await inspect(handle), status.state != .exited else { return }  // unknown or ended: done
                        _ = try await checked(["stop", "-t", String(max(1, grace.components.seconds)), handle])
                    }

                    func remove(_ handle: String) async throws {
                        guard let status = try? await inspect(handle) else { return }
                        if status.state == .running { throw ProtocolError(.failedPrecondition, "job \\(handle) is running: stop it first") }
                        _ = try await checked(["rm", "-f", handle])
                    }

                    /// TODO: stream live while following (this sends what docker has once it ends).
                    func logs(_ handle: String, follow: Bool, to output: ExtensionSDK.OutputStream) async throws {
                        _ = try await inspect(handle)
                        let r = try await ChildProcess.run("/usr/bin/env", arguments: ["docker", "logs"] + (follow ? ["-f"] : []) + [handle], timeout: .seconds(86400))
                        try await output.write(r.stdout, fd: "stdout")
                        try await output.write(r.stderr, fd: "stderr")
                    }
                }

                """
        }
    }

    // MARK: - Python

    var pythonHandler: String {
        let head = "name, summary = \(SDKSource.quoted(name)), \(SDKSource.quoted(summary))"
        switch kind {
        case .trigger:
            return """
                #!/usr/bin/env python3
                \"\"\"Starts a run every `seconds`. TODO: watch what you care about instead of a timer.\"\"\"
                import asyncio
                from gofer_extension import Subscription, Trigger, serve

                class \(typeName)(Trigger):
                    \(head)
                    params_schema = {"type": "object", "additionalProperties": False, "required": ["seconds"],
                                     "properties": {"seconds": {"type": "number", "minimum": 1}}}
                    async def watch(self, sub: Subscription) -> None:
                        tick = int(sub.cursor or 0)  # where the last acknowledged event left off
                        while True:
                            await asyncio.sleep(sub.params["seconds"])  # TODO: wait for your event
                            tick += 1
                            # Returns once the host has stored the event; the same event_id is never a second run.
                            await sub.emit({"TICK": str(tick)}, event_id="%s-%d" % (sub.id, tick), cursor=str(tick))

                serve(\(typeName)())

                """
        case .task:
            return """
                #!/usr/bin/env python3
                \"\"\"Prints its `message` to the task log. TODO: do the work your pipelines need.\"\"\"
                from gofer_extension import CommonTask, Job, Outcome, serve, success

                class \(typeName)(CommonTask):
                    \(head)
                    params_schema = {"type": "object", "additionalProperties": False, "required": ["message"],
                                     "properties": {"message": {"type": "string"}}}
                    async def run(self, job: Job) -> Outcome:
                        await job.print(job.params["message"])  # what `gofer task logs` shows
                        return success("printed the message")

                serve(\(typeName)())

                """
        case .secrets:
            return """
                #!/usr/bin/env python3
                \"\"\"Keeps secrets in a JSON file (0600) in its state directory. TODO: talk to your secret backend.\"\"\"
                import base64, json, os, tempfile
                from gofer_extension import SecretStore, serve

                class \(typeName)(SecretStore):
                    \(head)
                    async def setup(self) -> None:
                        self.path = os.path.join(self.state_dir or tempfile.mkdtemp(), "secrets.json")
                        self.values = json.load(open(self.path)) if os.path.exists(self.path) else {}
                    def save(self) -> None:
                        with open(os.open(self.path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                            json.dump(self.values, f)
                        os.replace(self.path + ".tmp", self.path)
                    async def get(self, key: str) -> "bytes | None":
                        return base64.b64decode(self.values[key]) if key in self.values else None
                    async def put(self, key: str, value: bytes) -> None:
                        self.values[key] = base64.b64encode(value).decode()
                        self.save()
                    async def delete(self, key: str) -> None:
                        if self.values.pop(key, None) is not None:
                            self.save()
                    async def list(self, prefix: str) -> "list[str]":
                        return [k for k in self.values if k.startswith(prefix)]

                serve(\(typeName)())

                """
        case .scheduler:
            return """
                #!/usr/bin/env python3
                \"\"\"Runs each task as a container through the docker CLI; jobs outlive this process and are found by label.
                TODO: drive your engine instead (its CLI or API); keep start idempotent per task execution.\"\"\"
                import asyncio, json
                from typing import Any
                from gofer_extension import CommandFailed, JobSpec, JobStatus, LogSink, Scheduler, command, serve

                def job(c: Any) -> JobStatus:  # one container of `docker inspect`
                    s, ended = c["State"], c["State"]["Status"] == "exited"
                    state = s["Status"] if s["Status"] in ("created", "running", "exited") else "unknown"
                    started = None if s["StartedAt"].startswith("0001") else s["StartedAt"]
                    return JobStatus(c["Id"], state, s["ExitCode"] if ended else None, s["OOMKilled"], started, s["FinishedAt"] if ended else None, c["Config"]["Labels"] or {})

                class \(typeName)(Scheduler):
                    \(head)
                    async def list(self, labels: "dict[str, str]") -> "list[JobStatus]":
                        ids = (await command("docker", "ps", "-aq", "--no-trunc", *("--filter=label=%s=%s" % kv for kv in labels.items()))).split()
                        return [job(c) for c in json.loads(await command("docker", "inspect", *(i.decode() for i in ids)))] if ids else []
                    async def start(self, spec: JobSpec) -> str:
                        for found in await self.list({"gofer.task_execution": spec.task_execution_id}):
                            return found.handle  # started before: the same job
                        flags = ["--label=%s=%s" % kv for kv in {**spec.labels, "gofer.task_execution": spec.task_execution_id}.items()]
                        flags += ["-e%s=%s" % kv for kv in spec.env.items()] + (["--entrypoint", spec.entrypoint[0]] if spec.entrypoint else [])
                        args = (spec.entrypoint or [])[1:] + (spec.command or [])
                        return (await command("docker", "run", "-d", *flags, spec.image, *args)).decode().strip()
                    async def inspect(self, handle: str) -> "JobStatus | None":
                        try:
                            return job(json.loads(await command("docker", "inspect", "--type=container", handle))[0])
                        except CommandFailed:
                            return None  # no such container
                    async def stop(self, handle: str, grace: float) -> None:
                        await command("docker", "stop", "-t", str(max(1, round(grace))), handle)
                    async def remove(self, handle: str) -> None:
                        await command("docker", "rm", "-f", handle)
                    async def logs(self, handle: str, sink: LogSink, follow: bool) -> None:
                        pipe = asyncio.subprocess.PIPE
                        await sink.pipe(await asyncio.create_subprocess_exec("docker", "logs", *(["-f"] if follow else []), handle, stdout=pipe, stderr=pipe))

                serve(\(typeName)())

                """
        }
    }
}

extension ExtensionKind: ExpressibleByArgument {}
extension ExtensionScaffold.Language: ExpressibleByArgument {}
