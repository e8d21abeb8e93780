import ExtensionSDK
import Foundation
import GoferHost
import TestSupport
import Testing

/// Public mode end to end, as a stranger meets it: a trial token from `POST /api/trial`, a fresh
/// namespace, and every cap tried and refused with its reason — on Docker, since public mode
/// runs strangers' code only in containers.
@Suite(.serialized)
struct PublicModeTests {
    /// What an API call answered: its status and code when refused.
    func refusal(_ call: () async throws -> Void) async -> APIError? {
        do {
            try await call()
            return nil
        } catch let error as APIError {
            return error
        } catch {
            return APIError(status: 0, code: "\(error)", message: "\(error)")
        }
    }

    @Test func withoutPublicModeThereAreNoTrials() async throws {
        let h = try await ServerHarness()
        try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            let stranger = try APIClient(address: "127.0.0.1:\(port)")
            let error = await refusal { let _: TrialGrant = try await stranger.call("POST", "/api/trial") }
            #expect(error?.status == 404, "\(String(describing: error))")
        }
    }

    /// A trial for a stranger at 127.0.0.1, and a client of it.
    func trial(_ port: Int) async throws -> (TrialGrant, APIClient) {
        let stranger = try APIClient(address: "127.0.0.1:\(port)")
        let grant: TrialGrant = try await stranger.call("POST", "/api/trial")
        return (grant, try APIClient(address: "127.0.0.1:\(port)", token: grant.secret))
    }

    /// The caps and the role, with a budget (300 s) no loaded engine spends by starting a
    /// container slowly: only what the caps say is refused.
    @Test(.timeLimit(.minutes(10))) func aStrangerGetsATrialAndEveryCapHolds() async throws {
        guard try await DockerAvailability.check() else { return }
        let h = try await ServerHarness(scheduler: "docker") {
            $0.trials.enabled = true
            $0.trials.budget = .seconds(300)
            $0.trials.addressBudget = .seconds(600)
        }
        try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            let (grant, trial) = try await self.trial(port)
            let ns = grant.namespace
            #expect(ns.hasPrefix("trial-") && grant.budget.leftSeconds == 300 && grant.token.expiresAt != nil, "\(grant)")
            let budget: TrialBudget = try await trial.call("GET", "/api/trial")
            #expect(budget.namespace == ns && budget.leftSeconds == 300)

            // Apply: each cap refused at its field.
            func apply(_ yaml: String) async -> APIError? {
                await refusal { let _: JSONValue = try await trial.call("POST", "/api/namespaces/\(ns)/pipelines", body: ["config": .string(yaml)]) }
            }
            let task = "{ id: t, image: busybox:latest, command: [\"true\"] }"
            let six = (0..<6).map { "  - { id: t\($0), image: busybox:latest, command: [\"true\"] }" }.joined(separator: "\n")
            for (yaml, field) in [
                ("id: p\ntasks:\n\(six)\n", "/tasks"),
                ("id: p\ntriggers:\n  - { trigger: interval, settings: { every: 1h } }\ntasks:\n  - \(task)\n", "/triggers/0"),
                ("id: p\ntasks:\n  - { id: n, extension: echo, settings: { message: hi } }\n", "/tasks/0/extension"),
                ("id: p\ntasks:\n  - { id: t, image: busybox:latest, env: { KEY: \"secret{{key}}\" } }\n", "/tasks/0/env/KEY"),
                ("id: p\ntasks:\n  - { id: t, image: busybox:latest, cpu: 2 }\n", "/tasks/0/cpu"),
                ("id: p\ntasks:\n  - { id: t, image: busybox:latest, memory: 1GB }\n", "/tasks/0/memory"),
                ("id: p\ninject_api_token: true\ntasks:\n  - \(task)\n", "/inject_api_token"),
            ] {
                let error = await apply(yaml)
                #expect(error?.status == 422 && error?.details.contains { $0.field == field } == true, "\(field): \(String(describing: error))")
                #expect(error?.details.first?.message.contains("public-mode trial") == true, "\(String(describing: error))")
            }
            // What the trial role does not grant, and other namespaces.
            for (method, path) in [
                ("GET", "/api/namespaces/\(ns)/pipelines/p/secrets"), ("GET", "/api/namespaces/\(ns)/pipelines/p/objects"),
                ("POST", "/api/namespaces"), ("GET", "/api/extensions"), ("GET", "/api/namespaces/default/pipelines"),
                ("GET", "/api/tokens"),
            ] {
                let error = await refusal { let _: JSONValue = try await trial.call(method, path, body: method == "POST" ? ["id": "mine"] : nil) }
                #expect(error?.status == 403, "\(method) \(path): \(String(describing: error))")
            }

            // A task runs as nobody, and its log is capped at 1 MiB.
            #expect(await apply("id: who\ntasks:\n  - { id: t, image: busybox:latest, command: [\"sh\", \"-c\", \"id -u; yes 0123456789abcdef | head -c 3000000\"] }\n") == nil)
            let run: Run = try await trial.call("POST", "/api/namespaces/\(ns)/pipelines/who/runs")
            let done = try await h.server.engine.waitForRun(namespace: ns, pipeline: "who", run: run.id)
            #expect(done.state == .succeeded, "\(done)")
            let log = h.log("who", run: run.id, task: "t", namespace: ns)
            #expect(log.hasPrefix("65534\n"), "runs as nobody: \(log.prefix(40))")
            #expect(log.utf8.count <= (1 << 20) + 4096 && log.contains("truncated"), "capped at 1 MiB: \(log.utf8.count) bytes")

            // Three pipelines at most; one run at a time.
            #expect(await apply("id: nap\ntasks:\n  - { id: t, image: busybox:latest, command: [\"sleep\", \"600\"] }\n") == nil)
            #expect(await apply("id: third\ntasks:\n  - \(task)\n") == nil)
            let fourth = await apply("id: fourth\ntasks:\n  - \(task)\n")
            #expect(fourth?.status == 403 && fourth?.code == "trial_limit", "\(String(describing: fourth))")
            let nap: Run = try await trial.call("POST", "/api/namespaces/\(ns)/pipelines/nap/runs")
            let busy = await refusal { let _: Run = try await trial.call("POST", "/api/namespaces/\(ns)/pipelines/third/runs") }
            #expect(busy?.status == 403 && busy?.code == "trial_limit", "\(String(describing: busy))")
            let _: JSONValue = try await trial.call("POST", "/api/namespaces/\(ns)/pipelines/nap/runs/\(nap.id)/cancel", body: [:])
            _ = try await h.server.engine.waitForRun(namespace: ns, pipeline: "nap", run: nap.id)

            // Nobody may take a trial's namespace name by hand.
            let taken = await refusal { let _: JSONValue = try await h.client(port: port).call("POST", "/api/namespaces", body: ["id": "trial-mine"]) }
            #expect(taken?.status == 400, "\(String(describing: taken))")
        }
    }

    /// The budget: a run that would go on is stopped when the trial's time is used — however
    /// slowly the engine starts it — and then no more runs; the address's budget bounds the next
    /// trial; past trial_rate_limit the answer is 429.
    @Test(.timeLimit(.minutes(10))) func aTrialsBudgetEndsItsRunsAndTheAddressBudgetHolds() async throws {
        guard try await DockerAvailability.check() else { return }
        let h = try await ServerHarness(scheduler: "docker") {
            $0.trials.enabled = true
            $0.trials.budget = .seconds(20)
            $0.trials.addressBudget = .seconds(35)
            $0.trials.issueRate = RateLimit(count: 2, per: .seconds(3600))
        }
        try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            let (grant, trial) = try await self.trial(port)
            let ns = grant.namespace
            let _: JSONValue = try await trial.call(
                "POST", "/api/namespaces/\(ns)/pipelines",
                body: ["config": "id: burn\ntasks:\n  - { id: t, image: busybox:latest, command: [\"sleep\", \"600\"] }\n"])
            let _: JSONValue = try await trial.call(
                "POST", "/api/namespaces/\(ns)/pipelines", body: ["config": "id: next\ntasks:\n  - { id: t, image: busybox:latest, command: [\"true\"] }\n"])
            let burn: Run = try await trial.call("POST", "/api/namespaces/\(ns)/pipelines/burn/runs")
            let burnt = try await h.server.engine.waitForRun(namespace: ns, pipeline: "burn", run: burn.id)
            #expect(burnt.state == .failed && burnt.reason?.message.contains("container time ran out") == true, "\(burnt)")
            let spent = await refusal { let _: Run = try await trial.call("POST", "/api/namespaces/\(ns)/pipelines/next/runs") }
            #expect(spent?.status == 403 && spent?.code == "budget_spent", "\(String(describing: spent))")
            let after: TrialBudget = try await trial.call("GET", "/api/trial")
            // The container time counted (from the container's start, which a loaded engine
            // delays, to its end, the stop's grace included) is at most the run's, and not nothing.
            #expect(after.leftSeconds == 0 && after.usedSeconds >= 1 && after.usedSeconds <= 300, "\(after)")

            // The address (35 s in all): a second trial gets only what the address has left, or
            // none once it is spent; past trial_rate_limit (2) the answer is 429.
            let stranger = try APIClient(address: "127.0.0.1:\(port)")
            do {
                let second: TrialGrant = try await stranger.call("POST", "/api/trial")
                #expect(
                    second.namespace != ns && abs(second.budget.leftSeconds - min(20, max(0, 35 - after.usedSeconds))) <= 1,
                    "\(second.budget) after \(after) (whole seconds)")
                let third = await refusal { let _: TrialGrant = try await stranger.call("POST", "/api/trial") }
                #expect(third?.status == 429 && third?.message.contains("at most 2 trial tokens") == true, "\(String(describing: third))")
            } catch let error as APIError {
                #expect(after.usedSeconds >= 34 && error.status == 403 && error.code == "budget_spent", "\(error) after \(after)")
            }
        }
    }
}
