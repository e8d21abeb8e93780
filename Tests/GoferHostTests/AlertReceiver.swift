import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// A local webhook receiver for alerts: records every POST (path, headers, body) and answers
/// with the statuses queued for it (then 200). `/slow` waits 120 s before answering; `/slowonce`
/// only the first time.
final class AlertReceiver: Sendable {
    struct Delivery: Sendable {
        var path: String
        var headers: [String: String]
        var body: String
    }

    let server: LocalHTTPServer
    private let shared: Shared

    final class Shared: Sendable {
        let deliveries = Mutex<[Delivery]>([])
        let answers = Mutex<[Int]>([])
        let slowServed = Mutex(false)
    }

    var url: String { server.url }
    var deliveries: [Delivery] { shared.deliveries.withLock { $0 } }

    /// The next requests get these statuses (e.g. [500]: the first fails, the retry succeeds).
    func answer(_ statuses: [Int]) { shared.answers.withLock { $0 = statuses } }

    init() async throws {
        let shared = Shared()
        let router = Router()
        router.post("/slow") { _, _ -> HTTPResponse.Status in
            try await Task.sleep(for: .seconds(120))
            return .ok
        }
        router.post("/slowonce") { req, _ -> HTTPResponse.Status in
            let first = shared.slowServed.withLock { served -> Bool in
                defer { served = true }
                return !served
            }
            if first { try await Task.sleep(for: .seconds(30)) }
            let body = try await req.body.collect(upTo: 1 << 20)
            shared.deliveries.withLock { $0.append(Delivery(path: req.uri.path, headers: [:], body: String(buffer: body))) }
            return .ok
        }
        router.post("/**") { req, _ -> HTTPResponse.Status in
            let body = try await req.body.collect(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in req.headers { headers[field.name.canonicalName] = field.value }
            let status = shared.answers.withLock { a -> Int in a.isEmpty ? 200 : a.removeFirst() }
            shared.deliveries.withLock {
                $0.append(Delivery(path: req.uri.path, headers: headers, body: String(buffer: body)))
            }
            return HTTPResponse.Status(code: status)
        }
        self.shared = shared
        server = try await LocalHTTPServer(router: router)
    }

    func stop() async { await server.stop() }
}
