import ExtensionSDK
import Foundation
import NomadAPI
import Testing

/// The pure parts of the Nomad scheduler: log frames, blocking-query indexes, placement reasons,
/// the job it registers.
struct NomadAPITests {
    static func frame(_ text: String, offset: Int, file: String = "alloc/logs/task.stdout.0") -> String {
        #"{"File":"\#(file)","Offset":\#(offset),"Data":"\#(Data(text.utf8).base64EncodedString())"}"#
    }

    @Test func framesSplitAcrossChunksAreDeliveredWholeAndOnce() throws {
        let stream = Self.frame("a}b\"c\n", offset: 6) + "{}" + "\n" + Self.frame("second\n", offset: 13)
        let bytes = Array(stream.utf8)
        // Every way of cutting the stream in two yields the same frames.
        for cut in 0...bytes.count {
            var reader = LogFrameReader()
            var frames = try reader.append(Array(bytes[..<cut]))
            frames += try reader.append(Array(bytes[cut...]))
            let data = frames.filter { !$0.data.isEmpty }
            #expect(data.map { String(decoding: $0.data, as: UTF8.self) } == ["a}b\"c\n", "second\n"], "cut at \(cut)")
            #expect(data.map(\.offset) == [6, 13])
            #expect(frames.count == 3, "the heartbeat is a frame without data")
            #expect(reader.pendingBytes == 0)
        }
    }

    @Test func aFrameCutOffIsNeverDeliveredAndGarbageIsAnError() throws {
        var reader = LogFrameReader()
        let whole = Self.frame("one\n", offset: 4)
        let frames = try reader.append(Array((whole + String(Self.frame("two\n", offset: 8).prefix(20))).utf8))
        #expect(frames.count == 1 && reader.pendingBytes == 20)
        var bad = LogFrameReader()
        #expect(throws: ProtocolError.self) { try bad.append(Array("<html>".utf8)) }
        var badData = LogFrameReader()
        #expect(throws: ProtocolError.self) { try badData.append(Array(#"{"Data":"%%%","Offset":1}"#.utf8)) }
    }

    @Test func theResumeOffsetCountsFilesAlreadyReadWhole() {
        var p = LogPosition()
        p.advance(file: "alloc/logs/task.stdout.0", offset: 100)
        p.advance(file: "alloc/logs/task.stdout.0", offset: 250)
        #expect(p.global == 250)
        p.advance(file: "alloc/logs/task.stdout.1", offset: 10)  // rotated: the first file ended at 250
        #expect(p.global == 260)
        p.advance(file: nil, offset: 30)
        #expect(p.global == 280)
    }

    @Test func blockingIndexesStartOverWhenTheyGoBackwards() {
        var i = BlockingIndex()
        i.update(42)
        #expect(i.value == 42)
        i.update(nil)
        #expect(i.value == 42)
        i.update(40)  // a new leader with older state: wait from the start
        #expect(i.value == 1)
        i.update(0)
        #expect(i.value == 1)
    }

    @Test func aBlockedEvaluationSaysWhichConstraintAndWhichResource() throws {
        let eval = try JSONParser().parse(
            #"{"Status":"complete","FailedTGAllocs":{"task":{"NodesEvaluated":3,"ConstraintFiltered":{"${meta.rack} = r9":2},"DimensionExhausted":{"memory":1},"NodesAvailable":{"dc1":3}}}}"#
        )
        let text = try #require(PlacementFailure.describe(eval))
        #expect(text == "group task: 3 node(s) evaluated; constraint ${meta.rack} = r9 filtered 2; memory exhausted on 1", "\(text)")
        #expect(PlacementFailure.describe(try JSONParser().parse(#"{"FailedTGAllocs":null}"#)) == nil)
    }

    @Test func theRegisteredJobIsABatchJobNomadNeverRetries() throws {
        let spec = JobSpec(
            taskExecutionID: "ns/p/1/build", image: "registry.example.com/ci:1", entrypoint: ["/bin/sh"], command: ["-c", "make test"],
            env: ["A": "1"], labels: ["gofer.run": "1"], cpus: 0.5, memoryMB: 512, registryAuth: RegistryAuth(username: "u", password: "p"),
            stopGraceMs: 2500)
        let body = NomadJob.registration(
            spec, placement: NomadPlacement(datacenters: ["eu-1"], constraints: [NomadConstraint(attribute: "${node.class}", operator: "=", value: "ci")]),
            defaults: NomadJobDefaults(constraints: [NomadConstraint(attribute: "${attr.kernel.name}", operator: "=", value: "linux")]),
            namespace: "ci")
        #expect(body["EnforceIndex"] == true && body["JobModifyIndex"] == 0)
        let job = try #require(body["Job"])
        #expect(job["ID"]?.stringValue == NomadJob.id(for: "ns/p/1/build") && job["Type"] == "batch" && job["Namespace"] == "ci")
        #expect(job["Datacenters"] == ["eu-1"])
        #expect(job["Constraints"]?.arrayValue?.map { $0["LTarget"] } == ["${attr.kernel.name}", "${node.class}"], "admin's first, then the task's")
        let group = try #require(job["TaskGroups"]?.arrayValue?.first)
        #expect(group["RestartPolicy"]?["Attempts"] == 0 && group["ReschedulePolicy"]?["Attempts"] == 0)
        let task = try #require(group["Tasks"]?.arrayValue?.first)
        #expect(task["Driver"] == "docker")
        #expect(task["Config"]?["entrypoint"] == ["/bin/sh"] && task["Config"]?["command"] == "-c" && task["Config"]?["args"] == ["make test"])
        #expect(task["Config"]?["auth"]?["username"] == "u")
        #expect(task["Resources"]?["CPU"] == 500 && task["Resources"]?["MemoryMB"] == 512)
        #expect(task["KillTimeout"] == 2_500_000_000)
        #expect(task["Meta"]?["gofer.task_execution"] == "ns/p/1/build")
    }

    @Test func jobNamesAreStableReadableAndShort() {
        let a = JobName.derived(from: "3F2A/ci:build#1")
        #expect(a == JobName.derived(from: "3F2A/ci:build#1"))
        #expect(a.hasPrefix("gofer-3f2a-ci-build-1-"))
        #expect(a != JobName.derived(from: "3F2A/ci:build#2"))
        #expect(JobName.derived(from: String(repeating: "x", count: 500)).count <= 63)
    }

    @Test func httpsEndpointsParseWithTheirCAFile() {
        #expect(HTTPEndpoint("https://nomad.example.com:4646", caFile: "/ca.pem") == .https(host: "nomad.example.com", port: 4646, caFile: "/ca.pem"))
        #expect(HTTPEndpoint("https://nomad.example.com") == .https(host: "nomad.example.com", port: 443, caFile: nil))
        #expect(HTTPEndpoint("https://[::1]:8443/") == .https(host: "::1", port: 8443, caFile: nil))
        #expect(HTTPEndpoint("https://host:0") == nil)
        #expect(HTTPEndpoint("https://:4646") == nil)
    }
}
