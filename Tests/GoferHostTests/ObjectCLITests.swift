import ExtensionSDK
import Foundation
import GoferHost
import TestSupport
import Testing

/// `gofer object …` against a live server: files and pipes in, files and pipes out, checked.
@Suite(.serialized)
struct ObjectCLITests {
    func sh(_ script: String, _ env: [String: String]) async throws -> (TerminationStatus, String, String) {
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in env { environment[k] = v }
        environment["NO_COLOR"] = "1"
        environment["PATH"] = BuiltProducts.directory + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        let r = try await ChildProcess.run("/bin/sh", arguments: ["-c", script], environment: environment)
        return (r.status, String(decoding: r.stdout, as: UTF8.self), String(decoding: r.stderr, as: UTF8.self))
    }

    @Test func objectsGoInAndOutThroughFilesAndPipes() async throws {
        let h = try await ServerHarness()
        return try await stopping({ await h.stop() }) {
            let port = try await h.server.startHTTP()
            _ = try await h.apply("id: app\ntasks:\n  - { id: t, image: none, command: [\"true\"] }\n")
            let (run, _) = try await h.runToEnd("app")
            let env = ["GOFER_HOST": "127.0.0.1:\(port)", "GOFER_CLI_CONFIG": h.dir.path + "/cli.json", "GOFER_TOKEN": h.adminToken]
            let d = h.dir.path
            var (status, out, err) = try await sh("head -c 5000000 /dev/urandom > \(d)/in.bin && gofer object pipeline put app dist.bin -f \(d)/in.bin", env)
            #expect(status == .exited(0) && out.contains("stored dist.bin in pipeline default/app: 4.8 MB"), "\(out)\(err)")
            (status, out, err) = try await sh("gofer object pipeline get app dist.bin > \(d)/out.bin && cmp \(d)/in.bin \(d)/out.bin && echo same", env)
            #expect(status == .exited(0) && out.contains("same"), "\(out)\(err)")
            (status, out, err) = try await sh("gofer object pipeline get app dist.bin -o \(d)/out2.bin && cmp \(d)/in.bin \(d)/out2.bin && echo same", env)
            #expect(status == .exited(0) && out.contains("same"), "\(out)\(err)")
            // From a pipe (length unknown: sent chunked) into a run.
            (status, out, err) = try await sh("printf 'v1.2.3' | gofer object run put app \(run.id) version && gofer object run get app \(run.id) version", env)
            #expect(status == .exited(0) && out.hasSuffix("v1.2.3"), "\(out)\(err)")
            (status, out, err) = try await sh("gofer object pipeline list app --json", env)
            let list = try JSONParser().parse(out)
            #expect(list["items"]?.arrayValue?.first?["key"]?.stringValue == "dist.bin" && list["items"]?.arrayValue?.first?["size"]?.intValue == 5_000_000, "\(out)\(err)")
            (status, out, err) = try await sh("gofer object pipeline list app", env)
            #expect(out.contains("KEY") && out.contains("dist.bin") && out.contains("4.8 MB"), "\(out)")
            // Bad input: a key that could escape, an object that is not there, a missing file.
            (status, out, err) = try await sh("echo x | gofer object pipeline put app ../x", env)
            #expect(status == .exited(1) && err.contains("is not an object key"), "\(out)\(err)")
            (status, out, err) = try await sh("gofer object pipeline get app nope -o \(d)/nope.bin", env)
            #expect(status == .exited(1) && err.contains("object \"nope\" not found") && !FileManager.default.fileExists(atPath: d + "/nope.bin"), "\(out)\(err)")
            (status, out, err) = try await sh("gofer object pipeline put app k -f \(d)/missing", env)
            #expect(status != .exited(0) && err.contains("cannot read"), "\(out)\(err)")
            (status, out, err) = try await sh("gofer object pipeline delete app dist.bin && gofer object pipeline list app", env)
            #expect(status == .exited(0) && out.contains("has no objects"), "\(out)\(err)")
        }
    }
}
