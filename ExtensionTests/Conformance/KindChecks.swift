import ExtensionClient
import ExtensionSDK
import Foundation
import Synchronization

/// A capability that is not advertised must be refused cleanly when called anyway.
func honestAbsence(_ id: String, capability: String, method: String, params: JSONValue, kind: ExtensionKind) -> Check {
    Check(id: id, level: .must, title: "\(method) without the \"\(capability)\" capability is refused cleanly", kinds: [kind]) { ctx in
        let session = try await ctx.open()
        if session.handshake?.capabilities[capability] != nil {
            throw CheckSkipped("\"\(capability)\" is advertised; its own checks apply")
        }
        let start = ContinuousClock.now
        try await session.expectError(method, params, [.notSupported, .methodNotFound], "not advertised")
        let took = ContinuousClock.now - start
        let bound = try await session.promptBound()
        if took > bound { throw CheckFailure("the refusal took \(took), longer than \(bound) (an answer at once on this machine now)") }
    }
}

/// Checks for triggers.
enum TriggerChecks {
    static let all: [Check] = [
        Check(id: "trigger.validate-unknown-field", level: .must, title: "unknown settings are reported with their path", kinds: [.trigger])
        { ctx in
            let session = try await ctx.open()
            var params = ctx.options.params ?? .emptyObject
            params["zz_unknown"] = 1
            if session.handshake?.paramsSchema.json["additionalProperties"] != .bool(false) {
                throw CheckSkipped("the params schema allows unknown fields")
            }
            // Either answer is conformant (protocol.md §3.1): diagnostics in a result, or -32602 with them.
            var diagnostics: [Diagnostic]
            do {
                let answer = try await session.call(ProtocolMethod.triggerValidate.rawValue, ["params": params])
                diagnostics = (answer["diagnostics"]?.arrayValue ?? []).compactMap(Diagnostic.init(json:))
            } catch let error as ProtocolError where error.code == .invalidParams {
                diagnostics = error.diagnostics
            }
            guard diagnostics.contains(where: { $0.path == "/params/zz_unknown" && $0.severity == "error" }) else {
                throw CheckFailure("expected an error diagnostic at /params/zz_unknown (in a result or a -32602), got \(diagnostics)")
            }
        },
        Check(id: "trigger.subscribe-requires-id", level: .must, title: "subscribe without subscriptionId gets -32602", kinds: [.trigger]) {
            ctx in
            let session = try await ctx.open()
            try await session.expectError(ProtocolMethod.triggerSubscribe.rawValue, ["params": ctx.options.params ?? .emptyObject], [.invalidParams])
        },
        Check(
            id: "trigger.emit-unsubscribe", level: .must,
            title: "a subscription emits events with unique ids, each answered before the next; none after unsubscribe", kinds: [.trigger]
        ) { ctx in
            guard let params = ctx.options.params else { throw CheckSkipped("no valid trigger params given (--config {\"params\": …})") }
            let events = Mutex<[(id: String, at: ContinuousClock.Instant)]>([])
            let inAck = Mutex(0)
            let overlap = Mutex(false)
            let session = try await ctx.open(emitHandler: { method, p in
                guard method == ProtocolMethod.triggerEmit.rawValue else { throw ProtocolError.methodNotFound(method) }
                let now = inAck.withLock { n in
                    n += 1
                    return n
                }
                if now > 1 { overlap.withLock { $0 = true } }
                try? await Task.sleep(for: .milliseconds(300))  // a slow, durable write
                events.withLock { $0.append((p["eventId"]?.stringValue ?? "", .now)) }
                inAck.withLock { $0 -= 1 }
                return ["accepted": true]
            })
            var subscribe: JSONValue = ["subscriptionId": "conformance-1", "params": params]
            if let cursor = ctx.options.cursor { subscribe["cursor"] = .string(cursor) }
            _ = try await session.call(ProtocolMethod.triggerSubscribe.rawValue, subscribe)
            let samples = ctx.options.externalSamples
            if let first = samples.first {
                _ = try await session.call(ProtocolMethod.triggerExternal.rawValue, first)
            }
            let wanted = samples.isEmpty ? ctx.options.minEvents : 1
            let deadline = ContinuousClock.now + .seconds(8)
            while events.withLock({ $0.count }) < wanted && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            let got = events.withLock { $0 }
            if got.count < wanted { throw CheckFailure("expected at least \(wanted) event(s) within 8 s, got \(got.count)") }
            if Set(got.map(\.id)).count != got.count { throw CheckFailure("event ids repeat: \(got.map(\.id))") }
            if overlap.withLock({ $0 }) { throw CheckFailure("a second emit was sent for the subscription before the first was answered") }
            _ = try await session.call(ProtocolMethod.triggerUnsubscribe.rawValue, ["subscriptionId": "conformance-1"])
            let after = ContinuousClock.now + .milliseconds(100)
            let countAtUnsubscribe = events.withLock { $0.count }
            if samples.count > 1 { _ = try await session.call(ProtocolMethod.triggerExternal.rawValue, samples[1]) }
            try await Task.sleep(for: .seconds(2))
            let late = events.withLock { $0.filter { $0.at > after + .milliseconds(400) } }
            if events.withLock({ $0.count }) > countAtUnsubscribe + 1 || !late.isEmpty {
                throw CheckFailure("events kept coming after unsubscribe: \(late.map(\.id))")
            }
        },
        Check(id: "trigger.unsubscribe-unknown", level: .must, title: "unsubscribing an unknown id succeeds", kinds: [.trigger]) { ctx in
            let session = try await ctx.open()
            _ = try await session.call(ProtocolMethod.triggerUnsubscribe.rawValue, ["subscriptionId": "never-subscribed"])
        },
        honestAbsence(
            "trigger.external-not-advertised", capability: "external", method: ProtocolMethod.triggerExternal.rawValue, params: ["headers": [:], "bodyB64": ""],
            kind: .trigger),
    ]
}

