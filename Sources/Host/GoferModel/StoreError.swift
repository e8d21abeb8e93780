import Foundation

/// Something a store operation refused, saying which record and why.
public enum StoreError: Error, Sendable, CustomStringConvertible, Equatable {
    /// `what` is e.g. `namespace`, `pipeline`, `run`; `id` names it.
    case notFound(what: String, id: String)
    /// Not found, and why (a version pruned by the retention limit, a version number past the newest).
    case gone(what: String, id: String, why: String)
    case conflict(String)
    /// The disk holding the database is full (or the database hit its size limit): nothing of the
    /// failed change was stored.
    case storageFull(path: String)
    /// The database could not be written for another I/O reason.
    case storageFailed(path: String, detail: String)
    /// The database server could not be reached (PostgreSQL): nothing was read or written.
    case unreachable(location: String, detail: String)

    /// A full disk or an I/O error: the change can succeed later, once the admin made room.
    public var isStorageFailure: Bool {
        switch self {
        case .storageFull, .storageFailed, .unreachable: return true
        case .notFound, .gone, .conflict: return false
        }
    }

    public var description: String {
        switch self {
        case .notFound(let what, let id): return "\(what) \"\(id)\" not found"
        case .gone(let what, let id, let why): return "\(what) \"\(id)\" not found: \(why)"
        case .conflict(let message): return message
        case .storageFull(let path):
            return "the server's database at \(path) is out of space; nothing of this change was stored. Free disk space there and retry"
        case .storageFailed(let path, let detail):
            return "the server could not write its database at \(path): \(detail); nothing of this change was stored"
        case .unreachable(let location, let detail):
            return "cannot connect to the database at \(location): \(detail)"
        }
    }
}
