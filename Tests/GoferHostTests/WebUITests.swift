import ExtensionSDK
import Foundation
import GoferHost
import HTTPTypes
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

/// The web UI: its session (a token exchanged for an HttpOnly, SameSite cookie, CSRF-checked on
/// every change) against the router, and the whole UI in a real headless Chromium.
@Suite(.serialized)
struct WebUITests {
    /// `compile` stays running until the browser test has seen it run and creates `release`
    /// (a task that must be seen in progress is held there, not raced).
    static func pipeline(release: String) -> String {
        """
        id: webui
        hooks:
          - { extension: github-status, settings: { repository: octo/app, sha: \(GitHubStatusTests.sha) } }
        tasks:
          - id: compile
            image: none
            env: { TOKEN: "secret{{deploy}}" }
            command: ["sh", "-c", "printf '\\\\033[32mcompiling\\\\033[0m\\\\n'; echo \\"masked: $TOKEN\\"; i=0; while [ ! -e \(release) ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done; echo compiled"]
          - { id: test, image: none, depends_on: [compile], command: ["echo", "tested"] }
          - { id: lint, image: none, depends_on: [compile], command: ["echo", "linted"] }
          - { id: package, image: none, depends_on: [test, lint], command: ["echo", "packaged"] }
        """
    }

    /// Whether chromium, its driver and selenium are here; with GOFER_REQUIRE_BROWSER=1 (CI) their
    /// absence fails the test instead of skipping it.
    static func browserAvailable() async throws -> Bool {
        let fm = FileManager.default
        let selenium = try await ChildProcess.run("/usr/bin/env", arguments: ["python3", "-c", "import selenium"])
        if fm.isExecutableFile(atPath: "/usr/bin/chromium") && fm.isExecutableFile(atPath: "/usr/bin/chromedriver") && selenium.status == .exited(0) {
            return true
        }
        if ProcessInfo.processInfo.environment["GOFER_REQUIRE_BROWSER"] == "1" {
            throw ServerError("GOFER_REQUIRE_BROWSER=1 but chromium, chromium-driver or selenium is missing (apt-get install chromium chromium-driver; pip install selenium)")
        }
        print("skipping the browser test: chromium, chromium-driver or selenium is missing")
        return false
    }

    /// A person's session in the browser; then the run link a commit status carried (a FAKE
    /// GitHub, FakeGitHub.swift, records it), opened from outside: login first, then that run.
    @Test(.timeLimit(.minutes(5))) func aPersonStartsAndWatchesARunInARealBrowser() async throws {
        guard try await Self.browserAvailable() else { return }
        let fake = try await FakeGitHub(token: GitHubStatusTests.token, repositories: ["octo/app": [GitHubStatusTests.sha]])
        try await stopping({ await fake.stop() }) { try await Self.personAndLinks(fake) }
    }