/// Checks for common tasks.
enum TaskChecks {
    static let all: [Check] = [
        Check(id: "task.run-streams-output", level: .must, title: "run streams output in order and ends with a status", kinds: [.task]) {
            ctx in
            guard let params = ctx.options.params else { throw CheckSkipped("no valid task params given (--config {\"params\": …})") }
            let session = try await ctx.open()
            let (chunks, result) = session.connection.requestStream(
                ProtocolMethod.taskRun.rawValue, ["params": params, "variables": ["GOFER_RUN": "1"]], windowBytes: 4096)
            var seqs: [Int64] = []
            for await chunk in chunks { seqs.append(chunk.seq) }
            let value = try await result.value
            guard let status = value["status"]?.stringValue, ["success", "failure"].contains(status) else {
                throw CheckFailure("task/run result has no status: \(value)")
            }
            let unique = Array(Set(seqs)).sorted()
            if unique != Array(0..<Int64(unique.count)) {
                throw CheckFailure("stream seq numbers are not 0,1,2,… without gaps: \(unique.prefix(10))")
            }
        },
        Check(id: "task.bad-params", level: .must, title: "invalid inputs get -32602 with the field path", kinds: [.task]) { ctx in
            let session = try await ctx.open()
            let error = try await session.expectError(ProtocolMethod.taskRun.rawValue, ["params": ["zz_unknown": 1]], [.invalidParams])
            guard error.diagnostics.contains(where: { $0.path.hasPrefix("/params") }) else {
                throw CheckFailure("expected diagnostics under /params, got \(error.diagnostics)")
            }
        },
    ]
}

/// Checks for secret stores. Keys are under a unique prefix and removed afterwards.
enum SecretsChecks {
    static func prefix(_ ctx: CheckContext) -> String { "conformance/\(ctx.canary.suffix(12))/" }

