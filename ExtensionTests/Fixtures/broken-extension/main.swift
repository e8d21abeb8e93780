import Foundation

#if canImport(Glibc)
    import Glibc
#endif

// A deliberately broken extension, to prove the conformance suite can fail.
//
// It wraps a real extension and passes frames through, injecting faults:
//   junk-stdout      prints a banner on stdout before any frame
//   ignore-shutdown  swallows `shutdown` and `exit` (never answers, never exits on them)
//   leak             copies every frame the host sends to stderr (leaking secrets)
//   crash-on:METHOD  exits with code 70 when the host sends METHOD (for supervisor tests)
//   hang-on:METHOD   swallows METHOD requests: they are never answered
//   name:NAME        reports the name NAME (in --describe and the initialize result): an
//                    extension published under another name
//   version:X.Y.Z    reports version X.Y.Z (in --describe and the initialize result): two
//                    "versions" of one extension for registry tests
//   protocol-major:N speaks only protocol N.0: --describe says so and initialize is refused
//                    with -32000 and exit code 3, as the protocol prescribes
//   ignore-deadlines removes `_meta.timeoutMs` from every request, as an extension that never
//                    looks at deadlines would behave
//   hide-capabilities answers `initialize` with no capabilities, as a scheduler that does not
//                    declare what it lacks (`ephemeralJobs`) would
//   ignore-frame-limit removes `limits` from `initialize`, so the wrapped extension keeps its
//                    default frame size whatever limit the host announced
//   drop-bursts      of the requests that arrive in one read, forwards the first 100 and
//                    silently drops the rest (never answered), as an extension with a fixed
//                    queue that neither serves nor refuses its excess would behave
//
//   gofer-fixture-broken [--faults junk-stdout,ignore-shutdown,leak|none] -- <extension> [args…]
//   (crash-on:METHOD crashes on a request for METHOD, crash-on-text:TEXT on any line holding TEXT)
//
// Deliberately written without the SDK, the way an extension in another language would be.

var args = Array(CommandLine.arguments.dropFirst())
guard let sep = args.firstIndex(of: "--"), sep + 1 < args.count else {
    FileHandle.standardError.write(Data("usage: gofer-fixture-broken [--faults LIST] -- <extension> [args…]\n".utf8))
    exit(2)
}
let inner = Array(args[(sep + 1)...])
args = Array(args[..<sep])
var faults: Set<String> = ["junk-stdout", "ignore-shutdown", "leak"]
if let f = args.firstIndex(of: "--faults"), f + 1 < args.count {
    faults = Set(args[f + 1].split(separator: ",").map(String.init))
}

signal(SIGPIPE, SIG_IGN)
let versionOverride = faults.first { $0.hasPrefix("version:") }.map { String($0.dropFirst(8)) }
let protocolMajor = faults.first { $0.hasPrefix("protocol-major:") }.map { String($0.dropFirst(15)) }
let hideCapabilities = faults.contains("hide-capabilities")
let nameOverride = faults.first { $0.hasPrefix("name:") }.map { String($0.dropFirst(5)) }

/// Rewrites a manifest the way the faults say.
@Sendable func rewrite(_ manifest: inout [String: Any]) {
    if let versionOverride { manifest["version"] = versionOverride }
    if let nameOverride { manifest["name"] = nameOverride }
    if let protocolMajor, manifest["protocolVersions"] != nil { manifest["protocolVersions"] = ["\(protocolMajor).0"] }
}

if args.contains("--describe") || inner.contains("--describe") {
    let argv = inner.contains("--describe") ? inner : inner + ["--describe"]
    if versionOverride == nil && protocolMajor == nil && nameOverride == nil {
        var cargs = argv.map { strdup($0) } + [nil]
        execv(argv[0], &cargs)
        exit(127)
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: argv[0])
    process.arguments = Array(argv.dropFirst())
    let out = Pipe()
    process.standardOutput = out
    try? process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard var manifest = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { exit(1) }
    rewrite(&manifest)
    let text = (try? JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys])) ?? Data()
    FileHandle.standardOutput.write(text + Data("\n".utf8))
    exit(0)
}

var toChild: [Int32] = [0, 0]
var fromChild: [Int32] = [0, 0]
guard pipe(&toChild) == 0, pipe(&fromChild) == 0 else { exit(1) }
let pid = fork()
if pid == 0 {
    dup2(toChild[0], 0)
    dup2(fromChild[1], 1)
    close(toChild[1])
    close(fromChild[0])
    var cargs = inner.map { strdup($0) } + [nil]
    execv(inner[0], &cargs)
    exit(127)
}
close(toChild[0])
close(fromChild[1])

@Sendable func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeBytes { raw in raw.baseAddress.map { write(fd, $0 + off, bytes.count - off) } ?? 0 }
        if n <= 0 { return }
        off += n
    }
}

if faults.contains("junk-stdout") { writeAll(1, Array("broken-fixture: starting up, hello from stdout!\n".utf8)) }

