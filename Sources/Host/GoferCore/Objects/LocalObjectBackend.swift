import ExtensionSDK
import Foundation
import GoferConfig
import GoferModel
import GoferStore

#if canImport(Glibc)
    import Glibc
#endif

/// Blobs as files under `root`: `uploads/` while being written, renamed into `blobs/` (on the
/// same filesystem, so atomically) once complete and fsynced. A crash mid-upload leaves only a
/// file in `uploads/`, which the next start removes.
public struct LocalObjectBackend: ObjectBackend {
    public let root: String
    var uploads: String { root + "/uploads" }
    var blobs: String { root + "/blobs" }

    public init(root: String) throws(ObjectError) {
        self.root = root
        for dir in [root, root + "/uploads", root + "/blobs"] {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw ObjectError.storageFailed(path: dir, detail: ErrorText.describe(error))
            }
        }
    }

    /// Blob names are UUIDs: nothing a caller sends ever becomes a path.
    static func isBlobName(_ name: String) -> Bool { UUID(uuidString: name) != nil }

    public func create() throws(ObjectError) -> any BlobWriter {
        let name = UUID().uuidString.lowercased()
        let path = uploads + "/" + name
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.failure(path, errno) }
        return LocalBlobWriter(blob: name, fd: fd, path: path, final: blobs + "/" + name, directory: blobs)
    }

    public func open(_ blob: String) throws(ObjectError) -> any BlobReader {
        let path = blobs + "/" + blob
        guard Self.isBlobName(blob) else { throw ObjectError.storageFailed(path: path, detail: "not a blob name") }
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.failure(path, errno) }
        return LocalBlobReader(fd: fd, path: path)
    }

    public func remove(_ blob: String) {
        guard Self.isBlobName(blob) else { return }
        unlink(blobs + "/" + blob)
    }

    public func removeUnfinishedUploads() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: uploads)) ?? [] { unlink(uploads + "/" + name) }
    }

    public func blobNames() throws(ObjectError) -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: blobs).filter(Self.isBlobName)
        } catch {
            throw ObjectError.storageFailed(path: blobs, detail: ErrorText.describe(error))
        }
    }

    package static func failure(_ path: String, _ code: Int32) -> ObjectError {
        if code == ENOSPC || code == EDQUOT { return .storageFull(path: path) }
        return .storageFailed(path: path, detail: String(cString: strerror(code)))
    }
}

final class LocalBlobWriter: BlobWriter {
    let blob: String
    private var fd: Int32
    private let path: String
    private let final: String
    private let directory: String

    init(blob: String, fd: Int32, path: String, final: String, directory: String) {
        self.blob = blob
        self.fd = fd
        self.path = path
        self.final = final
        self.directory = directory
    }

    deinit { abort() }

    func write(_ bytes: UnsafeRawBufferPointer) throws(ObjectError) {
        guard var base = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = Glibc.write(fd, base, left)
            if n < 0 {
                if errno == EINTR { continue }
                let code = errno
                abort()
                throw LocalObjectBackend.failure(path, code)
            }
            left -= n
            base += n
        }
    }

    func commit() throws(ObjectError) {
        guard fd >= 0 else { throw ObjectError.storageFailed(path: path, detail: "the upload was already closed") }
        if fsync(fd) != 0 {
            let code = errno
            abort()
            throw LocalObjectBackend.failure(path, code)
        }
        close(fd)
        fd = -1
        guard rename(path, final) == 0 else {
            let code = errno
            unlink(path)
            throw LocalObjectBackend.failure(final, code)
        }
        // The rename itself is durable once the directory is synced.
        let dir = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
    }

    func abort() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
        unlink(path)
    }
}

final class LocalBlobReader: BlobReader {
    private var fd: Int32
    private let path: String

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close() }

    func read(upTo count: Int) throws(ObjectError) -> [UInt8] {
        guard fd >= 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: count)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw LocalObjectBackend.failure(path, errno)
            }
            buffer.removeLast(count - n)
            return buffer
        }
    }

    func close() {
        guard fd >= 0 else { return }
        Glibc.close(fd)
        fd = -1
    }
}
