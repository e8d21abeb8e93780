import Foundation
import GoferConfig

/// Why an object operation failed, saying which object and how to fix it.
public enum ObjectError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound(ObjectScope, key: String)
    /// The object alone is over the per-object or per-scope limit.
    case tooLarge(ObjectScope, key: String, limit: Int64, what: String)
    /// A run or extension scope is full (they are not evicted).
    case scopeFull(ObjectScope, used: Int64, limit: Int64)
    /// The upload ended before the size it announced (a cut connection): nothing was stored.
    case incomplete(ObjectScope, key: String, received: Int64, expected: Int64)
    /// The body could not be read as what it claimed to be (bad base64): nothing was stored.
    case invalidBody(ObjectScope, key: String, why: String)
    /// The stored bytes do not hash to what was recorded: the file was damaged on disk.
    case corrupt(ObjectScope, key: String)
    /// The disk holding the objects is full: nothing of the upload was kept.
    case storageFull(path: String)
    case storageFailed(path: String, detail: String)
    /// An object's value used in an env variable is not small text.
    case notText(ObjectScope, key: String, why: String)

    public var description: String {
        switch self {
        case .notFound(let scope, let key): return "object \"\(key)\" not found in \(scope)"
        case .tooLarge(let scope, let key, let limit, let what):
            return "object \"\(key)\" in \(scope) is larger than \(what) (\(limit) bytes); nothing was stored. An admin can raise it in the server config"
        case .scopeFull(let scope, let used, let limit):
            return "\(scope) holds \(used) bytes of objects and may hold \(limit); delete some objects (gofer object … delete) or ask an admin to raise the limit"
        case .incomplete(let scope, let key, let received, let expected):
            return "the upload of \"\(key)\" to \(scope) ended after \(received) of \(expected) bytes; nothing was stored. Send it again"
        case .invalidBody(let scope, let key, let why):
            return "the upload of \"\(key)\" to \(scope) was refused: \(why); nothing was stored"
        case .corrupt(let scope, let key):
            return "object \"\(key)\" in \(scope) is damaged on the server's disk (its SHA-256 does not match); write it again"
        case .storageFull(let path): return "the disk holding objects (\(path)) is full; nothing of the upload was kept. Free space there and retry"
        case .storageFailed(let path, let detail): return "cannot write objects at \(path): \(detail)"
        case .notText(let scope, let key, let why): return "object \"\(key)\" in \(scope) cannot be used in an env value: \(why)"
        }
    }
}

/// Thrown by a body sequence that finds its bytes malformed (``Base64Chunks``); ``Objects`` turns
/// it into ``ObjectError/invalidBody(_:key:why:)`` naming the object.
package struct InvalidObjectBody: Error, Sendable {
    package var why: String

    package init(why: String) {
        self.why = why
    }
}