    static func personAndLinks(_ fake: FakeGitHub) async throws {
        // The port is chosen first so that public_url (the links' base) is this server's own address.
        let address = "127.0.0.1:\(FreePort.next())"
        let h = try await ServerHarness {
            $0.listen = address
            $0.publicURL = "http://\(address)"
        }
        return try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            try await h.server.extensions.install(
                "github-status", .latest, config: ["token": .string(GitHubStatusTests.token), "apiUrl": .string(fake.url)])
            let release = h.dir.path + "/release-compile"
            _ = try await h.apply(Self.pipeline(release: release))
            // Its github-status hook has no commit to mark (a run started by hand): it says so.
            _ = try await h.apply("id: sleepy\nhooks:\n  - { extension: github-status }\ntasks:\n  - { id: nap, image: none, command: [\"sleep\", \"60\"] }\n")
            let admin = try h.client(port: port)
            _ = try await admin.raw("PUT", "/api/namespaces/default/pipelines/webui/secrets/deploy", body: ["value": "s3cr3t-value"])
            let shots = NSTemporaryDirectory() + "gofer-webui-screenshots"
            let r = try await ChildProcess.run(
                "/usr/bin/env",
                arguments: [
                    "python3", BuiltProducts.repositoryRoot.appendingPathComponent("Tests/webui/browser_test.py").path, "--url", "http://127.0.0.1:\(port)",
                    "--token", h.adminToken, "--screenshots", shots, "--release-file", release,
                ], timeout: .seconds(240))
            let out = String(decoding: r.stdout + r.stderr, as: UTF8.self)
            print(out)
            #expect(r.status == .exited(0), "\(out)")
            for check in [
                "a wrong token is refused", "the session cookie is HttpOnly and SameSite=Strict", "a log line appears while its task still runs",
                "ANSI colours are rendered", "secrets are masked in the log", "every DAG node turns green", "at the run's own address",
                "'started … ago' moves on while the page is open", "every task shows how long it took", "saying no leaves it running",
                "cancelling turns the node cancelled", "an old #/ link moves to the page's path",
                "the extensions page lists the scheduler", "and the session is over",
            ] {
                #expect(out.contains("ok   \(check)"), "\(check): \(out)")
            }
            // The page's work went through the API as the token: the run it started and the one it cancelled.
            let runs = try await h.server.store.runs(namespace: "default", pipeline: "webui").items
            #expect(runs.count == 1 && runs[0].state == .succeeded && runs[0].initiator.id.hasPrefix("tok_"), "\(runs)")
            let cancelled = try await h.server.store.runs(namespace: "default", pipeline: "sleepy").items
            #expect(cancelled.first?.state == .cancelled && cancelled.first?.reason?.message.contains("cancelled from the web UI") == true, "\(cancelled)")

            var deliveries: [HookDelivery] = []
            for _ in 0..<600 where deliveries.count < 2 || deliveries.contains(where: { $0.state != .delivered }) {
                deliveries = try await h.server.store.hookDeliveries(namespace: "default", pipeline: "sleepy", run: 1)
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(deliveries.count == 2 && deliveries.allSatisfy { $0.state == .delivered && $0.summary?.hasPrefix("no commit to mark") == true }, "\(deliveries)")

            // The link the final commit status carries, opened by someone without a session.
            for _ in 0..<600 where !fake.statuses.contains(where: { $0.state == "success" }) { try await Task.sleep(for: .milliseconds(100)) }
            let status = try #require(fake.statuses.first { $0.state == "success" }, "\(fake.statuses)")
            let link = try #require(status.targetURL)
            #expect(link == "http://\(address)/ui/namespaces/default/pipelines/webui/runs/1")
            let user = try await h.makeToken("dev", roles: ["user"], namespaces: ["default"])
            let links = try await ChildProcess.run(
                "/usr/bin/env",
                arguments: [
                    "python3", BuiltProducts.repositoryRoot.appendingPathComponent("Tests/webui/browser_test.py").path, "--phase", "links",
                    "--url", "http://\(address)", "--token", h.adminToken, "--user-token", user, "--run-link", link, "--screenshots", shots,
                ], timeout: .seconds(240))
            let linksOut = String(decoding: links.stdout + links.stderr, as: UTF8.self)
            print(linksOut)
            #expect(links.status == .exited(0), "\(linksOut)")
            for check in [
                "a run link without a session shows the login form", "after login the link's run opens", "a task line link marks that line",
                "clicking a line makes the address its link", "a task that does not exist says so", "an unknown page says so",
                "an old #/r/ link opens the run at its path", "and is not shown the Extensions link it cannot open",
                "the run page shows what its hooks did", "and a hook that had nothing to do says so",
            ] {
                #expect(linksOut.contains("ok   \(check)"), "\(check): \(linksOut)")
            }
        }
    }

    @Test func theCompiledInAssetsAreTheCommittedFiles() async throws {
        let script = BuiltProducts.repositoryRoot.appendingPathComponent("Sources/Host/GoferHTTP/WebUI/generate-assets.py").path
        let r = try await ChildProcess.run("/usr/bin/env", arguments: ["python3", script, "--check"])
        #expect(r.status == .exited(0), "\(String(decoding: r.stderr, as: UTF8.self))")
    }

    /// `Set-Cookie: gofer_session=…` → the cookie's value.
    static func sessionCookie(_ response: TestResponse) -> String? {
        guard let header = response.headers[.setCookie], header.hasPrefix("gofer_session=") else { return nil }
        return String(header.dropFirst("gofer_session=".count).prefix { $0 != ";" })
    }

