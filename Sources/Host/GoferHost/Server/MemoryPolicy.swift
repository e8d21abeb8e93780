import ExtensionSDKShims

/// How the server's process uses the C allocator.
///
/// glibc raises its mmap threshold every time a large block is freed (up to 32 MiB), after which
/// large buffers — log frames of 64 KiB to 4 MiB — come from per-thread arenas that keep the
/// memory once freed. Streaming a 200 MB task log then grew the server to 287 MiB RSS; with the
/// threshold fixed at 128 KiB, large buffers go back to the system when freed and the server
/// stays near 55 MiB at the same speed (`gofer-bench logs`, MALLOC_MMAP_THRESHOLD_ compared).
enum MemoryPolicy {
    static func apply() {
        _ = gofer_set_mmap_threshold(128 * 1024)
    }
}
