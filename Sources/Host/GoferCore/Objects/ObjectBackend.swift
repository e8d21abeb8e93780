import Foundation
import GoferConfig
import GoferModel
import GoferStore

/// Where object bytes are kept. The store keeps what an object is (key, size, SHA-256) in its
/// database; a backend keeps only opaque blobs, each written once under a fresh name and never
/// changed. The local filesystem is the default; an S3-compatible backend fits the same shape.
public protocol ObjectBackend: Sendable {
    /// Starts a new blob. Nothing is visible under its name until ``BlobWriter/commit()``.
    func create() throws(ObjectError) -> any BlobWriter
    /// Opens a committed blob for reading.
    func open(_ blob: String) throws(ObjectError) -> any BlobReader
    /// Removes a blob; removing one that is gone is not an error.
    func remove(_ blob: String)
    /// Every committed blob's name.
    func blobNames() throws(ObjectError) -> [String]
    /// Removes uploads a crash left unfinished. Only while no upload is running (at start).
    func removeUnfinishedUploads()
}

/// One upload in progress. Used by one task at a time.
public protocol BlobWriter: AnyObject {
    var blob: String { get }
    func write(_ bytes: UnsafeRawBufferPointer) throws(ObjectError)
    /// Makes the blob durable and visible under its name.
    func commit() throws(ObjectError)
    /// Drops everything written; safe to call after a failure, or twice.
    func abort()
}

/// Reading one blob, front to back. Used by one task at a time.
public protocol BlobReader: AnyObject {
    /// Up to `count` bytes; empty at the end.
    func read(upTo count: Int) throws(ObjectError) -> [UInt8]
    func close()
}
