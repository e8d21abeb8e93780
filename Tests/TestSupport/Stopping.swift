/// Runs `body`, then awaits `stop` — also when `body` throws — and returns what `body` returned.
///
/// What a test or benchmark starts (a server, a fake, a container) is gone before it returns:
/// `defer { Task { await x.stop() } }` only schedules the stop, and the process may exit (or the
/// next test start) first — it left suite processes and 764 MB benchmark folders behind.
///
/// ```swift
/// let h = try await ServerHarness()
/// try await stopping({ await h.stop() }) {
///     _ = try await h.apply(pipeline)
/// }
/// ```
public func stopping<T>(_ stop: () async -> Void, _ body: () async throws -> T) async throws -> T {
    let result: T
    do {
        result = try await body()
    } catch {
        await stop()
        throw error
    }
    await stop()
    return result
}
