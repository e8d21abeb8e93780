import ExtensionSDK
import Foundation

/// Containers a test's runs left on the local engine. A task's container is removed after its
/// outcome is recorded (housekeeping nothing waits for), so removal can trail a run's end a little:
/// this waits for it, up to `within`.
public enum DockerLeftovers {
    /// The engine's JSON list (`GET /containers/json?all=1`) of containers labelled `label`
    /// (`key=value`) after they are all gone or `within` has passed: `"[]\n"` when none are left.
    public static func containers(label: String, within: Duration = .seconds(60)) async throws -> String {
        let client = SimpleHTTPClient(endpoint: .unix(path: "/var/run/docker.sock"))
        let path =
            "/v1.41/containers/json?all=1&filters="
            + ("{\"label\":[\"\(label)\"]}".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
        let deadline = ContinuousClock.now + within
        var left = try await client.send("GET", path: path).text
        while left != "[]\n" && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(250))
            left = try await client.send("GET", path: path).text
        }
        return left
    }
}
