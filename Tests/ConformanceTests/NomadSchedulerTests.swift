import ExtensionClient
import ExtensionConformance
import ExtensionSDK
import Foundation
import TestSupport
import Testing

/// The Nomad scheduler against a FAKE Nomad (Tests/fakes/nomad/fake_nomad.py, built from Nomad's
/// API documentation; Nomad itself cannot run here). Jobs run as local processes in the fake.
@Suite(.serialized)
struct NomadSchedulerTests {
    static let executable = BuiltProducts.path("gofer-scheduler-nomad")

    /// A scheduler process talking to `nomad` with `config` on top of the address.
    static func connect(_ nomad: FakeNomad, _ config: [String: JSONValue] = [:]) async throws -> ExtensionConnection {
        let connection = try ExtensionConnection.spawn(ExtensionLaunch(executable: executable))
        var admin: [String: JSONValue] = ["address": .string(nomad.address), "blockingWait": "20s"]
        for (k, v) in config { admin[k] = v }
        _ = try await connection.initialize(InitializeOptions(kind: .scheduler, adminConfig: .object(admin)))
        return connection
    }

    static func job(_ id: String, _ script: String, extra: [String: JSONValue] = [:]) -> JSONValue {
        var spec: [String: JSONValue] = [
            "taskExecutionId": .string("nomad-test-\(id)"), "image": "busybox:latest", "command": ["sh", "-c", .string(script)],
            "labels": ["gofer.test": .string(id)], "stopGraceMs": 1000,
        ]
        for (k, v) in extra { spec[k] = v }
        return .object(spec)
    }

    @Test func conformsAgainstTheFakeNomad() async throws {
        let nomad = try await FakeNomad.start()
        return try await stopping({ await nomad.stop() }) {
            let report = await ConformanceSuite.run(
                ConformanceOptions(
                    kind: .scheduler, launch: ExtensionLaunch(executable: Self.executable),
                    adminConfig: ["address": .string(nomad.address), "blockingWait": "20s"], checkTimeout: .seconds(60)))
            #expect(report.conforms, "\(report.text)")
            #expect(report.failed == 0 && report.warned == 0, "\(report.text)")
        }
    }

    @Test func waitUsesBlockingQueriesAndReportsTheTasksOwnTimes() async throws {
        let nomad = try await FakeNomad.start()
        return try await stopping({ await nomad.stop() }) {
            let connection = try await Self.connect(nomad)
            defer { connection.kill() }
            let started = try await connection.request("scheduler/start", Self.job("blocking", "sleep 2; exit 4"), timeout: .seconds(30))
            let handle = try #require(started["handle"])
            let status = try await connection.request("scheduler/wait", ["handle": handle], timeout: .seconds(60))
            #expect(status["state"] == "exited" && status["exitCode"] == 4, "\(status)")
            let startedAt = try #require(status["startedAt"]?.stringValue.flatMap(RFC3339Test.parse))
            let finishedAt = try #require(status["finishedAt"]?.stringValue.flatMap(RFC3339Test.parse))
            #expect(finishedAt.timeIntervalSince(startedAt) >= 1.9, "\(status)")
            // A 2 s job was awaited with a few long polls carrying index and wait, not by polling.
            let polls = try await nomad.requests().filter {
                $0["path"]?.stringValue?.hasSuffix("/allocations") == true && $0["method"] == "GET"
            }
            let blocking = polls.filter { $0["query"]?["index"] != nil && $0["query"]?["wait"] == "20s" }
            #expect(!blocking.isEmpty && polls.count <= 12, "allocation queries: \(polls.map { $0["query"] ?? .null })")
            // A second start of the same task execution registers nothing new (EnforceIndex 0).
            let again = try await connection.request("scheduler/start", Self.job("blocking", "sleep 2; exit 4"), timeout: .seconds(30))
            #expect(again["handle"] == handle)
            let registers = try await nomad.requests().filter { $0["method"] == "POST" && $0["path"] == "/v1/jobs" }
            #expect(registers.count == 2)
            let body = try JSONParser().parse(registers[0]["body"]?.stringValue ?? "")
            #expect(body["EnforceIndex"] == true && body["JobModifyIndex"] == 0)
            let group = body["Job"]?["TaskGroups"]?.arrayValue?.first
            #expect(group?["RestartPolicy"]?["Attempts"] == 0 && group?["ReschedulePolicy"]?["Attempts"] == 0, "\(body)")
            #expect(group?["Tasks"]?.arrayValue?.first?["KillTimeout"] == 1_000_000_000)
            _ = try await connection.request("scheduler/remove", ["handle": handle])
        }
    }

