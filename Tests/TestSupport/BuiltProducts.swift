import Foundation

/// Finds executables built by this package (extensions, fixtures) next to the test bundle.
public enum BuiltProducts {
    /// The build products directory (`.build/debug`), or `GOFER_BIN_DIR` when set.
    public static var directory: String {
        if let dir = ProcessInfo.processInfo.environment["GOFER_BIN_DIR"] { return dir }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var url = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // On some layouts the runner sits inside the .xctest bundle.
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("gofer-trigger-interval").path) {
            url = url.deletingLastPathComponent()
        }
        return url.path
    }

    /// The path of the executable `name`; fails loudly when it was not built.
    public static func path(_ name: String) -> String {
        let p = directory + "/" + name
        precondition(FileManager.default.isExecutableFile(atPath: p), "\(name) was not built into \(directory); run `swift build` first")
        return p
    }

    /// The repository root (for docs/ and examples/).
    public static var repositoryRoot: URL {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url = url.deletingLastPathComponent()
        }
        return url
    }
}

/// A temporary directory removed when the test is done with it.
public final class TemporaryDirectory: Sendable {
    public let path: String

    public init() throws {
        let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("gofer-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = url.path
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
