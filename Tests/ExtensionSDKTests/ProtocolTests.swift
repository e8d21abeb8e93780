import ExtensionSDK
import Testing

struct ProtocolVersionTests {
    @Test func negotiatesHighestCommonMajorAtTheLowerMinor() {
        let mine = [ProtocolVersion(1, 3), ProtocolVersion(2, 1)]
        #expect(
            ProtocolVersion.negotiate(offered: [ProtocolVersion(2, 4), ProtocolVersion(1, 9)], supported: mine) == ProtocolVersion(2, 1))
        #expect(ProtocolVersion.negotiate(offered: [ProtocolVersion(1, 0)], supported: mine) == ProtocolVersion(1, 0))
        #expect(ProtocolVersion.negotiate(offered: [ProtocolVersion(3, 0)], supported: mine) == nil)
    }

    @Test(arguments: ["v1", "1", "1.0.0", "", "1.x", "-1.0", "+1.0"])
    func rejectsMalformedVersions(_ text: String) {
        #expect(ProtocolVersion(text) == nil)
    }
}

struct FrameTests {
    @Test func decodesRequestsNotificationsAndResponses() throws {
        guard case .request(.int(7), "health", let params) = try Frame.decode(Array(#"{"jsonrpc":"2.0","id":7,"method":"health"}"#.utf8))
        else {
            Issue.record("not a request")
            return
        }
        #expect(params == .emptyObject)
        guard case .notification("$/cancel", _) = try Frame.decode(Array(#"{"jsonrpc":"2.0","method":"$/cancel","params":{"id":1}}"#.utf8))
        else {
            Issue.record("not a notification")
            return
        }
        guard
            case .response(.string("e1"), .failure(let error)) = try Frame.decode(
                Array(
                    #"{"jsonrpc":"2.0","id":"e1","error":{"code":-32053,"message":"gone","data":{"reason":"NOT_FOUND","retryable":false}}}"#
                        .utf8))
        else {
            Issue.record("not an error response")
            return
        }
        #expect(error.code == .notFound && error.message == "gone")
    }

    @Test func framesAreSingleLinesThatRoundTrip() throws {
        let frame = Frame.request(id: .string("ü"), method: "x/y", params: ["text": "a\nb"])
        #expect(frame.last == 0x0A)
        #expect(frame.dropLast().contains(0x0A) == false)
        guard case .request(.string("ü"), "x/y", let params) = try Frame.decode(frame.dropLast()) else {
            Issue.record("round trip failed")
            return
        }
        #expect(params["text"] == "a\nb")
    }

    @Test func recoversTheIdOfAnOversizedFrame() {
        #expect(Frame.sniffID(in: Array(#"{"jsonrpc":"2.0","id": 42,"method":"#.utf8)) == .int(42))
        #expect(Frame.sniffID(in: Array(#"{"id":"abc","x":"#.utf8)) == .string("abc"))
        #expect(Frame.sniffID(in: Array(#"{"method":"x","params":{"pad":"aaaa"#.utf8)) == nil)
    }

    @Test func errorsCarryReasonRetryableAndDiagnostics() {
        let error = ProtocolError.invalidParams(diagnostics: [Diagnostic(path: "/image", message: "must not be empty")])
        #expect(error.json["data"]?["reason"] == "INVALID_PARAMS")
        #expect(error.json["data"]?["retryable"] == false)
        #expect(error.message.contains("/image"))
        #expect(ProtocolError(.unavailable, "daemon down").retryable)
    }
}

struct UtilityTests {
    @Test(arguments: [("90s", 90_000), ("5m", 300_000), ("1h30m", 5_400_000), ("250ms", 250), ("1.5s", 1500), ("0s", 0)])
    func parsesDurations(_ text: String, _ ms: Int64) {
        #expect(DurationText.parse(text) == .milliseconds(ms))
    }

    @Test(arguments: ["", "5", "m", "5x", "-5m", "5 m m"])
    func rejectsBadDurations(_ text: String) {
        #expect(DurationText.parse(text) == nil)
    }

    @Test func formatsDurations() {
        #expect(DurationText.format(.seconds(5400)) == "1h30m")
        #expect(DurationText.format(.milliseconds(250)) == "250ms")
    }

    @Test(arguments: ["../../etc/passwd", "a/../b", "/abs", "", "a\u{0}b", "a\nb", "a//b", "./a", String(repeating: "k", count: 513)])
    func refusesUnsafeSecretKeys(_ key: String) {
        #expect(!SecretKey.problems(key).isEmpty)
    }

    @Test func acceptsOrdinarySecretKeys() {
        #expect(SecretKey.problems("global/deploy-key").isEmpty)
        #expect(SecretKey.problems("pipeline/default/my-app/TOKEN").isEmpty)
    }
}

/// The typed calls (``ProtocolCalls``) and the published schemas (``ProtocolSchemas``) describe the
/// same messages: a sample of each call's params and result validates against its method's schema,
/// and every request method has its typed call.
struct ProtocolCallDriftTests {
    var checked: Set<ProtocolMethod> = []

    mutating func check<P, R>(_ call: ProtocolCall<P, R>, _ params: P, _ result: R) throws {
        checked.insert(call.method)
        let schemas = ProtocolSchemas.method(call.method)
        let p = try call.encode(params)
        let problems = JSONSchema(schemas.params).validate(p)
        #expect(problems.isEmpty, "\(call.method.rawValue) params \(p): \(problems)")
        #expect(try call.decodeParams(p) as P? != nil)
        if let resultSchema = schemas.result {
            let r = try JSONCodec.encode(result)
            let rp = JSONSchema(resultSchema).validate(r)
            #expect(rp.isEmpty, "\(call.method.rawValue) result \(r): \(rp)")
            _ = try call.decodeResult(r)
        }
    }

    @Test mutating func everyTypedCallMatchesItsPublishedSchema() throws {
        let status = JobStatus(handle: "h1", state: .exited, exitCode: 0, startedAt: "2026-11-29T10:00:00Z", finishedAt: "2026-11-29T10:00:01Z")
        try check(ProtocolCalls.health, NoFields(), HealthReport(status: .healthy))
        try check(ProtocolCalls.triggerValidate, ParamsCheck(params: ["every": "1m"]), Diagnostics(diagnostics: [Diagnostic(path: "/params/every", message: "x")]))
        try check(ProtocolCalls.triggerSubscribe, SubscribeRequest(subscriptionId: "s1", params: .emptyObject, cursor: "7"), NoFields())
        try check(ProtocolCalls.triggerUnsubscribe, UnsubscribeRequest(subscriptionId: "s1"), NoFields())
        try check(ProtocolCalls.triggerExternal, ForwardedRequest(headers: ["X-A": "b"], bodyB64: "e30="), ForwardedAnswer(status: 202, body: "ok"))
        try check(ProtocolCalls.triggerEmit, EmitRequest(subscriptionId: "s1", eventId: "e1", variables: ["A": "b"]), EmitAnswer(accepted: true, duplicate: false))
        try check(ProtocolCalls.taskValidate, ParamsCheck(params: ["message": "hi"]), Diagnostics(diagnostics: []))
        try check(
            ProtocolCalls.taskRun, TaskRunRequest(params: ["message": "hi"], variables: ["GOFER_RUN": "1"]),
            TaskResult(status: .success, summary: "ok", outputs: ["k": "v"]))
        try check(
            ProtocolCalls.schedulerStart,
            JobSpec(
                taskExecutionID: "x-1", image: "busybox:latest", command: ["true"], env: ["A": "b"], labels: ["l": "v"],
                registryAuth: RegistryAuth(username: "u", password: "p")),
            JobRef(handle: "h1"))
        try check(ProtocolCalls.schedulerInspect, JobRef(handle: "h1"), status)
        try check(ProtocolCalls.schedulerWait, JobRef(handle: "h1"), status)
        try check(ProtocolCalls.schedulerStop, StopJob(handle: "h1", graceMs: 500), NoFields())
        try check(ProtocolCalls.schedulerRemove, JobRef(handle: "h1"), NoFields())
        try check(ProtocolCalls.schedulerLogs, JobLogs(handle: "h1", follow: true), NoFields())
        try check(ProtocolCalls.schedulerList, JobFilter(labels: ["l": "v"]), JobList(jobs: [status]))
        try check(ProtocolCalls.objectsGet, ObjectRef(key: "cursor"), SecretValue(bytes: Array("7".utf8)))
        try check(ProtocolCalls.objectsPut, SecretWrite(key: "cursor", bytes: [0xFF]), ObjectStored(size: 1, sha256: String(repeating: "a", count: 64)))
        try check(ProtocolCalls.objectsDelete, ObjectRef(key: "cursor"), NoFields())
        try check(ProtocolCalls.objectsList, NoFields(), ObjectKeys(keys: ["cursor"]))
        try check(ProtocolCalls.schedulerAttach, AttachRequest(handle: "h1", command: ["sh"], tty: true, rows: 24, cols: 80), AttachResult(exitCode: 3))
        // The notification that carries input is typed too.
        let input = try JSONCodec.encode(AttachInputNotice(streamId: "s1", bytes: [0xFF, 0x0A], eof: true, rows: 30, cols: 100))
        #expect(JSONSchema(ProtocolSchemas.method(.attachInput).params).validate(input).isEmpty && input["b64"] != nil, "\(input)")
        try check(ProtocolCalls.secretsGet, SecretRef(key: "a/b"), SecretValue(bytes: [0xFF, 0x00]))
        try check(ProtocolCalls.secretsPut, SecretWrite(key: "a/b", bytes: Array("text".utf8)), NoFields())
        try check(ProtocolCalls.secretsDelete, SecretRef(key: "a/b"), NoFields())
        try check(ProtocolCalls.secretsList, SecretPrefix(prefix: "a/"), SecretKeys(keys: ["a/b"]))
        let requests = Set(ProtocolMethod.allCases.filter { ProtocolCalls.method($0) != nil })
        #expect(checked == requests, "typed calls not checked: \(requests.subtracting(checked).map(\.rawValue))")
    }
}
