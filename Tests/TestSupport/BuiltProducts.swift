import Foundation
import Synchronization

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
///
/// Removed when the last reference goes, and in any case when the test process exits: a
/// directory still referenced then (held by something a test leaked) is removed by an exit
/// handler, so no run of the suite leaves `gofer-test-…` folders behind.
public final class TemporaryDirectory: Sendable {
    public let path: String

    public init() throws {
        let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("gofer-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = url.path
        Self.live.withLock { live in
            if live.registered == false {
                live.registered = true
                atexit { TemporaryDirectory.removeLeftovers() }
            }
            live.paths.insert(url.path)
        }
    }

    deinit {
        Self.remove(path)
        _ = Self.live.withLock { $0.paths.remove(path) }
    }

    /// Removes `path` and everything in it. A server or extension that is still winding down can
    /// write a file while the tree is being removed (SQLite's last checkpoint, a log's last line),
    /// and the removal then fails with the directory not empty: it is tried again, a few times.
    static func remove(_ path: String) {
        for attempt in 0..<10 {
            try? FileManager.default.removeItem(atPath: path)
            if !FileManager.default.fileExists(atPath: path) { return }
            usleep(UInt32(20_000 * (attempt + 1)))
        }
    }

    private struct Live {
        var paths: Set<String> = []
        var registered = false
    }
    private static let live = Mutex(Live())

    /// The directories still in use as the process exits.
    static func removeLeftovers() {
        for path in live.withLock({ $0.paths }) { remove(path) }
    }
}
