import ExtensionClient
import ExtensionSDK
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Checks every extension must pass, whatever its kind.
enum CommonChecks {
    static var all: [Check] {
        describe + lifecycle + versions + framing + methods + concurrency + shutdown + config + whole
    }

    // MARK: - describe

    static let describe: [Check] = [
        Check(id: "describe.manifest", level: .must, title: "--describe prints the manifest and exits 0") { ctx in
            let result = try await ConformanceSuite.runToCompletion(
                ctx.options.launch, extraArguments: ["--describe"], timeout: .seconds(10))
            guard result.status == .exited(0) else { throw CheckFailure("--describe \(result.status), expected exit 0") }
            let lines = result.stdout.split(separator: 0x0A)
            guard lines.count == 1, let manifest = try? JSONParser().parse(lines[0]) else {
                throw CheckFailure("--describe must print exactly one JSON object on one line; got \(lines.count) line(s)")
            }
            var problems: [String] = []
            for key in ["name", "kind", "version", "summary"] where manifest[key]?.stringValue == nil {
                problems.append("missing string \"\(key)\"")
            }
            if manifest["kind"]?.stringValue != ctx.options.kind.rawValue {
                problems.append("kind is \(manifest["kind"] ?? .null), expected \"\(ctx.options.kind.rawValue)\"")
            }
            let versions = manifest["protocolVersions"]?.arrayValue?.compactMap(\.stringValue).compactMap(ProtocolVersion.init) ?? []
            if versions.isEmpty { problems.append("protocolVersions must list \"MAJOR.MINOR\" strings") }
            for key in ["configSchema", "paramsSchema"] where manifest[key]?.objectValue == nil && manifest[key]?.boolValue == nil {
                problems.append("missing \(key)")
            }
            if !problems.isEmpty { throw CheckFailure(problems.joined(separator: "; ")) }
        },
        Check(id: "describe.matches-handshake", level: .must, title: "--describe agrees with the initialize result") { ctx in
            guard let manifest = ctx.manifest else { throw CheckSkipped("--describe did not produce a manifest (see describe.manifest)") }
            let session = try await ctx.open()
            guard let raw = session.handshake?.raw else { throw CheckFailure("no handshake") }
            var diffs: [String] = []
            for key in ["name", "kind", "version"] where manifest[key] != raw["extension"]?[key] {
                diffs.append("\(key): describe \(manifest[key] ?? .null) vs handshake \(raw["extension"]?[key] ?? .null)")
            }
            for key in ["configSchema", "paramsSchema", "capabilities"] where manifest[key] != raw[key] { diffs.append("\(key) differs") }
            if !diffs.isEmpty { throw CheckFailure(diffs.joined(separator: "; ")) }
        },
    ]

    // MARK: - lifecycle

