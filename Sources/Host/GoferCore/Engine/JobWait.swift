import ExtensionClient
import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GoferStore
import Synchronization

/// Following a job to its end through a scheduler that may restart and an engine that may be
/// briefly away, and what a failed wait means for the task.
enum JobWait {
    /// Waits for the job, riding out restarts of the scheduler extension (the job does not depend
    /// on it) and outages of the engine behind it, until `timeout`. `outage` records whether the
    /// engine was unreachable meanwhile.
    static func waitSurvivingRestarts(
        _ scheduler: any SchedulerClient, _ handle: String, timeout: Duration, outage: Outage
    ) async throws -> JobStatus {
        let deadline = ContinuousClock.now + timeout
        var attempt = 0
        while true {
            do {
                return try await scheduler.wait(handle, timeout: max(deadline - ContinuousClock.now, .seconds(1)))
            } catch let failure as ExtensionFailure where failure.kind == .exited && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
            } catch let error as ProtocolError where error.code == .unavailable && ContinuousClock.now < deadline {
                outage.seen()
                attempt += 1
                try await Task.sleep(for: .milliseconds(min(5000, 250 * attempt)))
            }
        }
    }

    /// Whether the engine was unreachable while a task ran.
    final class Outage: Sendable {
        private let flag = Mutex(false)
        func seen() { flag.withLock { $0 = true } }
        var wasSeen: Bool { flag.withLock { $0 } }
    }


    /// Why a task failed when the scheduler's wait did: the cluster's own verdict (lost node,
    /// nowhere to place it, refused by the node) when the scheduler names one.
    static func waitFailure(_ error: any Error) -> StateReason {
        guard let p = error as? ProtocolError else { return StateReason(.schedulerError, "lost track of the task: \(ErrorText.describe(error))") }
        switch JobFailure(p) {
        case .lost: return StateReason(.schedulerLost, "the scheduler lost the task: \(p.message)")
        case .unplaceable: return StateReason(.schedulerError, "the scheduler could not place the task: \(p.message)")
        case .rejected: return StateReason(.schedulerError, "the scheduler could not run the task: \(p.message)")
        case nil: return StateReason(.schedulerError, "lost track of the task: \(p.message)")
        }
    }

    /// RFC 3339 with or without fractional seconds (Docker reports nanoseconds; we keep microseconds).
    static func parseDate(_ text: String) -> Date? { RFC3339.parse(text) }
}


/// Resumes a continuation with the first of several racing outcomes; later ones are dropped.
final class FirstOf<T: Sendable>: Sendable {
    private let state = Mutex<(CheckedContinuation<T, Never>?, T?)>((nil, nil))

    func set(_ c: CheckedContinuation<T, Never>) {
        let early: T? = state.withLock { s in
            if let value = s.1 { return value }
            s.0 = c
            return nil
        }
        if let early { c.resume(returning: early) }
    }

    func resume(_ value: T) {
        let c: CheckedContinuation<T, Never>? = state.withLock { s in
            guard s.1 == nil else { return nil }
            s.1 = value
            defer { s.0 = nil }
            return s.0
        }
        c?.resume(returning: value)
    }
}
