import ExtensionClient
import ExtensionConformance
import ExtensionSDK
import Foundation

// gofer-conformance: point it at any extension executable, in any language.
// Exit 0 when no MUST check failed, 1 when one did, 2 for a usage or harness error.

let usage = """
    usage: gofer-conformance --kind <trigger|task|scheduler|secrets> [options] -- <command> [args…]
           gofer-conformance schemas --out <dir>     write the protocol's JSON Schemas
           gofer-conformance checks                  list every check (id, level, kinds)

    options:
      --config FILE     JSON: {"config": <admin config>, "params": <valid per-use params>, "image": "<test image>",
                        "cursor": "<trigger resume cursor>", "minEvents": N,
                        "externalSamples": [{"headers": {…}, "bodyB64": "…"}, …],
                        "unreachableConfig": <admin config whose backend does not answer>}  (see docs/extensions.md)
      --junit FILE      also write JUnit XML
      --only IDS        run only checks whose id starts with one of these (comma-separated)
      --skip IDS        skip checks whose id starts with one of these
      --timeout DUR     per-check timeout (default 30s)
      --quiet           print only failures and the summary

    """

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("gofer-conformance: \(message)\n\n\(usage)".utf8))
    exit(2)
}

var args = Array(CommandLine.arguments.dropFirst())
if args.first == "schemas" {
    guard args.count == 3, args[1] == "--out" else { fail("schemas needs --out <dir>") }
    let dir = args[2]
    do {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (file, schema) in ProtocolSchemas.documents {
            try Data((schema.prettyPrinted() + "\n").utf8).write(to: URL(fileURLWithPath: dir).appendingPathComponent(file))
        }
        print("wrote \(ProtocolSchemas.documents.count) schemas to \(dir)")
    } catch {
        fail("cannot write schemas to \(dir): \(error)")
    }
    exit(0)
}
if args.first == "checks" {
    for c in ConformanceSuite.catalogue { print("\(c.id)\t\(c.level.rawValue)\t\(c.kinds)\t\(c.title)") }
    exit(0)
}
if args.isEmpty || args.contains("--help") || args.contains("-h") {
    print(usage)
    exit(args.isEmpty ? 2 : 0)
}

guard let separator = args.firstIndex(of: "--") else { fail("put the extension command after --") }
let command = Array(args[(separator + 1)...])
args = Array(args[..<separator])
guard command.first != nil else { fail("no extension command after --") }

struct Invocation {
    var options: ConformanceOptions
    var junitFile: String?
    var quiet = false
}

func parse(_ args: [String], command: [String]) -> Invocation {
    var kind: ExtensionKind?
    var configFile: String?
    var junitFile: String?
    var only: [String] = []
    var skip: [String] = []
    var timeout = Duration.seconds(30)
    var quiet = false
    var i = 0
    func value(_ flag: String) -> String {
        i += 1
        guard i < args.count else { fail("\(flag) needs a value") }
        return args[i]
    }
    while i < args.count {
        let flag = args[i]
        switch flag {
        case "--kind":
            let v = value(flag)
            guard let k = ExtensionKind(rawValue: v) else { fail("unknown kind \"\(v)\"; use trigger, task, scheduler or secrets") }
            kind = k
        case "--config": configFile = value(flag)
        case "--junit": junitFile = value(flag)
        case "--only": only = value(flag).split(separator: ",").map(String.init)
        case "--skip": skip = value(flag).split(separator: ",").map(String.init)
        case "--timeout":
            let v = value(flag)
            guard let d = DurationText.parse(v), d > .zero else { fail("--timeout: \"\(v)\" is not a duration such as 30s") }
            timeout = d
        case "--quiet": quiet = true
        default: fail("unknown option \(flag)")
        }
        i += 1
    }
    guard let kind else { fail("--kind is required") }
    var resolved = command[0]
    if !resolved.contains("/") {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        if let hit = path.split(separator: ":").map({ "\($0)/\(resolved)" }).first(where: {
            FileManager.default.isExecutableFile(atPath: $0)
        }) {
            resolved = hit
        }
    }
    guard FileManager.default.isExecutableFile(atPath: resolved) else { fail("\(command[0]) is not an executable file") }
    var options = ConformanceOptions(
        kind: kind, launch: ExtensionLaunch(executable: resolved, arguments: Array(command.dropFirst())), only: only, skip: skip,
        checkTimeout: timeout)
    if let configFile {
        do { try options.load(configFile: configFile) } catch { fail("--config: \(error)") }
    }
    return Invocation(options: options, junitFile: junitFile, quiet: quiet)
}

let invocation = parse(args, command: command)
let quiet = invocation.quiet
let report = await ConformanceSuite.run(invocation.options) { result in
    guard !quiet else { return }
    switch result.outcome {
    case .passed: print("PASS  \(result.id)")
    case .skipped(let why): print("SKIP  \(result.id): \(why)")
    case .failed(let why): print("\(result.level == .must ? "FAIL" : "WARN")  \(result.id): \(why.split(separator: "\n").first ?? "")")
    }
}
print("")
print(report.text)
if let junitFile = invocation.junitFile {
    do { try Data(report.junitXML.utf8).write(to: URL(fileURLWithPath: junitFile)) } catch { fail("cannot write \(junitFile): \(error)") }
}
exit(report.conforms ? 0 : 1)
