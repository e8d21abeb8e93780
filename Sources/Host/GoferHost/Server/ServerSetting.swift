import ExtensionSDK
import Foundation

/// One server setting, declared once in ``ServerSettings/table``: the file key, the environment
/// variable and flag that derive from it, its documentation, and how a value is read.
public struct ServerSetting: Sendable {
    /// Reads `value` (from `source`, named in errors) into the settings, or throws
    /// ``ServerSettings/Problem`` saying what is wrong and what would be right.
    public struct Reader: Sendable {
        let read: @Sendable (_ settings: inout ServerSettings, _ key: String, _ value: String, _ source: String) throws -> Void
    }

    /// The key in a config file (`max_concurrent_tasks`).
    public let key: String
    /// The `gofer service start` flag that sets it, if any (`--listen`).
    public let flag: String?
    /// The kind of value, as the documentation says it (`duration`, `integer ≥ 1`, `list`).
    public let type: String
    /// The default, as the documentation shows it.
    public let defaultText: String
    /// When it must be set (`with tls_key`); `no` for most.
    public let required: String
    /// What it does, for docs/server-config.md (Markdown).
    public let doc: String
    let reader: Reader

    /// The environment variable: `GOFER_` and the key in capitals.
    public var env: String { "GOFER_" + key.uppercased() }
    /// Whether it takes a list (a YAML/TOML list in a file, comma-separated elsewhere).
    public var isList: Bool { type == "list" }

    init(_ key: String, flag: String? = nil, type: String, default defaultText: String, required: String = "no", doc: String, read: Reader) {
        self.key = key
        self.flag = flag
        self.type = type
        self.defaultText = defaultText
        self.required = required
        self.doc = doc
        self.reader = read
    }

    /// Applies `value` from `source`.
    func apply(_ value: String, to settings: inout ServerSettings, source: String) throws {
        try reader.read(&settings, key, value, source)
    }

    /// Its row in docs/server-config.md's table.
    public var markdownRow: String {
        "| `\(key)` | `\(env)` | \(flag.map { "`\($0)`" } ?? "—") | \(type) | \(defaultText) | \(required) | \(doc) |"
    }
}

/// The error a reader throws: `source: message`.
func fail(_ source: String, _ message: String) -> ServerSettings.Problem {
    ServerSettings.Problem(description: "\(source): \(message)")
}

/// The items of a comma-separated list, trimmed, empty ones dropped.
func listItems(_ value: String) -> [String] {
    value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}

extension ServerSetting.Reader {
    /// Any check and assignment: `{ settings, key, value, source in … }`.
    static func custom(
        _ read: @escaping @Sendable (_ settings: inout ServerSettings, _ key: String, _ value: String, _ source: String) throws -> Void
    ) -> Self {
        Self(read: read)
    }

    /// Text, as given.
    static func text(_ path: any WritableKeyPath<ServerSettings, String> & Sendable) -> Self {
        Self { s, _, value, _ in s[keyPath: path] = value }
    }

    /// Text, as given (unset by default).
    static func optionalText(_ path: any WritableKeyPath<ServerSettings, String?> & Sendable) -> Self {
        Self { s, _, value, _ in s[keyPath: path] = value }
    }

    /// A file system path; `~` is the home directory.
    static func path(_ path: any WritableKeyPath<ServerSettings, String> & Sendable) -> Self {
        Self { s, _, value, _ in s[keyPath: path] = (value as NSString).expandingTildeInPath }
    }

    /// A file system path (unset by default); `~` is the home directory.
    static func optionalPath(_ path: any WritableKeyPath<ServerSettings, String?> & Sendable) -> Self {
        Self { s, _, value, _ in s[keyPath: path] = (value as NSString).expandingTildeInPath }
    }

    /// A comma-separated list (a YAML/TOML list in a file).
    static func list(_ path: any WritableKeyPath<ServerSettings, [String]> & Sendable) -> Self {
        Self { s, _, value, _ in s[keyPath: path] = listItems(value) }
    }

    /// `true` or `false`, in any case.
    static func boolean(_ path: any WritableKeyPath<ServerSettings, Bool> & Sendable) -> Self {
        Self { s, key, value, source in
            guard let b = Bool(value.lowercased()) else { throw fail(source, "\(key) must be true or false") }
            s[keyPath: path] = b
        }
    }

    /// A positive duration (`30s`, `5m`, `1h30m`), within the bounds given.
    static func duration(
        _ path: any WritableKeyPath<ServerSettings, Duration> & Sendable, atLeast minimum: Duration? = nil, atMost maximum: Duration? = nil
    ) -> Self {
        Self { s, key, value, source in
            guard let d = DurationText.parse(value), d > .zero else {
                throw fail(source, "\(key) \"\(value)\" is not a duration such as 30s, 5m, 8h")
            }
            if let minimum, d < minimum { throw fail(source, "\(key) \"\(value)\" must be at least \(DurationText.format(minimum))") }
            if let maximum, d > maximum { throw fail(source, "\(key) \"\(value)\" must be at most \(DurationText.format(maximum))") }
            s[keyPath: path] = d
        }
    }

    /// A whole number in `range` (`Int.max` as its top: no upper bound).
    static func wholeNumber(_ path: any WritableKeyPath<ServerSettings, Int> & Sendable, _ range: ClosedRange<Int>) -> Self {
        Self { s, key, value, source in
            guard let n = Int(value), range.contains(n) else {
                let bounds = range.upperBound == Int.max ? "≥ \(range.lowerBound)" : "from \(range.lowerBound) to \(range.upperBound)"
                throw fail(source, "\(key) \"\(value)\" must be a whole number \(bounds)")
            }
            s[keyPath: path] = n
        }
    }

    /// `COUNT/DURATION` (`300/1m`).
    static func rate(_ path: any WritableKeyPath<ServerSettings, RateLimit> & Sendable, example: String) -> Self {
        Self { s, key, value, source in
            guard let rate = RateLimit(value) else { throw fail(source, "\(key) \"\(value)\" must be COUNT/DURATION such as \(example)") }
            s[keyPath: path] = rate
        }
    }

    /// An http(s) URL with a host, kept without a trailing `/`.
    static func httpURL(_ path: any WritableKeyPath<ServerSettings, String?> & Sendable, example: String) -> Self {
        Self { s, key, value, source in
            guard value.hasPrefix("http://") || value.hasPrefix("https://"), URL(string: value)?.host != nil else {
                throw fail(source, "\(key) \"\(value)\" must be a URL such as \(example)")
            }
            s[keyPath: path] = value.hasSuffix("/") ? String(value.dropLast()) : value
        }
    }

    /// The address of an HTTP API (`https://vault:8200`).
    static func httpAddress(_ path: any WritableKeyPath<ServerSettings, String?> & Sendable) -> Self {
        Self { s, key, value, source in
            guard value.hasPrefix("http://") || value.hasPrefix("https://") else {
                throw fail(source, "\(key) \"\(value)\" must start with https:// (or http://)")
            }
            s[keyPath: path] = value
        }
    }

    /// An object store size (`512MB`, `4GB`), 1MB to 1PiB, kept in bytes.
    static func objectBytes(_ path: any WritableKeyPath<ServerSettings, Int64> & Sendable) -> Self {
        Self { s, key, value, source in
            guard let mb = PipelineConfigLoader.parseMemory(value), mb >= 1, mb <= 1 << 30 else {
                throw fail(source, "\(key) \"\(value)\" must be a size from 1MB to 1PiB such as 512MB or 4GB")
            }
            s[keyPath: path] = Int64(mb) << 20
        }
    }
}