    @Test func aWrongACLTokenIsNamedAndNothingRuns() async throws {
        let nomad = try await FakeNomad.start(["--acl-token", "right-token"])
        return try await stopping({ await nomad.stop() }) {
            let wrong = try await Self.connect(nomad, ["token": "wrong-token"])
            defer { wrong.kill() }
            let health = try await wrong.request("health", timeout: .seconds(10))
            #expect(health["status"] == "unhealthy")
            #expect(health["detail"]?.stringValue?.contains("Permission denied") == true, "\(health)")
            do {
                _ = try await wrong.request("scheduler/start", Self.job("acl", "true"), timeout: .seconds(10))
                Issue.record("a start with a wrong token succeeded")
            } catch let error as ProtocolError {
                #expect(error.code == .permissionDenied && error.message.contains("ACL token"), "\(error)")
            }
            let right = try await Self.connect(nomad, ["token": "right-token"])
            defer { right.kill() }
            #expect(try await right.request("health", timeout: .seconds(10))["status"] == "healthy")
            let handle = try #require(try await right.request("scheduler/start", Self.job("acl", "exit 0"), timeout: .seconds(10))["handle"])
            #expect(try await right.request("scheduler/wait", ["handle": handle], timeout: .seconds(30))["exitCode"] == 0)
            let tokens = try await nomad.requests().filter { $0["path"]?.stringValue?.hasPrefix("/v1/job") == true }
            #expect(!tokens.isEmpty)
            _ = try await right.request("scheduler/remove", ["handle": handle])
        }
    }

