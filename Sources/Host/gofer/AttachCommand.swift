import ArgumentParser
import Dispatch
import ExtensionSDK
import Foundation
import Synchronization
import GoferHost

#if canImport(Glibc)
    import Glibc
#endif

/// `gofer task attach PIPELINE RUN TASK [-- COMMAND…]`: a shell (or a command) inside a running
/// task. On a terminal it is raw and sized like yours — Ctrl-C goes to the remote process, resizes
/// follow — and the CLI exits with the command's exit code.
struct AttachCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach",
        abstract: "Open a shell (or run a command) inside a running task; exits with its exit code.",
        discussion: "Needs attach:write on the pipeline, and a server with task_attach on. Example: gofer task attach web 12 test -- sh -c 'ls /tmp'")
    @OptionGroup var options: ClientOptions
    @Argument var pipeline: String
    @Argument var run: Int
    @Argument var task: String
    @Argument(parsing: .postTerminator, help: "The command (after --). Default: the image's /bin/sh.") var command: [String] = []
    @Flag(help: "No terminal, even when stdin is one (output keeps stdout and stderr apart).") var noTTY = false

    func run() async throws {
        // With --json the command runs without a terminal and its output comes back as one
        // document: {"exit_code", "stdout", "stderr"} (each stream kept up to 16 MiB).
        let tty = isatty(STDIN_FILENO) == 1 && !noTTY && !options.json
        let captured = Mutex<[Int: [UInt8]]>([:])
        let terminal = tty ? RawTerminal() : nil
        let (input, feed) = AsyncStream<AttachClientInput>.makeStream()
        // Keystrokes (or piped input) on a thread of their own: reading stdin blocks.
        Thread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    feed.yield(.eof)
                    return
                }
                feed.yield(.bytes(Array(buffer[0..<n])))
            }
        }.start()
        var resizes: (any DispatchSourceSignal)?
        if tty {
            signal(SIGWINCH, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: SIGWINCH, queue: .global())
            source.setEventHandler { if let size = RawTerminal.size() { feed.yield(.resize(size)) } }
            source.resume()
            resizes = source
        }
        defer { resizes?.cancel() }
        let code: Int
        do {
            code = try await options.client.attach(
                namespace: options.ns, pipeline: pipeline, run: run, task: task, command: command.isEmpty ? nil : command, tty: tty,
                size: tty ? RawTerminal.size() : nil, input: input
            ) { fd, bytes in
                if options.json {
                    let key = Int(fd)
                    captured.withLock { $0[key, default: []] += bytes.prefix(max(0, (16 << 20) - ($0[key]?.count ?? 0))) }
                    return
                }
                let target = fd == 2 ? STDERR_FILENO : STDOUT_FILENO
                var offset = 0
                while offset < bytes.count {
                    let n = bytes[offset...].withUnsafeBytes { write(target, $0.baseAddress, $0.count) }
                    if n <= 0 { if errno == EINTR { continue } else { return } }
                    offset += n
                }
            }
        } catch let error as APIError {
            terminal?.restore()
            Output.error(error.description)
            throw ExitCode.failure
        }
        terminal?.restore()
        if options.json {
            let streams = captured.withLock { $0 }
            Output.line([
                "exit_code": .int(Int64(code)), "stdout": .string(String(decoding: streams[1] ?? [], as: UTF8.self)),
                "stderr": .string(String(decoding: streams[2] ?? [], as: UTF8.self)),
            ])
        }
        throw ExitCode(Int32(truncatingIfNeeded: code))
    }
}

/// The local terminal in raw mode (no echo, no line editing, Ctrl-C as a byte) until restored.
final class RawTerminal: Sendable {
    private let saved: termios

    init?() {
        var t = termios()
        guard tcgetattr(STDIN_FILENO, &t) == 0 else { return nil }
        saved = t
        var raw = t
        cfmakeraw(&raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &raw)
    }

    func restore() {
        var t = saved
        tcsetattr(STDIN_FILENO, TCSANOW, &t)
    }

    /// The terminal's size, if stdin (or stdout) is one.
    static func size() -> TerminalSize? {
        var ws = winsize()
        for fd in [STDIN_FILENO, STDOUT_FILENO] {
            if ioctl(fd, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_row > 0, ws.ws_col > 0 {
                return TerminalSize(rows: Int(ws.ws_row), cols: Int(ws.ws_col))
            }
        }
        return nil
    }
}
