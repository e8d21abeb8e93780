import ExtensionSDK
import Foundation
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Limits on how clients may hold connections (server settings `http_*`): without them a client
/// that opens connections and never finishes a request (slowloris) holds a file descriptor each,
/// until the server can accept no one — health checks included.
public struct ConnectionLimits: Sendable, Equatable {
    /// A new connection must send a request's head within this (and a kept-alive one within
    /// `idleTimeout` of its last answer).
    public var headerTimeout: Duration = .seconds(10)
    /// A kept-alive connection with no request in progress is closed after this.
    public var idleTimeout: Duration = .seconds(60)
    /// The longest pause while a request's body is being read.
    public var bodyTimeout: Duration = .seconds(60)
    /// Connections open at once from one client address (trusted proxies are not limited).
    public var maxPerAddress = 256

    public init() {}
}

/// Counts open connections per client address, across every listener of a server.
public final class ConnectionCounter: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    public init() {}

    /// Counts one more connection from `address` unless it already has `limit`.
    func admit(_ address: String, limit: Int) -> Bool {
        counts.withLock { c in
            let n = c[address, default: 0]
            guard n < limit else { return false }
            c[address] = n + 1
            return true
        }
    }

    func release(_ address: String) {
        counts.withLock { c in
            guard let n = c[address] else { return }
            c[address] = n > 1 ? n - 1 : nil
        }
    }

    /// Open connections from `address` now.
    public func count(_ address: String) -> Int { counts.withLock { $0[address] ?? 0 } }
}

/// Enforces ``ConnectionLimits`` on one HTTP/1 connection: closes it when the request head, a
/// body chunk or the next request does not come in time, and refuses a connection over the
/// per-address cap. A response being written (a log follow that lasts an hour) is never cut.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum Phase { case waitingForHead, readingBody, answering }

    private let limits: ConnectionLimits
    private let counter: ConnectionCounter
    private let exempt: @Sendable (String) -> Bool
    private var phase = Phase.waitingForHead
    private var timer: Scheduled<Void>?
    private var counted: String?
    private var started = false
    /// The answer to the request being read has been written already.
    private var answered = false

    init(limits: ConnectionLimits, counter: ConnectionCounter, exempt: @escaping @Sendable (String) -> Bool) {
        self.limits = limits
        self.counter = counter
        self.exempt = exempt
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { begin(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        begin(context)
        context.fireChannelActive()
    }

    private func begin(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        if let address = context.channel.remoteAddress?.ipAddress, !exempt(address) {
            guard counter.admit(address, limit: limits.maxPerAddress) else {
                context.close(promise: nil)
                return
            }
            counted = address
        }
        arm(context, limits.headerTimeout)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // Also on a WebSocket upgrade, which takes the connection out of HTTP: it is authenticated
        // and pinged on its own from then on.
        disarm()
        if let counted { counter.release(counted) }
        counted = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            phase = .readingBody
            answered = false
            arm(context, limits.bodyTimeout)
        case .body:
            if phase == .readingBody { arm(context, limits.bodyTimeout) }
        case .end:
            if answered {
                // Answered before the body was read to its end (a 401, a 413): the connection
                // is idle again.
                phase = .waitingForHead
                arm(context, limits.idleTimeout)
            } else {
                phase = .answering
                disarm()
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            switch phase {
            case .answering:
                phase = .waitingForHead
                arm(context, limits.idleTimeout)
            case .readingBody: answered = true
            case .waitingForHead: break
            }
        }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext, _ timeout: Duration) {
        disarm()
        let nanoseconds = Checked.int64(Double(timeout.components.seconds), times: 1e9).map { $0 + timeout.components.attoseconds / 1_000_000_000 }
        timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: .nanoseconds(nanoseconds ?? Int64.max)) {
            context.close(promise: nil)
        }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }
}
