import ExtensionSDK
import Foundation
import HummingbirdCore
import Logging
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

/// Enforces ``ConnectionLimits`` on the requests of one HTTP/1 connection: closes it when a body
/// chunk or the next request does not come in time. (The first request's head and the
/// per-address cap are ``RawConnectionGuard``'s: with WebSocket upgrades on, HTTP handlers are
/// added only once a head has arrived.) A response being written (a log follow that lasts an
/// hour) is never cut.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum Phase { case waitingForHead, readingBody, answering }

    private let limits: ConnectionLimits
    private var phase = Phase.waitingForHead
    private var timer: Scheduled<Void>?
    private var started = false
    /// The answer to the request being read has been written already.
    private var answered = false

    init(limits: ConnectionLimits) {
        self.limits = limits
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
        arm(context, limits.headerTimeout)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // Also on a WebSocket upgrade, which takes the connection out of HTTP: it is authenticated
        // and pinged on its own from then on.
        disarm()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            if let raw = try? context.pipeline.syncOperations.handler(type: RawConnectionGuard.self) { raw.headArrived() }
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
        timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: Self.timeAmount(timeout)) {
            context.close(promise: nil)
        }
    }

    /// A setting's duration as NIO's, saturated rather than trapped.
    static func timeAmount(_ d: Duration) -> TimeAmount {
        let seconds = Checked.multiply(d.components.seconds, 1_000_000_000) ?? Int64.max / 2
        return .nanoseconds(Checked.add(seconds, d.components.attoseconds / 1_000_000_000) ?? Int64.max / 2)
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }
}

/// The front of every connection's pipeline, under TLS and HTTP: refuses a connection over the
/// per-address cap, and closes one whose first request head has not arrived within
/// ``ConnectionLimits/headerTimeout`` (``ConnectionGuard`` says when it has).
final class RawConnectionGuard: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    private let limits: ConnectionLimits
    private let counter: ConnectionCounter
    private let exempt: @Sendable (String) -> Bool
    private var timer: Scheduled<Void>?
    private var counted: String?
    private var started = false

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
        timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: ConnectionGuard.timeAmount(limits.headerTimeout)) {
            context.close(promise: nil)
        }
    }

    /// The first request's head is in on `channel` (from any thread).
    static func headArrived(on channel: any Channel) {
        channel.eventLoop.execute {
            if let raw = try? channel.pipeline.syncOperations.handler(type: RawConnectionGuard.self) { raw.headArrived() }
        }
    }

    /// The first request's head is in: from here ``ConnectionGuard`` keeps time.
    func headArrived() {
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { release() }

    private func release() {
        timer?.cancel()
        timer = nil
        if let counted { counter.release(counted) }
        counted = nil
    }
}

/// A server channel (HTTP/1, with or without WebSocket upgrades) with ``RawConnectionGuard`` in
/// front of everything it sets up.
struct GuardedChildChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value
    let inner: Inner
    let makeGuard: @Sendable () -> RawConnectionGuard

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            try channel.pipeline.syncOperations.addHandler(makeGuard(), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