    @Test func aSessionActsAsItsTokenAndEveryChangeNeedsTheCSRFToken() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            _ = try await h.apply("id: p\ntasks:\n  - { id: t, image: none, command: [\"true\"] }\n")
            let dev = try await h.makeToken("dev", roles: ["user"], namespaces: ["default"])
            try await h.withRouter(token: "") { client in
                func call(_ method: HTTPRequest.Method, _ uri: String, cookie: String? = nil, csrf: String? = nil, body: String? = nil) async throws -> TestResponse {
                    var headers: HTTPFields = [:]
                    if let cookie { headers[.cookie] = "other=1; gofer_session=\(cookie)" }
                    if let csrf { headers[HTTPField.Name("X-Gofer-CSRF")!] = csrf }
                    if body != nil { headers[.contentType] = "application/json" }
                    return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
                }
                // The page itself is public and locked down.
                let page = try await call(.get, "/")
                #expect(page.status == .ok && page.headers[.contentType]?.hasPrefix("text/html") == true)
                #expect(page.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true && page.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
                #expect(try await call(.get, "/ui/assets/app.js").headers[.contentType]?.hasPrefix("text/javascript") == true)
                #expect(try await call(.get, "/ui/assets/..%2Fsecret").status == .notFound)
                // Every page's address (the links Gofer sends) answers the page, without a session:
                // the page asks to log in and then shows it. An address that is no page: 404, the page saying so.
                for path in ["/ui/namespaces/default/pipelines/p/runs/3", "/ui/namespaces/default/pipelines/p/runs/3/tasks/t", "/ui/extensions"] {
                    let r = try await call(.get, path)
                    #expect(r.status == .ok && r.headers[.contentType]?.hasPrefix("text/html") == true && String(buffer: r.body).contains("/ui/assets/app.js"), "\(path)")
                }
                let nowhere = try await call(.get, "/ui/nowhere")
                #expect(nowhere.status == .notFound && nowhere.headers[.contentType]?.hasPrefix("text/html") == true)
                #expect(try await call(.get, "/api/nowhere").headers[.contentType]?.hasPrefix("application/json") == true, "the API's 404 stays JSON")
                #expect(try await call(.get, "/ui/login").status == .methodNotAllowed, "a UI route under another method is still a 405")
                // A wrong token: 401, no cookie.
                let wrong = try await call(.post, "/ui/login", body: #"{"token":"gofer_nope"}"#)
                #expect(wrong.status == .unauthorized && wrong.headers[.setCookie] == nil)
                // Login: the cookie is HttpOnly and SameSite=Strict, the answer names the token, never its secret.
                let login = try await call(.post, "/ui/login", body: "{\"token\":\"\(dev)\"}")
                #expect(login.status == .ok, "\(String(buffer: login.body))")
                let setCookie = login.headers[.setCookie] ?? ""
                #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict") && setCookie.contains("Path=/") && !setCookie.contains("Secure"), "\(setCookie)")
                let answer = try JSONParser().parse(Array(login.body.readableBytesView))
                let csrf = try #require(answer["csrf"]?.stringValue)
                #expect(answer["token"]?["name"]?.stringValue == "dev" && !String(buffer: login.body).contains(dev))
                #expect(answer["pages"] == ["pipelines"], "a user token's session may not open the extensions page: \(answer)")
                let cookie = try #require(Self.sessionCookie(login))
                // Reads with the cookie act as the token, within its namespaces.
                #expect(try await call(.get, "/api/namespaces/default/pipelines", cookie: cookie).status == .ok)
                #expect(try await call(.get, "/api/extensions", cookie: cookie).status == .forbidden, "a user token may not, so neither may its session")
                #expect(try await call(.get, "/ui/session", cookie: cookie).status == .ok)
                // A change: refused without the CSRF token or with a wrong one, done with it.
                let bare = try await call(.post, "/api/namespaces/default/pipelines/p/runs", cookie: cookie, body: "{}")
                #expect(bare.status == .forbidden && String(buffer: bare.body).contains("csrf"), "\(String(buffer: bare.body))")
                #expect(try await call(.post, "/api/namespaces/default/pipelines/p/runs", cookie: cookie, csrf: "x" + csrf, body: "{}").status == .forbidden)
                #expect(try await h.server.store.runs(namespace: "default", pipeline: "p").items.isEmpty, "nothing was started without the CSRF token")
                let started = try await call(.post, "/api/namespaces/default/pipelines/p/runs", cookie: cookie, csrf: csrf, body: "{}")
                #expect(started.status == .created || started.status == .accepted, "\(started.status) \(String(buffer: started.body))")
                let run = try await h.server.store.runs(namespace: "default", pipeline: "p").items
                #expect(run.count == 1 && run[0].initiator.id == "tok_dev", "\(run)")
                // Revoking the token ends its sessions at the next request.
                let revoke = try await client.execute(uri: "/api/tokens/tok_dev", method: .delete, headers: [.authorization: "Bearer \(h.adminToken)"])
                #expect(revoke.status == .ok, "\(String(buffer: revoke.body))")
                #expect(try await call(.get, "/api/namespaces/default/pipelines", cookie: cookie).status == .unauthorized)
                // Logout clears the cookie and ends the session.
                let other = try await h.makeToken("ops", roles: ["user"], namespaces: ["default"])
                let second = try await call(.post, "/ui/login", body: "{\"token\":\"\(other)\"}")
                let cookie2 = try #require(Self.sessionCookie(second))
                let csrf2 = try JSONParser().parse(Array(second.body.readableBytesView))["csrf"]?.stringValue
                let out = try await call(.post, "/ui/logout", cookie: cookie2, csrf: csrf2)
                #expect(out.status == .ok && out.headers[.setCookie]?.contains("Max-Age=0") == true)
                #expect(try await call(.get, "/api/namespaces/default/pipelines", cookie: cookie2).status == .unauthorized)
            }
        }
    }
}
