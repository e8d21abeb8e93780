import ExtensionSDK
import Foundation
import GoferHost
import TestSupport
import Testing

/// Objects used from inside real Docker containers, with busybox's wget and the run token: the
/// commands docs/objects.md gives.
@Suite(.serialized)
struct ObjectDockerTests {
    static let helpers = #"""
        mkdir -p /tmp
        obj="$GOFER_API_URL/api/namespaces/$GOFER_NAMESPACE/pipelines/$GOFER_PIPELINE"
        auth="Authorization: Bearer $GOFER_API_TOKEN"
        put() { base64 "$2" > "$2.b64" && wget -q -O /dev/null --header "$auth" --post-file "$2.b64" "$obj/$1?encoding=base64"; }
        get() { wget -q -O "$2" --header "$auth" "$obj/$1"; }

        """#

    @Test func aFilePassesFromOneTaskToTheNextAndAPipelineObjectOutlivesItsRun() async throws {
        guard try await DockerAvailability.check() else { return }
        let h = try await ServerHarness(scheduler: "docker")
        return try await stopping({ await h.stop() }) {
            _ = try await h.server.startHTTP()
            let build = Self.helpers + #"""
                set -e
                head -c 300000 /dev/urandom > /tmp/app.bin
                sha256sum /tmp/app.bin | cut -d' ' -f1 | tr -d '\n' > /tmp/app.sha
                put "runs/$GOFER_RUN/objects/app.bin" /tmp/app.bin
                put "runs/$GOFER_RUN/objects/app.sha" /tmp/app.sha
                n=$( (get objects/builds - 2>/dev/null) || echo 0)
                echo -n $((n + 1)) > /tmp/n
                put objects/builds /tmp/n
                echo "uploaded $(cat /tmp/app.sha)"
                """#
            let verify = Self.helpers + #"""
                set -e
                get "runs/$GOFER_RUN/objects/app.bin" /tmp/app.bin
                got=$(sha256sum /tmp/app.bin | cut -d' ' -f1)
                [ "$got" = "$EXPECTED" ] && echo "verified $got"
                echo "build number $BUILDS"
                """#
            let yaml = """
                id: artifacts
                inject_api_token: true
                tasks:
                  - id: build
                    image: busybox:latest
                    command: ["sh", "-c", \(JSONValue.string(build).description)]
                  - id: verify
                    image: busybox:latest
                    depends_on: [build]
                    env:
                      EXPECTED: run_object{{app.sha}}
                      BUILDS: pipeline_object{{builds}}
                    command: ["sh", "-c", \(JSONValue.string(verify).description)]
                """
            _ = try await h.apply(yaml)
            for attempt in 1...2 {
                let (run, tasks) = try await h.runToEnd("artifacts")
                let logs = tasks.map { "\($0.task): \($0.state) \($0.reason?.message ?? "")\n\(h.log("artifacts", run: run.id, task: $0.task))" }
                #expect(run.state == .succeeded, "\(logs)")
                let verified = h.log("artifacts", run: run.id, task: "verify")
                let sha = try await h.server.objects.text(.run(namespace: "default", pipeline: "artifacts", run: run.id), key: try ObjectKey("app.sha"))
                #expect(sha.count == 64 && verified.contains("verified \(sha)"), "\(logs)")
                #expect(verified.contains("build number \(attempt)"), "the pipeline object counts builds across runs: \(verified)")
                let info = try await h.server.objects.info(.run(namespace: "default", pipeline: "artifacts", run: run.id), key: try ObjectKey("app.bin"))
                #expect(info.size == 300_000 && info.createdBy.contains("artifacts#\(run.id)"), "written with the run token: \(info)")
            }
        }
    }

    @Test func aTaskWhoseEnvNamesAMissingObjectFailsSayingWhich() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply("id: miss\ntasks:\n  - { id: t, image: none, command: [\"true\"], env: { V: \"x-run_object{{nope}}\" } }\n")
            let (run, tasks) = try await h.runToEnd("miss")
            #expect(run.state == .failed)
            let reason = try #require(tasks.first?.reason)
            #expect(reason.kind == .objectError && reason.message.contains("run_object{{nope}}") && reason.message.contains("not found"), "\(reason)")
        }
    }
}
