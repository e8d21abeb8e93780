import ExtensionSDK
import Foundation
import Testing

/// Timeouts that usually do not fire: a cancelled one ends at once. (That it keeps no memory is
/// measured in its own process: `BenchCLITests.theServerKeepsAlmostNothingPerRun`.)
struct CancellableSleepTests {
    @Test func aSleepEndsWhenItsTimeIsUp() async throws {
        let start = ContinuousClock.now
        try await CancellableSleep.sleep(for: .milliseconds(50))
        #expect(ContinuousClock.now - start >= .milliseconds(50))
    }

    @Test func cancellingAnHourLongSleepEndsItAtOnceWithCancellationError() async throws {
        let sleeper = Task { try await CancellableSleep.sleep(for: .seconds(3600)) }
        try await Task.sleep(for: .milliseconds(20))
        sleeper.cancel()
        let outcome = await sleeper.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        // Cancelled before it started: the same.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await CancellableSleep.sleep(for: .seconds(3600))
        }
        await #expect(throws: CancellationError.self) { try await early.value }
    }
}