    @Test func aJobNomadRefusesFailsWithNomadsOwnText() async throws {
        let nomad = try await FakeNomad.start()
        return try await stopping({ await nomad.stop() }) {
            let connection = try await Self.connect(nomad)
            defer { connection.kill() }
            do {
                // Gofer allows 4 MB; Nomad's minimum is 10 MB: Nomad answers 500 with a plain-text body.
                _ = try await connection.request("scheduler/start", Self.job("refused", "true", extra: ["memoryMB": 4]), timeout: .seconds(10))
                Issue.record("Nomad's refusal was not reported")
            } catch let error as ProtocolError {
                #expect(error.code == .failedPrecondition && !error.retryable, "\(error)")
                #expect(error.message.contains("HTTP 500") && error.message.contains("minimum MemoryMB value is 10; got 4"), "\(error.message)")
            }
            let listed = try await connection.request("scheduler/list", ["labels": ["gofer.test": "refused"]])
            #expect(listed["jobs"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test func aJobNoNodeCanTakeFailsWithTheReasonAndIsPurged() async throws {
        let nomad = try await FakeNomad.start(["--node-meta", "rack=r1"])
        return try await stopping({ await nomad.stop() }) {
            let connection = try await Self.connect(nomad, ["placementTimeout": "2s"])
            defer { connection.kill() }
            let cases: [(String, JSONValue, String)] = [
                ("dc", ["datacenters": ["dc9"]], "no node available in the datacenters dc9"),
                ("rack", ["constraints": [["attribute": "${meta.rack}", "operator": "=", "value": "r9"]]], "constraint ${meta.rack} = r9 filtered 1"),
            ]
            for (name, placement, reason) in cases {
                let handle = try #require(
                    try await connection.request("scheduler/start", Self.job("place-\(name)", "true", extra: ["placement": placement]), timeout: .seconds(10))[
                        "handle"])
                do {
                    _ = try await connection.request("scheduler/wait", ["handle": handle], timeout: .seconds(30))
                    Issue.record("an unplaceable job did not fail")
                } catch let error as ProtocolError {
                    #expect(JobFailure(error) == .unplaceable, "\(error)")
                    #expect(error.message.contains(reason) && error.message.contains("placementTimeout"), "\(error.message)")
                }
                let listed = try await connection.request("scheduler/list", ["labels": ["gofer.test": .string("place-\(name)")]])
                #expect(listed["jobs"]?.arrayValue?.isEmpty == true, "the blocked job was left registered: \(listed)")
            }
            // A placement the node satisfies runs.
            let ok = try #require(
                try await connection.request(
                    "scheduler/start",
                    Self.job("place-ok", "exit 0", extra: ["placement": ["datacenters": ["dc1"], "constraints": [["attribute": "${meta.rack}", "operator": "=", "value": "r1"]]]]),
                    timeout: .seconds(10))["handle"])
            #expect(try await connection.request("scheduler/wait", ["handle": ok], timeout: .seconds(30))["exitCode"] == 0)
            _ = try await connection.request("scheduler/remove", ["handle": ok])
            // A placement the params schema does not allow is refused before Nomad sees it.
            do {
                _ = try await connection.request(
                    "scheduler/start", Self.job("place-bad", "true", extra: ["placement": ["constraints": [["attribute": "x", "operator": "~~"]]]]),
                    timeout: .seconds(10))
                Issue.record("a bad operator was accepted")
            } catch let error as ProtocolError {
                #expect(error.code == .invalidParams && error.diagnostics.contains { $0.path == "/placement/constraints/0/operator" }, "\(error)")
            }
        }
    }

    @Test func logsCutInTheMiddleOfAFrameResumeWithoutDuplicates() async throws {
        let nomad = try await FakeNomad.start()
        return try await stopping({ await nomad.stop() }) {
            let connection = try await Self.connect(nomad)
            defer { connection.kill() }
            try await nomad.control("PUT", "/fake/faults", body: ["cutLogStreamsAfterFrames": 2])
            let handle = try #require(
                try await connection.request(
                    "scheduler/start", Self.job("cut", "i=1; while [ $i -le 200 ]; do echo line-$i; echo err-$i >&2; i=$((i+1)); sleep 0.005; done"),
                    timeout: .seconds(10))["handle"])
            let (chunks, result) = connection.requestStream("scheduler/logs", ["handle": handle, "follow": true], timeout: .seconds(120))
            var out = ""
            var err = ""
            for await c in chunks {
                if c.fd == "stderr" { err += String(decoding: c.bytes, as: UTF8.self) } else { out += String(decoding: c.bytes, as: UTF8.self) }
            }
            _ = try await result.value
            #expect(out == (1...200).map { "line-\($0)\n" }.joined(), "stdout: \(out.prefix(400))")
            #expect(err == (1...200).map { "err-\($0)\n" }.joined(), "stderr: \(err.prefix(400))")
            let logReads = try await nomad.requests().filter { $0["path"]?.stringValue?.hasPrefix("/v1/client/fs/logs/") == true }
            #expect(logReads.count >= 4, "the stream was never cut: \(logReads.count) reads")
            try await nomad.control("PUT", "/fake/faults", body: ["cutLogStreamsAfterFrames": .null])
            _ = try await connection.request("scheduler/remove", ["handle": handle])
        }
    }

    @Test func aLostNodeFailsTheTaskAsLost() async throws {
        let nomad = try await FakeNomad.start()
        return try await stopping({ await nomad.stop() }) {
            let connection = try await Self.connect(nomad)
            defer { connection.kill() }
            let handle = try #require(try await connection.request("scheduler/start", Self.job("lost", "sleep 30"), timeout: .seconds(10))["handle"])
            for _ in 0..<100 {
                if try await connection.request("scheduler/inspect", ["handle": handle])["state"] == "running" { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            async let waited = connection.request("scheduler/wait", ["handle": handle], timeout: .seconds(30))
            try await Task.sleep(for: .milliseconds(300))
            try await nomad.control("PUT", "/fake/node/lose")
            do {
                _ = try await waited
                Issue.record("the wait of a lost allocation returned")
            } catch let error as ProtocolError {
                #expect(JobFailure(error) == .lost && error.message.contains("node"), "\(error)")
            }
        }
    }

    @Test func aMissingImageIsReportedAsNomadsDriverFailure() async throws {
        let nomad = try await FakeNomad.start()
        return try await stopping({ await nomad.stop() }) {
            let connection = try await Self.connect(nomad)
            defer { connection.kill() }
            let handle = try #require(
                try await connection.request(
                    "scheduler/start", Self.job("noimage", "true", extra: ["image": "does-not-exist.invalid/x:1"]), timeout: .seconds(10))["handle"])
            do {
                _ = try await connection.request("scheduler/wait", ["handle": handle], timeout: .seconds(30))
                Issue.record("a task whose image cannot be pulled succeeded")
            } catch let error as ProtocolError {
                #expect(JobFailure(error) == .rejected && error.message.contains("Failed to pull `does-not-exist.invalid/x:1`"), "\(error)")
            }
            _ = try await connection.request("scheduler/remove", ["handle": handle])
        }
    }

    @Test func aRestartedSchedulerFindsItsJobByLabelAndWaitsForIt() async throws {
        let nomad = try await FakeNomad.start()
        return try await stopping({ await nomad.stop() }) {
            let first = try await Self.connect(nomad)
            let handle = try #require(try await first.request("scheduler/start", Self.job("recover", "sleep 1; exit 7"), timeout: .seconds(10))["handle"])
            first.kill()
            let second = try await Self.connect(nomad)
            defer { second.kill() }
            let listed = try await second.request("scheduler/list", ["labels": ["gofer.test": "recover"]])
            #expect(listed["jobs"]?.arrayValue?.first?["handle"] == handle, "\(listed)")
            #expect(try await second.request("scheduler/wait", ["handle": handle], timeout: .seconds(30))["exitCode"] == 7)
            _ = try await second.request("scheduler/remove", ["handle": handle])
            await #expect(throws: ProtocolError.self) { try await second.request("scheduler/inspect", ["handle": handle]) }
        }
    }

    @Test func anUnreachableNomadIsNamedAndRetryable() async throws {
        let connection = try ExtensionConnection.spawn(ExtensionLaunch(executable: Self.executable))
        defer { connection.kill() }
        _ = try await connection.initialize(InitializeOptions(kind: .scheduler, adminConfig: ["address": "http://127.0.0.1:1"]))
        let health = try await connection.request("health", timeout: .seconds(10))
        #expect(health["status"] == "unhealthy")
        #expect(health["detail"]?.stringValue?.contains("cannot reach Nomad at http://127.0.0.1:1") == true, "\(health)")
        do {
            _ = try await connection.request("scheduler/start", Self.job("unreachable", "true"), timeout: .seconds(10))
            Issue.record("a start against no Nomad succeeded")
        } catch let error as ProtocolError {
            #expect(error.code == .unavailable && error.retryable, "\(error)")
        }
    }

    @Test func httpsWithACAFile() async throws {
        let dir = try TemporaryDirectory()
        try TestCertificates.make(in: dir.path)
        let nomad = try await FakeNomad.start(["--tls-cert", dir.path + "/server.pem", "--tls-key", dir.path + "/server.key"], tls: true)
        return try await stopping({ await nomad.stop() }) {
            let trusted = try await Self.connect(nomad, ["caFile": .string(dir.path + "/ca.pem")])
            defer { trusted.kill() }
            let health = try await trusted.request("health", timeout: .seconds(10))
            #expect(health["status"] == "healthy", "\(health)")
            let handle = try #require(try await trusted.request("scheduler/start", Self.job("tls", "echo over-tls"), timeout: .seconds(10))["handle"])
            #expect(try await trusted.request("scheduler/wait", ["handle": handle], timeout: .seconds(30))["exitCode"] == 0)
            _ = try await trusted.request("scheduler/remove", ["handle": handle])
            // Without the CA the certificate is not trusted.
            let untrusted = try await Self.connect(nomad)
            defer { untrusted.kill() }
            #expect(try await untrusted.request("health", timeout: .seconds(10))["status"] == "unhealthy")
        }
    }
}

/// RFC 3339 with or without fractional seconds.
enum RFC3339Test {
    static func parse(_ text: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: text) { return d }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: text)
    }
}

/// A throwaway CA and a server certificate for 127.0.0.1 it signed (openssl).
enum TestCertificates {
    static func make(in dir: String) throws {
        let script = """
            set -e
            cd '\(dir)'
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=gofer-test-ca 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 1 -extfile san.ext 2>/dev/null
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CertificateError() }
    }

    struct CertificateError: Error, CustomStringConvertible {
        var description: String { "openssl could not make the test certificates" }
    }
}
