import ExtensionClient
import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GoferStore
import Synchronization

/// A task's log: the job's output streamed from the scheduler into the task's log file, with
/// secrets masked and the server's size limit applied, picked up again when the stream breaks.
struct TaskLogStream: Sendable {
    /// The log file.
    let path: String
    let scheduler: any SchedulerClient
    /// The most bytes kept (`task_log_max_bytes` for the namespace).
    let limit: Int

    /// Set when the task's log cannot be written; the task is then stopped, because output
    /// nobody can read defeats the point of running it.
    final class Failure: Sendable {
        let control = TaskControl()
        private let message = Mutex<String?>(nil)

        func report(_ text: String) {
            message.withLock { if $0 == nil { $0 = text } }
            control.cancel()
        }

        var text: String? { message.withLock { $0 } }
    }

    /// How long a task's end waits for the rest of its output to be read.
    static let drainBound: Duration = .seconds(10)

    /// Streams the job's output into the log file until the job's streams end; `failure` hears
    /// when the file cannot be written.
    func start(_ handle: String, truncate: Bool, failure: Failure, masks: [[UInt8]]) -> Task<Void, Never> {
        let path = self.path
        let scheduler = self.scheduler
        let limit = self.limit
        return Task {
            // If the stream breaks (the scheduler extension restarts, the engine is briefly away),
            // stream the whole log again: the job and its log live on in the engine. The file is
            // replaced only once the new stream delivers, so a failed retry never empties it.
            var fresh = truncate
            for attempt in 0..<20 {
                if Task.isCancelled { return }
                let writer = LogWriter(path: path, truncate: fresh ? .onFirstWrite : .no, limit: limit, masks: masks)
                let cut =
                    "its output was not read to the end within \(DurationText.format(Self.drainBound)) of the task ending; the rest was not stored"
                do {
                    try await scheduler.logs(handle, follow: true) { _, bytes in try writer.write(bytes) }
                    writer.close(incomplete: Task.isCancelled ? cut : nil)
                    return
                } catch _ where Task.isCancelled {
                    writer.close(incomplete: cut)
                    return
                } catch let error as LogWriteError {
                    writer.close()
                    failure.report(error.description)
                    return
                } catch let error as ProtocolError where error.code == .notFound {
                    writer.close()
                    return
                } catch {
                    writer.close()
                    fresh = true
                    try? await Task.sleep(for: .milliseconds(100 * (attempt + 1)))
                }
            }
        }
    }
}
