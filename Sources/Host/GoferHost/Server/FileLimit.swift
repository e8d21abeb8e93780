#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// How many files the server's process may hold open.
///
/// Every connection, task log and extension pipe is a file descriptor. Many systems start a
/// process with a soft limit of 1,024 while allowing far more (the hard limit); a server that
/// keeps the soft limit stops accepting connections — health checks included — long before the
/// machine is busy. The server raises its soft limit to the hard one at start, as Go and nginx
/// servers do; the hard limit stays the operator's (`LimitNOFILE=` in systemd).
enum FileLimit {
    /// The soft limit after raising it (nil when the system would not say).
    @discardableResult
    static func raiseToHard() -> UInt64? {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(RLIMIT_NOFILE_VALUE, &raised) == 0 { return UInt64(raised.rlim_cur) }
        }
        return UInt64(limit.rlim_cur)
    }

    /// The soft limit now.
    static func current() -> UInt64? {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else { return nil }
        return UInt64(limit.rlim_cur)
    }

    #if canImport(Glibc)
        private static let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
        private static let RLIMIT_NOFILE_VALUE = RLIMIT_NOFILE
    #endif
}
