import ExtensionSDK
import Foundation
@testable import GoferCore
@testable import GoferHost
import Testing

/// Errors keep what caused them: code that handles one can look underneath, and people read
/// "what failed: why" once, not a chain of Swift debug descriptions.
struct ErrorCauseTests {
    @Test func aWrappedStoreErrorIsStillAStoreErrorUnderneath() throws {
        let error: any Error = ServerError("the secret store (vault) did not start", cause: StoreError.storageFull(path: "/var/lib/gofer/gofer.sqlite"))
        let caused = try #require(error as? any CausedError)
        guard case .storageFull(let path) = try #require(caused.cause as? StoreError) else {
            Issue.record("the cause is not the store's error: \(String(describing: caused.cause))")
            return
        }
        #expect(path == "/var/lib/gofer/gofer.sqlite")
        #expect("\(error)".hasPrefix("the secret store (vault) did not start: "), "\(error)")
        #expect(!"\(error)".contains("storageFull("), "the cause reads as a sentence, not a Swift enum dump: \(error)")
    }

    @Test func aTaskReasonMadeFromAnErrorReadsAsASentence() {
        let cause = SecretError(kind: .notFound, message: "secret \"deploy-key\" does not exist in namespace default")
        #expect(StateReason(.secretError, "", cause: cause).message == "secret \"deploy-key\" does not exist in namespace default")
        let wrapped = StateReason(.schedulerError, "cannot record the task start", cause: StoreError.conflict("run 4 already ended"))
        #expect(wrapped.message == "cannot record the task start: run 4 already ended")
    }

    @Test func anExtensionErrorKeepsTheProcessErrorItWraps() throws {
        let error = ExtensionError(kind: .failed, message: "echo 0.2.0 did not start", cause: ProtocolError(.unavailable, "handshake timed out"))
        #expect(error.description == "echo 0.2.0 did not start: handshake timed out")
        #expect((error.cause as? ProtocolError)?.code == .unavailable)
    }
}
