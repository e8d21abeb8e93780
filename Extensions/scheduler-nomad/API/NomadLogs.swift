import ExtensionSDK
import Foundation

/// Where a reader is in a task's log stream. Frames carry the offset within their file
/// (`task.stdout.0`, `.1`, … as Nomad rotates), while a request's `offset` counts from the start
/// of the first file: the files already read whole are added up.
public struct LogPosition: Sendable, Equatable {
    public private(set) var file: String?
    public private(set) var offsetInFile: Int64 = 0
    public private(set) var completedFiles: Int64 = 0

    public init() {}

    /// The offset to resume from (`origin=start`).
    public var global: Int64 { completedFiles + offsetInFile }

    public mutating func advance(file name: String?, offset: Int64) {
        if let name, let current = file, name != current {
            completedFiles += offsetInFile
        }
        if let name { file = name }
        offsetInFile = offset
    }
}

/// Copies one of a task's streams (stdout or stderr) from `/v1/client/fs/logs` to an output
/// stream, each byte once: a stream that drops (even in the middle of a frame) is read again
/// from the offset after the last whole frame.
public struct NomadLogs: Sendable {
    public let nomad: NomadHTTP
    public let allocation: String
    public let fd: String
    public let task: String

    public init(nomad: NomadHTTP, allocation: String, fd: String, task: String = NomadJob.taskName) {
        self.nomad = nomad
        self.allocation = allocation
        self.fd = fd
        self.task = task
    }

    enum ReadEnd { case ended, cut(any Error) }

    /// With `follow`, reads until the task is dead (`isDead` says so) and its log is read out.
    public func copy(follow: Bool, to output: ExtensionSDK.OutputStream, isDead: @Sendable () async throws -> Bool) async throws {
        var position = LogPosition()
        var cuts = 0
        while true {
            let end = try await read(&position, follow: follow, to: output)
            if case .cut(let error) = end {
                cuts += 1
                guard cuts <= 100 else {
                    throw ProtocolError(.unavailable, "Nomad's \(fd) log stream of \(allocation) keeps dropping", cause: error, reason: "nomad.logs_cut")
                }
                try await Task.sleep(for: .milliseconds(min(2000, 50 * cuts)))
                continue
            }
            guard follow else { return }
            if try await isDead() {
                // Whatever the follow had not delivered when the task ended.
                while case .cut = try await read(&position, follow: false, to: output) {
                    cuts += 1
                    guard cuts <= 100 else { return }
                    try await Task.sleep(for: .milliseconds(100))
                }
                return
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// One request from `position`.
    func read(_ position: inout LogPosition, follow: Bool, to output: ExtensionSDK.OutputStream) async throws -> ReadEnd {
        var reader = LogFrameReader()
        var status = 0
        var errorBody: [UInt8] = []
        let query: [(String, String)] = [
            ("task", task), ("type", fd), ("follow", follow ? "true" : "false"), ("offset", String(position.global)), ("origin", "start"),
        ]
        do {
            for try await event in nomad.stream("/v1/client/fs/logs/\(allocation)", query: query) {
                switch event {
                case .head(let s, _): status = s
                case .body(let bytes):
                    guard status == 200 else {
                        errorBody += bytes
                        continue
                    }
                    for frame in try reader.append(bytes) {
                        if !frame.data.isEmpty { try await output.write(frame.data, fd: fd) }
                        if let offset = frame.offset { position.advance(file: frame.file, offset: offset) }
                    }
                }
            }
        } catch let error as ProtocolError {
            throw error
        } catch {
            try Task.checkCancellation()
            return .cut(error)
        }
        guard status == 200 else {
            let response = NomadResponse(status: status, headers: [:], body: errorBody)
            if status == 0 { return .cut(ProtocolError(.unavailable, "no answer", reason: "nomad.unreachable")) }
            throw NomadErrors.error("the \(fd) log of allocation \(allocation)", response)
        }
        if reader.pendingBytes > 0 { return .cut(ProtocolError(.unavailable, "the stream ended inside a frame", reason: "nomad.logs_cut")) }
        return .ended
    }
}
