import Foundation

/// Where an object lives and how long it is kept.
///
/// - `pipeline`: kept across runs, up to a count and a size per pipeline; the oldest is evicted
///   first to make room (an `object_evicted` event each).
/// - `run`: belongs to one run; expires once the run is `run_objects_keep_runs` runs old
///   (an `object_expired` event each).
/// - `extension`: an extension's own state, kept until deleted.
public enum ObjectScope: Hashable, Sendable, CustomStringConvertible {
    case pipeline(namespace: String, pipeline: String)
    case run(namespace: String, pipeline: String, run: Int)
    case `extension`(String)

    /// How a scope is named in the database and the API.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case pipeline, run, `extension`
    }

    public var kind: Kind {
        switch self {
        case .pipeline: return .pipeline
        case .run: return .run
        case .extension: return .extension
        }
    }

    /// The columns that identify the scope: namespace, pipeline, run, extension ('' and 0 when unused).
    package var columns: (namespace: String, pipeline: String, run: Int, owner: String) {
        switch self {
        case .pipeline(let ns, let p): return (ns, p, 0, "")
        case .run(let ns, let p, let r): return (ns, p, r, "")
        case .extension(let name): return ("", "", 0, name)
        }
    }

    public var description: String {
        switch self {
        case .pipeline(let ns, let p): return "pipeline \(ns)/\(p)"
        case .run(let ns, let p, let r): return "run \(ns)/\(p)#\(r)"
        case .extension(let name): return "extension \(name)"
        }
    }
}

/// One stored object, as the API shows it.
public struct ObjectInfo: Codable, Sendable, Equatable {
    public var scope: ObjectScope.Kind
    public var namespace: String?
    public var pipeline: String?
    public var run: Int?
    public var `extension`: String?
    public var key: String
    /// Bytes.
    public var size: Int64
    /// SHA-256 of the content, lower-case hex; checked on every read.
    public var sha256: String
    public var createdAt: Date
    /// Who wrote it (a token, a run token, the server).
    public var createdBy: String

    /// Where the bytes are in the backend (not shown by the API).
    package var blob: String = ""

    package enum CodingKeys: String, CodingKey {
        case scope, namespace, pipeline, run, `extension`, key, size, sha256, createdAt, createdBy
    }

    package init(
        scope: ObjectScope.Kind, namespace: String? = nil, pipeline: String? = nil, run: Int? = nil, extension: String? = nil, key: String,
        size: Int64, sha256: String, createdAt: Date, createdBy: String, blob: String = ""
    ) {
        self.scope = scope
        self.namespace = namespace
        self.pipeline = pipeline
        self.run = run
        self.extension = `extension`
        self.key = key
        self.size = size
        self.sha256 = sha256
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.blob = blob
    }
}

/// The limits on objects (server settings `object_*`, `pipeline_objects_*`, `run_objects_*`).
public struct ObjectLimits: Sendable, Equatable {
    /// The largest single object.
    public var maxObjectBytes: Int64 = 4 << 30
    /// Pipeline objects per pipeline: at most this many and this many bytes; the oldest go first.
    public var pipelineMaxCount = 100
    public var pipelineMaxBytes: Int64 = 10 << 30
    /// Run objects: at most this many bytes per run; they go once the run is this many runs old.
    public var runMaxBytes: Int64 = 10 << 30
    public var runKeepRuns = 10
    /// Extension objects: at most this many bytes per extension.
    public var extensionMaxBytes: Int64 = 1 << 30

    public init() {}

    /// The most a scope holds in bytes.
    package func maxBytes(_ kind: ObjectScope.Kind) -> Int64 {
        switch kind {
        case .pipeline: return pipelineMaxBytes
        case .run: return runMaxBytes
        case .extension: return extensionMaxBytes
        }
    }
}
