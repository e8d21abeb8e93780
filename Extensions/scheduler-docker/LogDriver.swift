import ExtensionSDK

/// The engine's own log of a task container. The live capture (attached before the container
/// starts) is what Gofer stores either way; the engine's copy is what output is read back from
/// after the capture stopped early (a restart of Gofer, a cut stream, past `liveLogMaxBytes`).
enum LogDriver: String, CaseIterable, Decodable, Sendable {
    /// The engine's binary log, rotated, uncompressed: kept, and the fastest kept one (about 1.3×
    /// faster for a container to write than json-file).
    case local
    /// The engine's JSON-lines log, rotated.
    case jsonFile = "json-file"
    /// No copy: a container writes at pipe speed; what Gofer does not capture live is lost.
    case none

    /// The container's `HostConfig.LogConfig`.
    func logConfig(maxSize: String, maxFiles: Int) -> JSONValue {
        switch self {
        case .none: ["Type": "none"]
        case .local:
            // Rotated files stay uncompressed: compressing them costs a busy task's CPU at every
            // rotation, and the rotated size is already bounded by max-size × max-file.
            [
                "Type": "local",
                "Config": ["max-size": .string(maxSize), "max-file": .string(String(maxFiles)), "compress": "false"],
            ]
        case .jsonFile:
            ["Type": "json-file", "Config": ["max-size": .string(maxSize), "max-file": .string(String(maxFiles))]]
        }
    }
}
