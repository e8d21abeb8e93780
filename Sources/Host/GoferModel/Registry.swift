import ExtensionSDK
import Foundation
import GoferConfig

/// A semantic version `MAJOR.MINOR.PATCH` (a pre-release or build suffix is kept for display and
/// sorts before the release, as semver says).
public struct SemVer: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var patch: Int
    public var suffix: String

    public init?(_ text: String) {
        let core = text.prefix { $0 != "-" && $0 != "+" }
        let parts = core.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let a = Int(parts[0]), let b = Int(parts[1]), let c = Int(parts[2]), a >= 0, b >= 0, c >= 0 else {
            return nil
        }
        (major, minor, patch, suffix) = (a, b, c, String(text.dropFirst(core.count)))
    }

    public var description: String { "\(major).\(minor).\(patch)\(suffix)" }

    public static func < (x: SemVer, y: SemVer) -> Bool {
        if (x.major, x.minor, x.patch) != (y.major, y.minor, y.patch) { return (x.major, x.minor, x.patch) < (y.major, y.minor, y.patch) }
        if x.suffix.isEmpty != y.suffix.isEmpty { return !x.suffix.isEmpty }
        return x.suffix < y.suffix
    }
}

/// One registry index: the extensions it offers and, for each version, where to get it.
/// The format is documented in docs/registry.md.
public struct RegistryIndex: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var kind: ExtensionKind
        public var description: String
        public var maintainers: [String]
        /// Installed on a server's first start.
        public var bundledDefault: Bool
        public var versions: [Version]

        package init(
            name: String, kind: ExtensionKind, description: String, maintainers: [String], bundledDefault: Bool, versions: [Version]
        ) {
            self.name = name
            self.kind = kind
            self.description = description
            self.maintainers = maintainers
            self.bundledDefault = bundledDefault
            self.versions = versions
        }
    }

    public struct Version: Sendable, Equatable {
        public var version: SemVer
        public var protocolVersions: [ProtocolVersion]
        public var source: Source
        /// Lower-case hex SHA-256 of the executable; required for `path` and `url` sources.
        public var sha256: String?

        package init(version: SemVer, protocolVersions: [ProtocolVersion], source: Source, sha256: String? = nil) {
            self.version = version
            self.protocolVersions = protocolVersions
            self.source = source
            self.sha256 = sha256
        }
    }

    public enum Source: Sendable, Equatable, CustomStringConvertible {
        /// An executable of this Swift package, found beside `gofer` (the extensions directory).
        case buildProduct(String)
        /// A file; relative paths are relative to the index file.
        case path(String)
        /// Downloaded over HTTPS.
        case url(URL)

        public var description: String {
            switch self {
            case .buildProduct(let p): return "build product \(p)"
            case .path(let p): return p
            case .url(let u): return u.absoluteString
            }
        }
    }

    /// Where the index came from (a file path, a URL, or `bundled`), for messages and relative paths.
    public var origin: String
    public var name: String
    public var extensions: [Entry]

    /// A problem with an index, naming the file and the JSON path.
    public struct Problem: Error, Sendable, CustomStringConvertible {
        public var origin: String
        public var path: String
        public var message: String
        public var description: String { "registry \(origin)\(path.isEmpty ? "" : " at \(path)"): \(message)" }

        package init(origin: String, path: String, message: String) {
            self.origin = origin
            self.path = path
            self.message = message
        }
    }

    public static func parse(_ bytes: [UInt8], origin: String) throws(Problem) -> RegistryIndex {
        let root: JSONValue
        do {
            root = try JSONParser().parse(bytes)
        } catch {
            throw Problem(origin: origin, path: "", message: ErrorText.wrapping("not valid JSON", error))
        }
        func fail(_ path: String, _ message: String) -> Problem { Problem(origin: origin, path: path, message: message) }
        guard let list = root["extensions"]?.arrayValue else { throw fail("/extensions", "required: a list of extensions") }
        var entries: [Entry] = []
        var seen: Set<String> = []
        for (i, e) in list.enumerated() {
            let at = "/extensions/\(i)"
            guard let name = e["name"]?.stringValue, PipelineConfigLoader.isIdentifier(name)
            else { throw fail(at + "/name", "required: lower-case letters, digits, - and _") }
            guard seen.insert(name).inserted else { throw fail(at + "/name", "\"\(name)\" is listed twice") }
            guard let kindText = e["kind"]?.stringValue, let kind = ExtensionKind(rawValue: kindText) else {
                throw fail(at + "/kind", "required: trigger, task, scheduler or secrets")
            }
            guard let versions = e["versions"]?.arrayValue, !versions.isEmpty else {
                throw fail(at + "/versions", "required: at least one version")
            }
            var parsed: [Version] = []
            for (j, v) in versions.enumerated() {
                let vat = "\(at)/versions/\(j)"
                guard let vt = v["version"]?.stringValue, let sem = SemVer(vt) else {
                    throw fail(vat + "/version", "required: a semantic version such as 1.2.0")
                }
                let protocols = (v["protocolVersions"]?.arrayValue ?? []).compactMap { $0.stringValue.flatMap(ProtocolVersion.init) }
                guard !protocols.isEmpty, protocols.count == v["protocolVersions"]?.arrayValue?.count else {
                    throw fail(vat + "/protocolVersions", "required: protocol versions such as [\"1.0\"]")
                }
                let sha = v["sha256"]?.stringValue?.lowercased()
                if let sha, sha.count != 64 || !sha.allSatisfy(\.isHexDigit) {
                    throw fail(vat + "/sha256", "must be 64 hex digits")
                }
                let source: Source
                if let product = v["source"]?["buildProduct"]?.stringValue, !product.isEmpty, !product.contains("/") {
                    source = .buildProduct(product)
                } else if let path = v["source"]?["path"]?.stringValue, !path.isEmpty {
                    source = .path(path)
                } else if let text = v["source"]?["url"]?.stringValue, let url = URL(string: text),
                    url.scheme == "https" || url.scheme == "http"
                {
                    source = .url(url)
                } else {
                    throw fail(vat + "/source", "required: {\"buildProduct\": …}, {\"path\": …} or {\"url\": \"https://…\"}")
                }
                if sha == nil, case .buildProduct = source {
                } else if sha == nil {
                    throw fail(vat + "/sha256", "required for \(source) (the SHA-256 of the executable)")
                }
                parsed.append(Version(version: sem, protocolVersions: protocols, source: source, sha256: sha))
            }
            entries.append(
                Entry(
                    name: name, kind: kind, description: e["description"]?.stringValue ?? "",
                    maintainers: (e["maintainers"]?.arrayValue ?? []).compactMap(\.stringValue),
                    bundledDefault: e["bundledDefault"]?.boolValue ?? false, versions: parsed.sorted { $0.version > $1.version }))
        }
        return RegistryIndex(origin: origin, name: root["registry"]?.stringValue ?? origin, extensions: entries)
    }

    /// This build's own registry (registry/index.json, embedded so an installed `gofer` has it).
    public static var bundled: RegistryIndex {
        // The embedded text is checked against registry/index.json by a test, so this cannot fail.
        (try? parse(Array(BundledRegistry.json.utf8), origin: "bundled"))
            ?? RegistryIndex(origin: "bundled", name: "bundled", extensions: [])
    }

    package init(origin: String, name: String, extensions: [Entry]) {
        self.origin = origin
        self.name = name
        self.extensions = extensions
    }
}

/// What `gofer extension install NAME@SPEC` asks for.
public enum VersionRequest: Sendable, Equatable, CustomStringConvertible {
    /// The newest version the host can speak to.
    case latest
    /// Exactly this version.
    case exact(SemVer)
    /// The newest version with this major (`^2`).
    case major(Int)

    /// Parses `NAME`, `NAME@1.2.3` or `NAME@^1`.
    public static func split(_ text: String) -> (name: String, request: VersionRequest)? {
        guard let at = text.firstIndex(of: "@") else { return (text, .latest) }
        let name = String(text[..<at])
        let spec = text[text.index(after: at)...]
        if spec.hasPrefix("^"), let m = Int(spec.dropFirst()), m >= 0 { return (name, .major(m)) }
        if let v = SemVer(String(spec)) { return (name, .exact(v)) }
        return nil
    }

    public var description: String {
        switch self {
        case .latest: return "latest"
        case .exact(let v): return v.description
        case .major(let m): return "^\(m)"
        }
    }
}
