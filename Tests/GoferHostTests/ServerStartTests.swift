import ExtensionSDK
import Foundation
import GoferHost
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `gofer service start` as an operator meets it: under systemd (stdout a pipe), with a port
/// already taken, and stopped by a signal.
struct ServerStartTests {
    /// A socket listening on a free loopback port, held until closed.
    final class HeldPort {
        let fd: Int32
        let port: Int
        init() throws {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            self.fd = fd
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0, listen(fd, 1) == 0 else { throw ServerError("cannot hold a port") }
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            self.port = Int(UInt16(bigEndian: address.sin_port))
        }
        deinit { close(fd) }
    }

    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["GOFER_EXTENSIONS_DIR"] = BuiltProducts.directory
        env["NO_COLOR"] = "1"
        return env
    }

    @Test func aTakenPortFailsBeforeAnythingIsCreatedWithOneLine() async throws {
        let held = try HeldPort()
        let root = try TemporaryDirectory()
        let dataDir = root.path + "/data"
        let result = try await ChildProcess.run(
            BuiltProducts.path("gofer"),
            arguments: ["service", "start", "--data-dir", dataDir, "--listen", "127.0.0.1:\(held.port)", "--scheduler", "process"],
            environment: environment, timeout: .seconds(60))
        let stderr = String(decoding: result.stderr, as: UTF8.self)
        #expect(result.status == .exited(1), "\(result.status) \(stderr)")
        #expect(
            stderr == "error: cannot start the server: cannot listen on 127.0.0.1:\(held.port): the address is already in use (another Gofer server?); choose another with --listen or GOFER_LISTEN\n",
            "\(stderr)")
        #expect(!FileManager.default.fileExists(atPath: dataDir), "nothing was created before the port was checked")
    }

    /// The soft and hard "Max open files" of process `pid`.
    static func openFileLimits(_ pid: pid_t) -> (soft: String, hard: String)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Max open files") })
        else { return nil }
        let fields = line.dropFirst("Max open files".count).split(separator: " ")
        guard fields.count >= 2 else { return nil }
        return (String(fields[0]), String(fields[1]))
    }

    @Test func listeningIsPrintedIntoAPipeAndSIGTERMShutsDownCleanly() async throws {
        let root = try TemporaryDirectory()
        // Started as many systems start services: a soft open-file limit far below the hard one.
        let process = try ChildProcess.spawn(
            "/bin/sh",
            arguments: [
                "-c", "ulimit -Sn 256 && exec \"$0\" \"$@\"", BuiltProducts.path("gofer"),
                "service", "start", "--data-dir", root.path, "--listen", "127.0.0.1:0", "--scheduler", "process",
            ],
            environment: environment)
        process.closeStdin()
        let lines = Mutex<[String]>([])
        let out = process.stdoutFD
        Thread { LineReader.readLoop(fd: out, maxLineBytes: 1 << 16) { if case .line(let b) = $0 { lines.withLock { $0.append(String(decoding: b, as: UTF8.self)) } } } }.start()
        let err = process.stderrFD
        Thread { LineReader.readLoop(fd: err, maxLineBytes: 1 << 16) { _ in } }.start()
        // The line arrives while the server runs, not when it exits and its buffer is flushed.
        for _ in 0..<1200 where !lines.withLock({ $0.contains { $0.contains(" listening on 127.0.0.1:") } }) {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(lines.withLock { $0.contains { $0.hasPrefix("gofer ") && $0.contains(" listening on 127.0.0.1:") } }, "\(lines.withLock { $0 })")
        #expect(process.exitStatus == nil, "still serving")
        // The server raised its soft limit to the hard one: connections and logs are not capped at 256.
        let limits = Self.openFileLimits(process.pid)
        #expect(limits != nil && limits?.soft == limits?.hard && limits?.soft != "256", "\(String(describing: limits))")
        kill(process.pid, SIGTERM)
        let status = await process.waitForExit(timeout: .seconds(60))
        if status == nil { _ = await process.terminate(grace: .seconds(1)) }
        #expect(status == .exited(0), "\(String(describing: status))")
        try await Task.sleep(for: .milliseconds(100))
        #expect(lines.withLock { $0.contains("received SIGTERM, shutting down; running tasks keep running") }, "\(lines.withLock { $0 })")
    }
}