    static let lifecycle: [Check] = [
        Check(id: "lifecycle.handshake", level: .must, title: "initialize is answered with a valid result within 10 s") { ctx in
            let start = ContinuousClock.now
            let session = try await ctx.open()
            guard let shake = session.handshake else { throw CheckFailure("no handshake") }
            if shake.kind != ctx.options.kind { throw CheckFailure("kind \(shake.kind.rawValue), expected \(ctx.options.kind.rawValue)") }
            if ContinuousClock.now - start > .seconds(10) { throw CheckFailure("initialize took longer than 10 s") }
        },
        Check(id: "lifecycle.unknown-fields-ignored", level: .must, title: "unknown members in initialize params are ignored") { ctx in
            let session = try await ctx.open(initialize: false)
            var params = ctx.initializeOptions(admin: ctx.options.adminConfig).params
            params["zz_future"] = ["nested": [1, 2, 3]]
            let result = try await session.call(ProtocolMethod.initialize.rawValue, params)
            guard result["protocolVersion"]?.stringValue != nil else { throw CheckFailure("initialize result has no protocolVersion") }
        },
        Check(id: "lifecycle.ping-before-initialize", level: .must, title: "$/ping is answered before initialize") { ctx in
            let session = try await ctx.open(initialize: false)
            let result = try await session.call(ProtocolMethod.ping.rawValue)
            guard result == .emptyObject else { throw CheckFailure("$/ping answered \(result), expected {}") }
        },
        Check(id: "lifecycle.request-before-initialize", level: .must, title: "requests before initialize get -32001") { ctx in
            let session = try await ctx.open(initialize: false)
            try await session.expectError(ProtocolMethod.health.rawValue, .emptyObject, [.notInitialized])
            try await session.expectError("\(ctx.options.kind.rawValue)/validate", ["params": [:]], [.notInitialized])
        },
        Check(id: "lifecycle.second-initialize", level: .must, title: "a second initialize gets -32002") { ctx in
            let session = try await ctx.open()
            try await session.expectError(ProtocolMethod.initialize.rawValue, ctx.initializeOptions(admin: ctx.options.adminConfig).params, [.alreadyInitialized])
        },
        Check(id: "lifecycle.kind-mismatch", level: .must, title: "initialize for another kind is refused with a diagnostic, and the extension stays up for the right one") { ctx in
            let session = try await ctx.open(initialize: false)
            var params = ctx.initializeOptions(admin: ctx.options.adminConfig).params
            let other = ExtensionKind.allCases.first { $0 != ctx.options.kind } ?? .trigger
            params["kind"] = .string(other.rawValue)
            let error = try await session.expectError(ProtocolMethod.initialize.rawValue, params, [.invalidParams], "asked for a \(other.rawValue)")
            guard error.diagnostics.contains(where: { $0.path == "/kind" }) else {
                throw CheckFailure("the error should carry a diagnostic with path /kind; got \(error.diagnostics)")
            }
            // It stays up, waiting for an initialize it can accept (protocol.md §4.1).
            params["kind"] = .string(ctx.options.kind.rawValue)
            do {
                _ = try await session.call(ProtocolMethod.initialize.rawValue, params)
            } catch {
                throw CheckFailure("after refusing the wrong kind, an initialize for the right one failed: \(error)")
            }
        },
        Check(id: "health.reports", level: .must, title: "health reports healthy, degraded or unhealthy") { ctx in
            let session = try await ctx.open()
            let result = try await session.call(ProtocolMethod.health.rawValue)
            guard let status = result["status"]?.stringValue, ["healthy", "degraded", "unhealthy"].contains(status) else {
                throw CheckFailure("health answered \(result)")
            }
        },
    ]

    // MARK: - versions

    static let versions: [Check] = [
        Check(
            id: "version.unsupported-major", level: .must, title: "an unsupported protocol major is refused with -32000 listing both sides"
        ) { ctx in
            let session = try await ctx.open(initialize: false)
            let params = ctx.initializeOptions(admin: ctx.options.adminConfig, versions: ["99.0"]).params
            let error = try await session.expectError(ProtocolMethod.initialize.rawValue, params, [.unsupportedVersion])
            guard error.extra["supported"]?.arrayValue?.isEmpty == false, error.extra["requested"]?.arrayValue != nil else {
                throw CheckFailure("error.data must carry \"supported\" and \"requested\"; got \(error.json)")
            }
        },
        Check(id: "version.exit-after-mismatch", level: .should, title: "after refusing the version the extension exits with code 3") {
            ctx in
            let session = try await ctx.open(initialize: false)
            _ = try? await session.call(ProtocolMethod.initialize.rawValue, ctx.initializeOptions(admin: ctx.options.adminConfig, versions: ["99.0"]).params)
            guard let status = await session.connection.process.waitForExit(timeout: .seconds(3)) else {
                throw CheckFailure("still running 3 s after the version mismatch")
            }
            if status != .exited(3) { throw CheckFailure("\(status), expected exit code 3") }
        },
        Check(id: "version.minor-negotiation", level: .must, title: "a newer minor of a known major negotiates down") { ctx in
            let session = try await ctx.open(initialize: false)
            let result = try await session.call(
                "initialize", ctx.initializeOptions(admin: ctx.options.adminConfig, versions: ["1.999"]).params)
            guard let chosen = result["protocolVersion"]?.stringValue.flatMap(ProtocolVersion.init), chosen.major == 1, chosen.minor <= 999
            else {
                throw CheckFailure("offered 1.999, got protocolVersion \(result["protocolVersion"] ?? .null)")
            }
        },
        Check(id: "version.malformed", level: .must, title: "malformed versions (\"v1\", \"1\", 1.0) get -32602") { ctx in
            for bad: JSONValue in [["v1"], ["1"], [1.5], "1.0", []] {
                let session = try await ctx.open(initialize: false)
                var params = ctx.initializeOptions(admin: ctx.options.adminConfig).params
                params["protocolVersions"] = bad
                do {
                    try await session.expectError(ProtocolMethod.initialize.rawValue, params, [.invalidParams], "protocolVersions \(bad)")
                } catch {
                    await session.close()
                    throw error
                }
                await session.close()
            }
        },
    ]

