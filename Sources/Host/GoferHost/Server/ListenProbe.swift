import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Checks, before a server creates or starts anything, that it can listen where it is told to:
/// a port another process holds fails the start with one line, not after the data directory is
/// made and every extension started.
enum ListenProbe {
    /// Binds and releases `host:port` (port 0 always succeeds). Throws a ``ServerError`` naming the
    /// address, why, and how to choose another.
    static func check(host: String, port: Int, setting: String = "listen") throws {
        guard port != 0 else { return }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var list: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &list)
        guard resolved == 0, let first = list else {
            throw ServerError(
                "cannot listen on \(host):\(port): \(String(cString: gai_strerror(resolved))); set \(setting) to an address of this machine")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return }  // cannot probe; the real bind reports any problem
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            let why =
                switch errno {
                case EADDRINUSE: "the address is already in use (another Gofer server?)"
                case EACCES: "permission denied (ports below 1024 need privileges)"
                case EADDRNOTAVAIL: "no interface of this machine has that address"
                default: String(cString: strerror(errno))
                }
            throw ServerError("cannot listen on \(host):\(port): \(why); choose another with --listen or GOFER_LISTEN")
        }
    }
}