// Child stdout → our stdout, untouched (but for the initialize result under version:).
let childOut = fromChild[0]
let childPID = pid
let pump = Thread {
    var buf = [UInt8](repeating: 0, count: 65536)
    var line: [UInt8] = []
    while true {
        let n = read(childOut, &buf, buf.count)
        if n <= 0 { break }
        guard versionOverride != nil || hideCapabilities || nameOverride != nil else {
            writeAll(1, Array(buf[0..<n]))
            continue
        }
        line += buf[0..<n]
        while let lf = line.firstIndex(of: 0x0A) {
            var frame = Array(line[...lf])
            line.removeSubrange(...lf)
            if String(decoding: frame, as: UTF8.self).contains("\"protocolVersion\""),
                var object = (try? JSONSerialization.jsonObject(with: Data(frame))) as? [String: Any],
                var result = object["result"] as? [String: Any], var ext = result["extension"] as? [String: Any]
            {
                rewrite(&ext)
                result["extension"] = ext
                if hideCapabilities { result["capabilities"] = [String: Any]() }
                object["result"] = result
                frame = Array((try? JSONSerialization.data(withJSONObject: object)) ?? Data()) + [0x0A]
            }
            writeAll(1, frame)
        }
    }
    // The wrapped extension is gone: leave with its exit code, so only the faults differ.
    var status: Int32 = 0
    waitpid(childPID, &status, 0)
    exit((status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F))
}
pump.start()

// Our stdin → child stdin, line by line, with faults.
/// The request without `params._meta.timeoutMs` (or unchanged when it has none).
/// `initialize` without `params.limits` (or unchanged when it has none).
func withoutLimits(_ line: [UInt8]) -> [UInt8] {
    guard var object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any],
        var params = object["params"] as? [String: Any], params["limits"] != nil
    else { return line }
    params["limits"] = nil
    object["params"] = params
    return Array((try? JSONSerialization.data(withJSONObject: object)) ?? Data(line)) + [0x0A]
}

func withoutDeadline(_ line: [UInt8]) -> [UInt8] {
    guard var object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any],
        var params = object["params"] as? [String: Any], var meta = params["_meta"] as? [String: Any], meta["timeoutMs"] != nil
    else { return line }
    meta["timeoutMs"] = nil
    params["_meta"] = meta
    object["params"] = params
    return Array((try? JSONSerialization.data(withJSONObject: object)) ?? Data(line)) + [0x0A]
}

var pending: [UInt8] = []
var buf = [UInt8](repeating: 0, count: 65536)
while true {
    let n = read(0, &buf, buf.count)
    if n <= 0 { break }
    pending += buf[0..<n]
    var requestsInThisRead = 0
    while let lf = pending.firstIndex(of: 0x0A) {
        var line = Array(pending[...lf])
        pending.removeSubrange(...lf)
        let text = String(decoding: line, as: UTF8.self)
        if text.contains(#""method""#) && text.contains(#""id""#) { requestsInThisRead += 1 }
        if faults.contains("drop-bursts") && requestsInThisRead > 100 { continue }
        if faults.contains("ignore-deadlines") && text.contains(#""timeoutMs""#) { line = withoutDeadline(line) }
        if faults.contains("ignore-frame-limit") && text.contains(#""method":"initialize""#) { line = withoutLimits(line) }
        if faults.contains("leak") { writeAll(2, Array("broken-fixture got: ".utf8) + line) }
        if faults.contains("ignore-shutdown") && (text.contains(#""method":"shutdown""#) || text.contains(#""method":"exit""#)) { continue }
        if faults.contains(where: { $0.hasPrefix("crash-on:") && text.contains("\"method\":\"\($0.dropFirst(9))\"") })
            || faults.contains(where: { $0.hasPrefix("crash-on-text:") && text.contains($0.dropFirst(14)) })
        {
            FileHandle.standardError.write(Data("Fatal error: broken-fixture crashing on purpose\n".utf8))
            kill(pid, SIGKILL)
            exit(70)
        }
        if faults.contains(where: { $0.hasPrefix("hang-on:") && text.contains("\"method\":\"\($0.dropFirst(8))\"") }) { continue }
        if let protocolMajor, text.contains(#""method":"initialize""#),
            let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any]
        {
            let id =
                (try? JSONSerialization.data(withJSONObject: [object["id"] ?? NSNull()])).map {
                    String(decoding: $0.dropFirst().dropLast(), as: UTF8.self)
                } ?? "null"
            let answer =
                #"{"jsonrpc":"2.0","id":"# + id
                + #","error":{"code":-32000,"message":"unsupported protocol version: this extension speaks "#
                + protocolMajor + #".0","data":{"supported":[""# + protocolMajor + #".0"]}}}"# + "\n"
            writeAll(1, Array(answer.utf8))
            kill(pid, SIGKILL)
            exit(3)
        }
        writeAll(toChild[1], line)
    }
}
if faults.contains("ignore-shutdown") {
    // Ignores EOF on stdin too: lingers until killed.
    while true { sleep(60) }
}
close(toChild[1])
var status: Int32 = 0
waitpid(pid, &status, 0)
exit(0)