    // MARK: - framing

    static func framing(_ id: String, _ title: String, _ line: String, expectID: JSONValue = .null, codes: [ErrorCode]) -> Check {
        Check(id: id, level: .must, title: title) { ctx in
            let session = try await ctx.open()
            try await session.expectRawError(Array(line.utf8), id: expectID, codes: codes, what: "sending \(line.prefix(60))")
        }
    }

    static let framing: [Check] = [
        framing(
            "framing.truncated-json", "truncated JSON gets -32700 and the extension keeps serving", #"{"jsonrpc":"2.0","#,
            codes: [.parseError]),
        framing("framing.not-an-object", "a non-object frame gets -32600", "42", codes: [.invalidRequest]),
        framing("framing.string-frame", "a string frame gets -32600", #""x""#, codes: [.invalidRequest]),
        framing("framing.null-frame", "a null frame gets -32600", "null", codes: [.invalidRequest]),
        framing("framing.batch", "a batch gets -32600", #"[{"jsonrpc":"2.0","id":1,"method":"$/ping"}]"#, codes: [.invalidRequest]),
        framing("framing.empty-batch", "an empty batch gets -32600", "[]", codes: [.invalidRequest]),
        framing(
            "framing.wrong-jsonrpc", "jsonrpc \"1.0\" gets -32600 naming the id", #"{"jsonrpc":"1.0","id":900001,"method":"$/ping"}"#,
            expectID: 900001, codes: [.invalidRequest]),
        framing(
            "framing.missing-jsonrpc", "a frame without jsonrpc gets -32600", #"{"id":900002,"method":"$/ping"}"#, expectID: 900002,
            codes: [.invalidRequest]),
        framing("framing.id-object", "an object id gets -32600", #"{"jsonrpc":"2.0","id":{},"method":"$/ping"}"#, codes: [.invalidRequest]),
        framing(
            "framing.id-fraction", "a fractional id gets -32600", #"{"jsonrpc":"2.0","id":1.5,"method":"$/ping"}"#, codes: [.invalidRequest]
        ),
        framing("framing.id-bool", "a boolean id gets -32600", #"{"jsonrpc":"2.0","id":true,"method":"$/ping"}"#, codes: [.invalidRequest]),
        framing(
            "framing.id-negative", "a negative id gets -32600", #"{"jsonrpc":"2.0","id":-4,"method":"$/ping"}"#, codes: [.invalidRequest]),
        framing(
            "framing.params-array", "params as an array gets -32602", #"{"jsonrpc":"2.0","id":900003,"method":"health","params":[1]}"#,
            expectID: 900003, codes: [.invalidParams]),
        framing(
            "framing.duplicate-keys", "duplicate keys are refused, not guessed",
            #"{"jsonrpc":"2.0","id":900004,"id":900005,"method":"$/ping"}"#,
            codes: [.parseError, .invalidRequest]),
        framing(
            "framing.number-overflow", "1e400 is refused without a crash", #"{"jsonrpc":"2.0","id":1e400,"method":"$/ping"}"#,
            codes: [.parseError, .invalidRequest]),
        framing(
            "framing.lone-surrogate", "a lone surrogate escape is refused", #"{"jsonrpc":"2.0","id":"\ud800","method":"$/ping"}"#,
            codes: [.parseError, .invalidRequest]),
        Check(id: "framing.invalid-utf8", level: .must, title: "invalid UTF-8 gets -32700 and the extension keeps serving") { ctx in
            let session = try await ctx.open()
            var line = Array(#"{"jsonrpc":"2.0","id":900006,"method":"x"#.utf8)
            line += [0xFF, 0xFE]
            line += Array(#""}"#.utf8)
            try await session.expectRawError(line, id: .null, codes: [.parseError], what: "invalid UTF-8")
        },
        Check(id: "framing.byte-order-mark", level: .must, title: "a UTF-8 byte order mark is refused") { ctx in
            let session = try await ctx.open()
            let line: [UInt8] = [0xEF, 0xBB, 0xBF] + Array(#"{"jsonrpc":"2.0","id":900007,"method":"$/ping"}"#.utf8)
            try await session.expectRawError(line, id: .null, codes: [.parseError], what: "a BOM")
        },
        Check(id: "framing.deep-nesting", level: .must, title: "10,000-deep nesting is refused without a stack overflow") { ctx in
            let session = try await ctx.open()
            let line =
                Array(#"{"jsonrpc":"2.0","id":900008,"method":"$/ping","params":{"x":"#.utf8) + [UInt8](repeating: 0x5B, count: 10_000)
                + [UInt8](repeating: 0x5D, count: 10_000) + Array("}}".utf8)
            try await session.expectRawError(
                line, id: .null, codes: [.parseError, .invalidRequest, .invalidParams], what: "10,000-deep nesting")
        },
        Check(
            id: "framing.oversized-frame", level: .must,
            title: "a frame over the size limit gets -32005 (or is dropped) and serving continues"
        ) { ctx in
            let session = try await ctx.open()
            let limit = session.handshake?.raw["limits"]?["maxFrameBytes"]?.intValue ?? 4 * 1024 * 1024
            var line = Array(#"{"jsonrpc":"2.0","id":900009,"method":"health","params":{"pad":""#.utf8)
            line += [UInt8](repeating: 0x61, count: Int(limit) + 1024)
            line += Array(#""}}"#.utf8) + [0x0A]
            let answer = try await session.sendRaw(line, waitFor: { $0["id"] == 900009 }, timeout: .seconds(5))
            if let answer, answer["error"]?["code"]?.intValue != Int64(ErrorCode.frameTooLarge.rawValue) {
                throw CheckFailure("expected -32005 for a \(line.count)-byte frame, got \(answer)")
            }
            try await session.assertAlive("an oversized frame")
        },
        Check(id: "framing.crlf-and-blank-lines", level: .must, title: "CRLF line ends are accepted and blank lines ignored") { ctx in
            let session = try await ctx.open()
            let answer = try await session.sendRaw(
                Array("\n\r\n{\"jsonrpc\":\"2.0\",\"id\":900010,\"method\":\"$/ping\"}\r\n".utf8), waitFor: { $0["id"] == 900010 })
            guard let answer, answer["result"] == .emptyObject else {
                throw CheckFailure("a CRLF-terminated $/ping got \(answer ?? "no answer")")
            }
            let errors = session.receivedFrames.compactMap { try? JSONParser().parse($0) }.filter {
                $0["id"] == .null && $0["error"] != nil
            }
            if !errors.isEmpty { throw CheckFailure("blank lines were answered with errors: \(errors[0])") }
        },
        Check(id: "framing.id-echoed-exactly", level: .must, title: "ids are echoed exactly (2^53-1, unicode strings)") { ctx in
            let session = try await ctx.open()
            for id: JSONValue in [9_007_199_254_740_991, "ü-ß-🙂", "", 0] {
                var line: [UInt8] = Array(#"{"jsonrpc":"2.0","id":"#.utf8)
                id.write(to: &line)
                line += Array(#","method":"$/ping"}"#.utf8) + [0x0A]
                let answer = try await session.sendRaw(line, waitFor: { $0["id"] == id })
                guard answer?["result"] == .emptyObject else {
                    throw CheckFailure("$/ping with id \(id) got \(answer ?? "no answer with that id")")
                }
            }
        },
    ]

    // MARK: - methods

    static let methods: [Check] = [
        Check(id: "methods.unknown-request", level: .must, title: "unknown methods get -32601") { ctx in
            let session = try await ctx.open()
            try await session.expectError("foo/bar", .emptyObject, [.methodNotFound])
            try await session.expectError("$/zzz", .emptyObject, [.methodNotFound])
            try await session.assertAlive("unknown methods")
        },
        Check(id: "methods.unknown-notification", level: .must, title: "unknown notifications are ignored silently") { ctx in
            let session = try await ctx.open()
            let before = session.receivedFrames.count
            session.connection.notify("$/zzz", ["a": 1])
            session.connection.notify("zz/future", [:])
            try await session.assertAlive("unknown notifications")
            let extra = session.receivedFrames.dropFirst(before).compactMap { try? JSONParser().parse($0) }.filter { $0["error"] != nil }
            if !extra.isEmpty { throw CheckFailure("an unknown notification was answered: \(extra[0])") }
        },
        Check(id: "methods.cancel-unknown-id", level: .must, title: "$/cancel for an unknown id is ignored") { ctx in
            let session = try await ctx.open()
            let before = session.receivedFrames.count
            session.connection.notify(ProtocolMethod.cancel.rawValue, ["id": 777_777])
            try await session.assertAlive("$/cancel of an unknown id")
            let extra = session.receivedFrames.dropFirst(before).compactMap { try? JSONParser().parse($0) }.filter { $0["id"] == 777_777 }
            if !extra.isEmpty { throw CheckFailure("$/cancel of an unknown id produced a response: \(extra[0])") }
        },
        Check(id: "methods.stream-credit-unknown", level: .must, title: "stream/credit for an unknown stream is ignored") { ctx in
            let session = try await ctx.open()
            session.connection.notify(ProtocolMethod.streamCredit.rawValue, ["streamId": "nope", "bytes": 1000])
            try await session.assertAlive("stream/credit for an unknown stream")
        },
    ]

    // MARK: - concurrency

    static let concurrency: [Check] = [
        Check(id: "deadline.expired-on-arrival", level: .must, title: "a request with timeoutMs 0 gets -32051 without running") { ctx in
            let session = try await ctx.open()
            let id = session.nextRawID()
            let answer = try await session.sendRaw(
                Array(#"{"jsonrpc":"2.0","id":\#(id),"method":"health","params":{"_meta":{"timeoutMs":0}}}"#.utf8) + [0x0A],
                waitFor: { $0["id"] == .int(id) })
            guard let answer else { throw CheckFailure("no answer within 5 s") }
            guard answer["error"]?["code"] == .int(Int64(ErrorCode.deadlineExceeded.rawValue)) else {
                throw CheckFailure("expected -32051 for a request that expired on arrival, got \(answer)")
            }
        },
        Check(id: "cancel.answered-once", level: .must, title: "a request cancelled as it arrives is answered exactly once") { ctx in
            let session = try await ctx.open()
            var ids: [Int64] = []
            var lines: [UInt8] = []
            for _ in 0..<20 {
                let id = session.nextRawID()
                ids.append(id)
                lines += Array(#"{"jsonrpc":"2.0","id":\#(id),"method":"health"}"#.utf8) + [0x0A]
                lines += Array(#"{"jsonrpc":"2.0","method":"$/cancel","params":{"id":\#(id),"reason":"conformance"}}"#.utf8) + [0x0A]
            }
            let last = ids.last ?? 0
            _ = try await session.sendRaw(lines, waitFor: { $0["id"] == .int(last) })
            // Answers may come in any order (a handler already running finishes its cancellation
            // later than one never started, at the latest when the cancel grace — 5 s, the
            // handshake's cancelGraceMs — has passed): wait that long and 2 s more for every id,
            // then 300 ms for any second answer.
            func answered() -> Set<JSONValue> {
                Set(session.receivedFrames.compactMap { try? JSONParser().parse($0) }.filter { $0["method"] == nil }.compactMap { $0["id"] })
            }
            let deadline = ContinuousClock.now + .seconds(7)
            while ContinuousClock.now < deadline, !Set(ids.map { JSONValue.int($0) }).isSubset(of: answered()) {
                try await Task.sleep(for: .milliseconds(50))
            }
            try await Task.sleep(for: .milliseconds(300))
            let frames = session.receivedFrames.compactMap { try? JSONParser().parse($0) }
            for id in ids {
                let answers = frames.filter { $0["id"] == .int(id) && $0["method"] == nil }
                guard answers.count == 1 else { throw CheckFailure("request \(id) got \(answers.count) answers within 7 s (the cancel grace and 2 s)") }
                let a = answers[0]
                if let code = a["error"]?["code"], code != .int(Int64(ErrorCode.cancelled.rawValue)) {
                    throw CheckFailure("a cancelled request must be answered with its result or -32050, got \(a)")
                }
            }
        },
        Check(id: "concurrency.parallel-requests", level: .must, title: "200 concurrent requests each get exactly one matching response") {
            ctx in
            let session = try await ctx.open()
            let outcomes = await withTaskGroup(of: String?.self) { group in
                for i in 0..<200 {
                    group.addTask {
                        do {
                            _ = try await session.call(i % 2 == 0 ? "health" : ProtocolMethod.ping.rawValue)
                            return nil
                        } catch let error as ProtocolError where error.code == .resourceExhausted {
                            return nil  // allowed: the excess over maxConcurrentRequests
                        } catch {
                            return "\(error)"
                        }
                    }
                }
                var failures: [String] = []
                for await f in group { if let f { failures.append(f) } }
                return failures
            }
            if !outcomes.isEmpty { throw CheckFailure("\(outcomes.count) of 200 failed, e.g. \(outcomes[0])") }
            // Exactly one response per id.
            var seen: [JSONValue: Int] = [:]
            for frame in session.receivedFrames {
                if let v = try? JSONParser().parse(frame), let id = v["id"], v["method"] == nil { seen[id, default: 0] += 1 }
            }
            if let dup = seen.first(where: { $0.value > 1 }) { throw CheckFailure("id \(dup.key) was answered \(dup.value) times") }
        },
        Check(
            id: "concurrency.limit", level: .must,
            title: "a burst over maxConcurrentRequests is answered at once: each request its result or -32057 with retryAfterMs; $/ping is not queued"
        ) { ctx in
            let session = try await ctx.open()
            let advertised = Int(session.handshake?.raw["limits"]?["maxConcurrentRequests"]?.intValue ?? 64)
            let count = min(max(3 * advertised, 200), 2_000)
            // The kind's own cheap request, alternating with health, so every kind's handler path is loaded.
            let own: (method: ProtocolMethod, params: String)
            switch ctx.options.kind {
            case .scheduler: own = (.schedulerList, #"{"labels":{"gofer.conformance":"none"}}"#)
            case .secrets: own = (.secretsList, #"{"prefix":"conformance-none/"}"#)
            case .trigger: own = (.triggerValidate, #"{"params":{}}"#)
            case .task: own = (.taskValidate, #"{"params":{}}"#)
            }
            var ids: [Int64] = []
            var burst: [UInt8] = []
            for i in 0..<count {
                let id = session.nextRawID()
                ids.append(id)
                let line =
                    i % 2 == 0
                    ? #"{"jsonrpc":"2.0","id":\#(id),"method":"health"}"#
                    : #"{"jsonrpc":"2.0","id":\#(id),"method":"\#(own.method.rawValue)","params":\#(own.params)}"#
                burst += Array(line.utf8) + [0x0A]
            }
            let pingID = session.nextRawID()
            burst += Array(#"{"jsonrpc":"2.0","id":\#(pingID),"method":"$/ping"}"#.utf8) + [0x0A]
            guard try await session.sendRaw(burst, waitFor: { $0["id"] == .int(pingID) && $0["method"] == nil }, timeout: .seconds(5)) != nil
            else { throw CheckFailure("$/ping sent after a burst of \(count) requests was not answered within 5 s: it must not wait behind other work") }
            let last = Set(ids)
            // A stall is 20 s without a single answer. The requests let in wait for whatever they
            // call (a cluster's API on a busy machine may take a while for each), so a burst
            // that keeps being answered may take longer in all — up to 3 minutes.
            let started = ContinuousClock.now
            var progress = started
            var answers: [Int64: [JSONValue]] = [:]
            while ContinuousClock.now - progress < .seconds(20) && ContinuousClock.now - started < .seconds(180) {
                let before = answers.count
                answers = [:]
                for frame in session.receivedFrames {
                    guard let v = try? JSONParser().parse(frame), v["method"] == nil, let id = v["id"]?.intValue, last.contains(id) else { continue }
                    answers[id, default: []].append(v)
                }
                if answers.count == ids.count { break }
                if answers.count > before { progress = ContinuousClock.now }
                try await Task.sleep(for: .milliseconds(100))
            }
            let missing = ids.filter { answers[$0] == nil }
            if !missing.isEmpty {
                throw CheckFailure(
                    "\(missing.count) of \(count) requests in a burst got no answer (none for 20 s, e.g. id \(missing[0])): excess requests must get -32057 at once, never stall"
                )
            }
            var refused = 0  // counted for the message below
            for id in ids {
                let list = answers[id] ?? []
                if list.count != 1 { throw CheckFailure("request \(id) got \(list.count) answers") }
                guard let error = list[0]["error"] else { continue }
                let code = error["code"]?.intValue
                if code == Int64(ErrorCode.resourceExhausted.rawValue) {
                    refused += 1
                    guard let retry = error["data"]?["retryAfterMs"]?.intValue, retry >= 0 else {
                        throw CheckFailure("-32057 must carry data.retryAfterMs (a whole number of milliseconds), got \(list[0])")
                    }
                } else if code != Int64(ErrorCode.invalidParams.rawValue) {
                    throw CheckFailure("a request in the burst got \(list[0]); expected its result or -32057")
                }
            }
            try await session.assertAlive("a burst of \(count) requests")
        },
        Check(id: "concurrency.duplicate-response-ignored", level: .must, title: "a response with an unknown id is ignored") { ctx in
            let session = try await ctx.open()
            session.connection.sendRaw(Array(#"{"jsonrpc":"2.0","id":"e999999","result":{}}"#.utf8) + [0x0A])
            try await session.assertAlive("a stray response")
        },
    ]

    // MARK: - shutdown

    static let shutdown: [Check] = [
        Check(
            id: "shutdown.graceful", level: .must,
            title: "shutdown is answered within its deadline, later requests get -32003, exit ends the process with 0"
        ) { ctx in
            let session = try await ctx.open()
            let start = ContinuousClock.now
            do {
                _ = try await session.connection.request(ProtocolMethod.shutdown.rawValue, ["deadlineMs": 3000], timeout: .seconds(4), cancelGrace: .zero)
            } catch {
                throw CheckFailure("shutdown{deadlineMs:3000} was not answered within 4 s: \(error)")
            }
            if ContinuousClock.now - start > .seconds(3) { throw CheckFailure("shutdown took longer than its 3 s deadline") }
            try await session.expectError(ProtocolMethod.health.rawValue, .emptyObject, [.shuttingDown], "after shutdown")
            session.connection.notify(ProtocolMethod.exit.rawValue)
            guard let status = await session.connection.process.waitForExit(timeout: .seconds(2)) else {
                throw CheckFailure("still running 2 s after exit")
            }
            if status != .exited(0) { throw CheckFailure("after shutdown + exit: \(status), expected exit code 0") }
        },
        Check(id: "shutdown.exit-without-shutdown", level: .should, title: "exit without shutdown ends the process with code 1") { ctx in
            let session = try await ctx.open()
            session.connection.notify(ProtocolMethod.exit.rawValue)
            guard let status = await session.connection.process.waitForExit(timeout: .seconds(2)) else {
                throw CheckFailure("still running 2 s after exit")
            }
            if status != .exited(1) { throw CheckFailure("\(status), expected exit code 1") }
        },
        Check(id: "shutdown.stdin-eof", level: .must, title: "closing stdin ends the process within 2 s") { ctx in
            let session = try await ctx.open()
            session.connection.process.closeStdin()
            guard await session.connection.process.waitForExit(timeout: .seconds(2)) != nil else {
                throw CheckFailure("still running 2 s after its stdin closed")
            }
        },
        Check(id: "shutdown.sigterm", level: .must, title: "SIGTERM ends the process within 2 s") { ctx in
            let session = try await ctx.open()
            kill(session.connection.process.pid, SIGTERM)
            guard await session.connection.process.waitForExit(timeout: .seconds(2)) != nil else {
                throw CheckFailure("still running 2 s after SIGTERM")
            }
        },
    ]

    // MARK: - config

    static let config: [Check] = [
        Check(id: "config.schemas-are-objects", level: .must, title: "config and params schemas describe JSON objects") { ctx in
            let session = try await ctx.open()
            guard let shake = session.handshake else { throw CheckFailure("no handshake") }
            for (name, schema) in [("configSchema", shake.configSchema), ("paramsSchema", shake.paramsSchema)] {
                if schema.json == .bool(true) { continue }
                guard schema.json["type"] == "object" else { throw CheckFailure("\(name) must have \"type\": \"object\" at its root") }
                if let props = schema.json["properties"], props.objectValue == nil {
                    throw CheckFailure("\(name).properties must be an object")
                }
            }
        },
        Check(id: "config.sensitive-fields-write-only", level: .should, title: "fields that look secret are marked writeOnly") { ctx in
            let session = try await ctx.open()
            guard let shake = session.handshake else { throw CheckFailure("no handshake") }
            let pattern = ["token", "password", "secret", "key", "credential"]
            var missing: [String] = []
            for (name, schema) in [("config", shake.configSchema), ("params", shake.paramsSchema)] {
                let sensitive = Set(schema.sensitivePaths)
                for (prop, _) in schema.json["properties"]?.objectValue ?? [:]
                where pattern.contains(where: { prop.lowercased().contains($0) }) && !sensitive.contains("/" + prop) {
                    missing.append("\(name)/\(prop)")
                }
            }
            if !missing.isEmpty { throw CheckFailure("not marked writeOnly: \(missing.joined(separator: ", "))") }
        },
        Check(
            id: "config.invalid-rejected", level: .must,
            title: "an unknown config field is refused with -32052 and a diagnostic at its path"
        ) { ctx in
            let session = try await ctx.open(initialize: false)
            var admin = ctx.options.adminConfig
            if case .object = admin {} else { admin = .emptyObject }
            admin["zz_not_a_field"] = 42
            let schema = JSONSchema(ctx.manifest?["configSchema"] ?? .bool(true))
            if schema.json["additionalProperties"] != .bool(false) {
                throw CheckSkipped("the config schema allows unknown fields (additionalProperties is not false)")
            }
            let error = try await session.expectError(
                "initialize", ctx.initializeOptions(admin: admin).params, [.invalidConfig, .invalidParams])
            guard error.diagnostics.contains(where: { $0.path.hasSuffix("/zz_not_a_field") }) else {
                throw CheckFailure("expected a diagnostic whose path ends in /zz_not_a_field; got \(error.diagnostics)")
            }
        },
        Check(id: "config.canary-not-leaked", level: .must, title: "a writeOnly config value never appears in stderr or frames") { ctx in
            guard let schema = ctx.manifest?["configSchema"] else { throw CheckSkipped("no manifest") }
            let sensitive = JSONSchema(schema).sensitivePaths.filter { path in
                let name = String(path.dropFirst())
                return !name.contains("/") && schema["properties"]?[name]?["type"] == "string"
            }
            if sensitive.isEmpty { throw CheckSkipped("the config schema has no writeOnly string fields") }
            var admin = ctx.options.adminConfig
            if case .object = admin {} else { admin = .emptyObject }
            for path in sensitive { admin[String(path.dropFirst())] = .string(ctx.canary) }
            // Whether or not this config is accepted, the canary must not come back — not in an
            // error either.
            let session = try await ctx.open(initialize: false)
            _ = try? await session.call(ProtocolMethod.initialize.rawValue, ctx.initializeOptions(admin: admin).params)
            _ = try? await session.call(ProtocolMethod.health.rawValue)
            _ = try? await session.call("\(ctx.options.kind.rawValue)/validate", ["params": ["zz": 1]])
            await session.close()
            try assertNoCanary(ctx, session: session.id)
        },
    ]

    /// Fails if the canary shows up in stderr or any extension frame of `session`, except in
    /// `secrets/get` results.
    static func assertNoCanary(_ ctx: CheckContext, session: Int) throws {
        let leaksInStderr = ctx.journal.stderr.filter { $0.session == session && $0.text.contains(ctx.canary) }
        if let first = leaksInStderr.first { throw CheckFailure("the canary appeared in stderr: \(first.text.prefix(200))") }
        var getIDs: Set<JSONValue> = []
        for entry in ctx.journal.frames(session: session) {
            let text = String(decoding: entry.frame.bytes, as: UTF8.self)
            let value = try? JSONParser().parse(entry.frame.bytes)
            if entry.frame.direction != .fromExtension {
                if value?["method"] == .string(ProtocolMethod.secretsGet.rawValue), let id = value?["id"] { getIDs.insert(id) }
                continue
            }
            if text.contains(ctx.canary) {
                if let id = value?["id"], value?["result"] != nil, getIDs.contains(id) { continue }
                throw CheckFailure("the canary appeared in a frame: \(text.prefix(200))")
            }
        }
    }

    // MARK: - whole run

    static let whole: [Check] = [
        Check(id: "run.stdout-hygiene", level: .must, title: "every byte on stdout belongs to a valid frame") { ctx in
            var bad: [String] = []
            for entry in ctx.journal.frames where entry.frame.direction == .fromExtension && !entry.frame.bytes.isEmpty {
                do {
                    _ = try Frame.decode(entry.frame.bytes)
                } catch {
                    bad.append("[\(entry.check)] \(FrameValidator.snippet(entry.frame.bytes))")
                }
            }
            if !bad.isEmpty {
                throw CheckFailure("\(bad.count) stdout line(s) are not protocol frames, e.g.\n" + bad.prefix(3).joined(separator: "\n"))
            }
        },
        Check(id: "run.frames-match-schemas", level: .must, title: "every frame in both directions matches docs/protocol schemas") { ctx in
            let problems = FrameValidator().problems(in: ctx.journal)
            if !problems.isEmpty {
                throw CheckFailure("\(problems.count) frame(s) do not match, e.g.\n" + problems.prefix(4).joined(separator: "\n"))
            }
        },
    ]
}
