import ExtensionSDK
import Foundation
import Synchronization

/// Jobs this process stopped. Stopping a Swarm job removes its service, so what it ended with is
/// kept here for the `wait` in flight and later `inspect`s (until `remove`).
final class StoppedJobs: Sendable {
    private enum Entry { case stopping, stopped(JobStatus) }
    private let entries = Mutex<[String: Entry]>([:])

    func stopping(_ handle: String) { entries.withLock { $0[handle] = .stopping } }

    func record(_ handle: String, _ status: JobStatus) { entries.withLock { $0[handle] = .stopped(status) } }

    func forget(_ handle: String) { _ = entries.withLock { $0.removeValue(forKey: handle) } }

    func isStopping(_ handle: String) -> Bool {
        entries.withLock { if case .stopping = $0[handle] { true } else { false } }
    }

    func final(_ handle: String) -> JobStatus? {
        entries.withLock { if case .stopped(let status) = $0[handle] { status } else { nil } }
    }

    /// The stopped jobs not yet removed whose labels include all of `labels`. Stopping removes a
    /// job's service, so Swarm no longer lists them; they exist until `remove` all the same.
    func finals(matching labels: [String: String]) -> [JobStatus] {
        entries.withLock { entries in
            entries.values.compactMap { entry -> JobStatus? in
                guard case .stopped(let status) = entry, labels.allSatisfy({ status.labels[$0.key] == $0.value }) else { return nil }
                return status
            }
        }
    }
}

/// When this process first saw each job running (Swarm's task status keeps only the time of its
/// latest state), for a start time when the container is on another node.
final class FirstSeen: Sendable {
    private let times = Mutex<[String: String]>([:])

    func running(_ handle: String, at ts: String) { times.withLock { if $0[handle] == nil { $0[handle] = ts } } }

    func running(_ handle: String) -> String? { times.withLock { $0[handle] } }

    func forget(_ handle: String) { _ = times.withLock { $0.removeValue(forKey: handle) } }
}

/// Per stream, the newest log timestamp delivered, shared by a follow and the read that ends it.
final class DeliveredTimestamps: Sendable {
    private let last = Mutex<[String: String]>([:])

    var value: [String: String] { last.withLock { $0 } }

    func set(_ fd: String, _ ts: String) { last.withLock { $0[fd] = ts } }
}
