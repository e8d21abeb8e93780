import ExtensionSDK
import Foundation

/// Whether Docker tests can run here. With `GOFER_REQUIRE_DOCKER=1` (CI) a missing engine is a
/// failure, not a skip.
public enum DockerAvailability {
    public static var required: Bool { ProcessInfo.processInfo.environment["GOFER_REQUIRE_DOCKER"] == "1" }

    /// True when the daemon answers on /var/run/docker.sock.
    public static func isAvailable() async -> Bool {
        let client = SimpleHTTPClient(endpoint: .unix(path: "/var/run/docker.sock"))
        guard let r = try? await client.send("GET", path: "/_ping", timeout: .seconds(3)) else { return false }
        return r.status == 200
    }

    /// Use at the start of a Docker test: returns false (skip) when Docker is absent and not required.
    /// Throws when it is required and absent.
    public static func check() async throws -> Bool {
        if await isAvailable() { return true }
        if required {
            throw DockerUnavailable()
        }
        print("skipping: no Docker engine at /var/run/docker.sock (set GOFER_REQUIRE_DOCKER=1 to make this a failure)")
        return false
    }

    public struct DockerUnavailable: Error, CustomStringConvertible {
        public var description: String { "GOFER_REQUIRE_DOCKER=1 but no Docker engine answers at /var/run/docker.sock" }
    }
}
