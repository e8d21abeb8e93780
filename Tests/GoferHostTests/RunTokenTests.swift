import Crypto
import ExtensionSDK
import Foundation
import GoferHost
import TestSupport
import Testing

/// A run's own token, used from inside a real Docker container.
@Suite(.serialized)
struct RunTokenTests {
    @Test func aTaskCallsTheAPIWithItsRunTokenWhichDiesWithTheRun() async throws {
        guard try await DockerAvailability.check() else { return }
        let h = try await ServerHarness(scheduler: "docker")
        return try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            // The container reaches the server through the Docker bridge, not its own loopback.
            #expect(!h.server.taskAPIURL.contains("127.0.0.1"), "tasks get \(h.server.taskAPIURL)")
            _ = try await h.apply("id: other\ntasks:\n  - { id: t, image: busybox:latest, command: [\"true\"] }\n")
            let call = #"""
                auth="Authorization: Bearer $GOFER_API_TOKEN"
                wget -q -O - --header "$auth" "$GOFER_API_URL/api/namespaces/default/pipelines/tok/runs/$GOFER_RUN" && echo; echo "own: $?"
                wget -q -O - --header "$auth" "$GOFER_API_URL/api/namespaces/default/pipelines/other/runs" 2>&1; echo "other: $?"
                wget -q -O - --header "$auth" "$GOFER_API_URL/api/namespaces/default/pipelines/tok/runs" --post-data '{}' 2>&1; echo "start: $?"
                echo "token: $GOFER_API_TOKEN"
                """#
            let yaml = """
                id: tok
                inject_api_token: true
                tasks:
                  - id: call
                    image: busybox:latest
                    command: ["sh", "-c", \(JSONValue.string(call).description)]
                  - id: optout
                    image: busybox:latest
                    inject_api_token: false
                    command: ["sh", "-c", "echo has token: ${GOFER_API_TOKEN:-none}"]
                """
            _ = try await h.apply(yaml)
            let (run, tasks) = try await h.runToEnd("tok")
            #expect(run.state == .succeeded, "\(tasks.map { "\($0.task) \($0.state) \($0.reason?.message ?? "")" })")
            let log = h.log("tok", run: run.id, task: "call")
            #expect(log.contains("\"pipeline\":\"tok\"") && log.contains("own: 0"), "reads its own run: \(log)")
            #expect(log.contains("403") && log.contains("other: 1"), "refused another pipeline: \(log)")
            #expect(log.contains("start: 1"), "cannot start runs: \(log)")
            #expect(log.contains("token: ********") && !log.contains("gofer_"), "the token is masked in the log: \(log)")
            #expect(h.log("tok", run: run.id, task: "optout").contains("has token: none"))
            // After the run: the same token (derived as the server derives it) is refused, saying why.
            let key = try #require(Data(base64Encoded: try String(contentsOfFile: h.dir.path + "/run-tokens.key", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
            let token = TokenSecret.derive(key: SymmetricKey(data: key), label: "run_default_tok_\(run.id)").text
            let client = try h.client(port: port, token: token)
            await #expect {
                let _: APIToken = try await client.call("GET", "/api/whoami")
            } throws: { error in
                (error as? APIError)?.status == 401 && (error as? APIError)?.message.contains("its run ended") == true
            }
            #expect(SecretsTests.filesContaining(token, in: h.dir.path).isEmpty, "only the token's hash is stored")
        }
    }
}