    static let all: [Check] = [
        Check(
            id: "secrets.round-trip", level: .must, title: "put then get returns the value; put again overwrites; delete removes",
            kinds: [.secrets]
        ) { ctx in
            let session = try await ctx.open()
            let key = prefix(ctx) + "round-trip"
            for value in ["plain", "ünïcødé ✓ 🙂", "multi\nline\nvalue", String(repeating: "x", count: 10)] {
                _ = try await session.call(ProtocolMethod.secretsPut.rawValue, ["key": .string(key), "value": .string(value)])
                let got = try await session.call(ProtocolMethod.secretsGet.rawValue, ["key": .string(key)])
                guard got["value"]?.stringValue == value else { throw CheckFailure("put \(value.debugDescription), got back \(got)") }
            }
            _ = try await session.call(ProtocolMethod.secretsDelete.rawValue, ["key": .string(key)])
            try await session.expectError(ProtocolMethod.secretsGet.rawValue, ["key": .string(key)], [.notFound], "after delete")
            _ = try await session.call(ProtocolMethod.secretsDelete.rawValue, ["key": .string(key)])  // deleting a missing key succeeds
        },
        Check(id: "secrets.binary-value", level: .must, title: "binary values round-trip as base64", kinds: [.secrets]) { ctx in
            let session = try await ctx.open()
            let key = prefix(ctx) + "binary"
            let bytes: [UInt8] = [0, 0xFF, 0xFE, 0x80, 10, 13, 0]
            _ = try await session.call(ProtocolMethod.secretsPut.rawValue, ["key": .string(key), "valueB64": .string(Data(bytes).base64EncodedString())])
            let got = try await session.call(ProtocolMethod.secretsGet.rawValue, ["key": .string(key)])
            let back = got["valueB64"]?.stringValue.flatMap { Data(base64Encoded: $0) }.map { Array($0) }
            guard back == bytes else { throw CheckFailure("binary value came back as \(got)") }
            _ = try await session.call(ProtocolMethod.secretsDelete.rawValue, ["key": .string(key)])
        },
        Check(id: "secrets.large-value", level: .must, title: "a 1 MiB value round-trips", kinds: [.secrets]) { ctx in
            let session = try await ctx.open()
            let key = prefix(ctx) + "large"
            let value = String(repeating: "0123456789abcdef", count: 65536)
            _ = try await session.call(ProtocolMethod.secretsPut.rawValue, ["key": .string(key), "value": .string(value)])
            let got = try await session.call(ProtocolMethod.secretsGet.rawValue, ["key": .string(key)])
            guard got["value"]?.stringValue == value else { throw CheckFailure("the 1 MiB value did not come back intact") }
            _ = try await session.call(ProtocolMethod.secretsDelete.rawValue, ["key": .string(key)])
        },
        Check(
            id: "secrets.list-names-only", level: .must, title: "list returns the names under a prefix and never values", kinds: [.secrets]
        ) { ctx in
            let session = try await ctx.open()
            let base = prefix(ctx) + "list/"
            for name in ["b", "a"] {
                _ = try await session.call(ProtocolMethod.secretsPut.rawValue, ["key": .string(base + name), "value": .string(ctx.canary)])
            }
            let listed = try await session.call(ProtocolMethod.secretsList.rawValue, ["prefix": .string(base)])
            let keys = listed["keys"]?.arrayValue?.compactMap(\.stringValue) ?? []
            guard Set(keys) == [base + "a", base + "b"] else { throw CheckFailure("list returned \(keys), expected \(base)a and \(base)b") }
            if listed.description.contains(ctx.canary) { throw CheckFailure("list returned a value") }
            for name in ["a", "b"] { _ = try await session.call(ProtocolMethod.secretsDelete.rawValue, ["key": .string(base + name)]) }
        },
        Check(
            id: "secrets.unreachable-is-retryable", level: .must,
            title: "with its backend unreachable (or sealed), get and put fail with a retryable -32056 Unavailable", kinds: [.secrets]
        ) { ctx in
            guard let config = ctx.options.unreachableConfig else {
                throw CheckSkipped("no unreachableConfig given (an admin config pointing at a backend that does not answer)")
            }
            let session = try await ctx.open(admin: config)
            for (method, params) in [
                (ProtocolMethod.secretsGet.rawValue, ["key": .string(prefix(ctx) + "any")] as JSONValue),
                (ProtocolMethod.secretsPut.rawValue, ["key": .string(prefix(ctx) + "any"), "value": "v"] as JSONValue),
            ] as [(String, JSONValue)] {
                let error = try await session.expectError(method, params, [.unavailable], "the backend does not answer")
                if !error.retryable { throw CheckFailure("\(method): -32056 without data.retryable: true") }
            }
        },
        Check(id: "secrets.not-found", level: .must, title: "a missing secret gets -32053", kinds: [.secrets]) { ctx in
            let session = try await ctx.open()
            try await session.expectError(ProtocolMethod.secretsGet.rawValue, ["key": .string(prefix(ctx) + "missing")], [.notFound])
        },
        Check(
            id: "secrets.bad-keys", level: .must, title: "traversal, absolute, empty, NUL/newline and over-long keys get -32602",
            kinds: [.secrets]
        ) { ctx in
            let session = try await ctx.open()
            for key in ["../../etc/passwd", "a/../b", "/abs", "", "a\u{0}b", "a\nb", String(repeating: "k", count: 1100)] {
                try await session.expectError(
                    ProtocolMethod.secretsPut.rawValue, ["key": .string(key), "value": "v"], [.invalidParams], "key \(key.prefix(20).debugDescription)")
                try await session.expectError(
                    ProtocolMethod.secretsGet.rawValue, ["key": .string(key)], [.invalidParams], "key \(key.prefix(20).debugDescription)")
            }
            try await session.expectError(ProtocolMethod.secretsPut.rawValue, ["key": .string(prefix(ctx) + "x")], [.invalidParams], "no value")
        },
        Check(
            id: "secrets.canary-only-in-get", level: .must, title: "a secret value appears only in secrets/get results", kinds: [.secrets]
        ) { ctx in
            let session = try await ctx.open()
            let key = prefix(ctx) + "canary"
            _ = try await session.call(ProtocolMethod.secretsPut.rawValue, ["key": .string(key), "value": .string(ctx.canary)])
            _ = try await session.call(ProtocolMethod.secretsGet.rawValue, ["key": .string(key)])
            _ = try? await session.call(ProtocolMethod.secretsList.rawValue, ["prefix": .string(prefix(ctx))])
            _ = try? await session.call(ProtocolMethod.secretsPut.rawValue, ["key": "../x", "value": .string(ctx.canary)])
            _ = try await session.call(ProtocolMethod.secretsDelete.rawValue, ["key": .string(key)])
            await session.close()
            try CommonChecks.assertNoCanary(ctx, session: session.id)
        },
    ]
}
