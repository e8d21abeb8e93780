import Foundation
import GoferConfig

/// A namespace groups pipelines (a team, a project). `default` always exists.
public struct Namespace: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var description: String
    public var createdAt: Date

    package init(id: String, name: String, description: String, createdAt: Date) {
        self.id = id
        self.name = name
        self.description = description
        self.createdAt = createdAt
    }
}

/// Names one pipeline: shown and sent as `namespace/pipeline`.
public struct PipelineRef: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    public var namespace: String
    public var pipeline: String

    public init(namespace: String, pipeline: String) {
        self.namespace = namespace
        self.pipeline = pipeline
    }

    public var description: String { "\(namespace)/\(pipeline)" }

    public static func < (a: PipelineRef, b: PipelineRef) -> Bool { (a.namespace, a.pipeline) < (b.namespace, b.pipeline) }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\"\(text)\" is not namespace/pipeline"))
        }
        self.init(namespace: parts[0], pipeline: parts[1])
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// A pipeline: its identity, state, live version and newest version.
public struct Pipeline: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        case active
        /// Its triggers are being subscribed after an apply.
        case updating
        /// Starts no runs; its triggers are unsubscribed.
        case disabled
    }
    public var namespace: String
    public var id: String
    public var name: String
    public var description: String
    public var state: State
    /// The newest version (the highest number; a canary under rollout may be newer than live).
    public var latestVersion: Int
    /// The version new runs use (unless a canary rollout sends some elsewhere, or a run asks for
    /// a version).
    public var liveVersion: Int
    public var createdAt: Date
    public var updatedAt: Date

    package init(
        namespace: String, id: String, name: String, description: String, state: State, latestVersion: Int, liveVersion: Int,
        createdAt: Date, updatedAt: Date
    ) {
        self.namespace = namespace
        self.id = id
        self.name = name
        self.description = description
        self.state = state
        self.latestVersion = latestVersion
        self.liveVersion = liveVersion
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// How a version came to be.
public enum VersionOrigin: String, Codable, Sendable {
    /// A config was applied.
    case apply
    /// A rollback copied an earlier version (`copiedFrom`).
    case rollback
}

/// One version of a pipeline's config. Every apply of a changed config creates the next one.
public struct PipelineVersion: Codable, Sendable, Equatable {
    public var namespace: String
    public var pipeline: String
    public var version: Int
    public var config: PipelineConfig
    /// The text as applied, in its own format (absent for versions stored before Gofer kept it).
    public var source: String?
    /// `yaml`, `json` or `toml`.
    public var format: String?
    public var origin: VersionOrigin
    /// For a rollback: the version whose config this is.
    public var copiedFrom: Int?
    public var createdBy: Principal?
    public var createdAt: Date
    /// When it became the live version (absent for a canary that never did).
    public var wentLiveAt: Date?

    package init(
        namespace: String, pipeline: String, version: Int, config: PipelineConfig, source: String? = nil, format: String? = nil,
        origin: VersionOrigin, copiedFrom: Int? = nil, createdBy: Principal? = nil, createdAt: Date, wentLiveAt: Date? = nil
    ) {
        self.namespace = namespace
        self.pipeline = pipeline
        self.version = version
        self.config = config
        self.source = source
        self.format = format
        self.origin = origin
        self.copiedFrom = copiedFrom
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.wentLiveAt = wentLiveAt
    }
}

/// Where a version stands.
public enum VersionStatus: String, Codable, Sendable {
    /// New runs use it.
    case live
    /// Under an active rollout: some new runs use it.
    case canary
    /// Was live before the live one (rollback can make it live again).
    case previous
    /// A canary that failed its rollout and never went live.
    case rolledBack = "rolled_back"
    /// A canary whose rollout was stopped by hand before it went live.
    case aborted
}

/// A version in the list of versions.
public struct PipelineVersionSummary: Codable, Sendable, Equatable {
    public var version: Int
    public var origin: VersionOrigin
    public var copiedFrom: Int?
    public var format: String?
    public var createdBy: Principal?
    public var createdAt: Date
    public var wentLiveAt: Date?
    public var status: VersionStatus
    /// The changes against the version before it (one line each).
    public var changes: [String]

    package init(
        version: Int, origin: VersionOrigin, copiedFrom: Int? = nil, format: String? = nil, createdBy: Principal? = nil, createdAt: Date,
        wentLiveAt: Date? = nil, status: VersionStatus, changes: [String]
    ) {
        self.version = version
        self.origin = origin
        self.copiedFrom = copiedFrom
        self.format = format
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.wentLiveAt = wentLiveAt
        self.status = status
        self.changes = changes
    }
}

/// One run of a pipeline, pinned to the version it ran.
public struct Run: Codable, Sendable, Equatable {
    public var namespace: String
    public var pipeline: String
    public var id: Int
    public var pipelineVersion: Int
    public var state: RunState
    public var reason: StateReason?
    /// Set once the run is being stopped (a cancel or the run timeout), before any task is told:
    /// a server that restarts meanwhile finishes the stop instead of letting the tasks run on.
    public var stopRequested: StateReason?
    /// Who or what started it: a token (id and name), a trigger, or the server.
    public var initiator: Principal
    /// Given to every task as environment variables (a trigger's `GOFER_GIT_SHA`, or from the API).
    public var variables: [String: String] = [:]
    /// Why it runs `pipelineVersion`: the live version, a canary, asked for, or a rerun.
    public var versionReason: VersionReason = .live
    /// The rollout that routed it (canary or live), if one was active.
    public var rollout: Int?
    /// The run this one reruns.
    public var rerunOf: Int?
    public var createdAt: Date
    public var startedAt: Date?
    public var endedAt: Date?

    package init(
        namespace: String, pipeline: String, id: Int, pipelineVersion: Int, state: RunState, reason: StateReason? = nil,
        stopRequested: StateReason? = nil, initiator: Principal, variables: [String: String] = [:], versionReason: VersionReason = .live,
        rollout: Int? = nil, rerunOf: Int? = nil, createdAt: Date, startedAt: Date? = nil, endedAt: Date? = nil
    ) {
        self.namespace = namespace
        self.pipeline = pipeline
        self.id = id
        self.pipelineVersion = pipelineVersion
        self.state = state
        self.reason = reason
        self.stopRequested = stopRequested
        self.initiator = initiator
        self.variables = variables
        self.versionReason = versionReason
        self.rollout = rollout
        self.rerunOf = rerunOf
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.endedAt = endedAt
    }
}

/// One task of a run.
public struct TaskExecution: Codable, Sendable, Equatable {
    public var namespace: String
    public var pipeline: String
    public var run: Int
    public var task: String
    public var state: TaskState
    public var reason: StateReason?
    public var exitCode: Int?
    /// The scheduler's handle (for Docker, the container id).
    public var handle: String?
    public var image: String
    public var createdAt: Date
    public var startedAt: Date?
    public var endedAt: Date?
    /// When the task must have finished (persisted, so it holds across restarts).
    public var deadline: Date?
    public var logging: Bool
    /// For a rerun of failed tasks: the run whose result (and log) this task carries over
    /// instead of running again.
    public var carriedFrom: Int?

    package init(
        namespace: String, pipeline: String, run: Int, task: String, state: TaskState, reason: StateReason? = nil, exitCode: Int? = nil,
        handle: String? = nil, image: String, createdAt: Date, startedAt: Date? = nil, endedAt: Date? = nil, deadline: Date? = nil,
        logging: Bool, carriedFrom: Int? = nil
    ) {
        self.namespace = namespace
        self.pipeline = pipeline
        self.run = run
        self.task = task
        self.state = state
        self.reason = reason
        self.exitCode = exitCode
        self.handle = handle
        self.image = image
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.deadline = deadline
        self.logging = logging
        self.carriedFrom = carriedFrom
    }
}

/// One entry of the event log.
public struct Event: Codable, Sendable, Equatable {
    public var id: Int64
    public var kind: EventKind
    public var namespace: String?
    public var pipeline: String?
    public var run: Int?
    public var task: String?
    /// Free-form details (`{"state":"failed","reason":…}`).
    public var details: [String: String]
    public var at: Date

    package init(
        id: Int64, kind: EventKind, namespace: String? = nil, pipeline: String? = nil, run: Int? = nil, task: String? = nil,
        details: [String: String], at: Date
    ) {
        self.id = id
        self.kind = kind
        self.namespace = namespace
        self.pipeline = pipeline
        self.run = run
        self.task = task
        self.details = details
        self.at = at
    }
}

/// A page of a list, with the cursor for the next one.
public struct Page<Item: Codable & Sendable>: Codable, Sendable {
    public var items: [Item]
    /// Pass as `cursor` to get the next page; absent on the last page.
    public var nextCursor: String?

    package init(items: [Item], nextCursor: String? = nil) {
        self.items = items
        self.nextCursor = nextCursor
    }
}
