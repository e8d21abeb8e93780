import ExtensionSDK
import Foundation
import Hummingbird
import NIOCore

/// What every route collection's services can do for their handlers, holding nothing: read the
/// path and the query (checked, with the API's errors), and write answers.
protocol RouteServices: Sendable {}

/// How answers are written.
public enum APIAnswer {
    /// How every answer is encoded (``APIJSONEncoder`` writes the same bytes, faster).
    public static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.dateEncodingStrategy = .rfc3339Milliseconds
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()
}

extension RouteServices {
    /// The namespace and pipeline a path names.
    func target(_ context: some RouteContext) throws -> Target {
        guard context.parameters.get("ns") != nil else { return .server }
        let ns = try param(context, "ns")
        guard context.parameters.get("pipeline") != nil else { return .namespace(ns) }
        return .pipeline(namespace: ns, pipeline: try param(context, "pipeline"))
    }

    func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try APIAnswer.encoder.encode(value)
        return Response(
            status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    func errorResponse(_ error: APIError) -> Response {
        let data = (try? APIAnswer.encoder.encode(error)) ?? Data(#"{"code":"internal","message":"cannot encode error"}"#.utf8)
        var headers: HTTPFields = [.contentType: "application/json"]
        if let seconds = error.retryAfterSeconds { headers[.retryAfter] = String(seconds) }
        if error.status == 401 { headers[.wwwAuthenticate] = #"Bearer realm="gofer""# }
        return Response(
            status: HTTPResponse.Status(code: error.status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    func identifier(_ value: String?, field: String) throws -> String {
        guard let value, !value.isEmpty else {
            throw APIError.badRequest("\(field) is required", details: [.init(field: field, message: "required")])
        }
        guard PipelineConfigLoader.isIdentifier(value) else {
            throw APIError.badRequest(
                "\"\(value)\" is not a valid id",
                details: [.init(field: field, message: "use 1–63 lower-case letters, digits, '-' or '_', starting with a letter or digit")])
        }
        return value
    }

    func param(_ ctx: some RouteContext, _ name: String) throws -> String {
        try identifier(ctx.parameters.get(name), field: name)
    }

    func pipelineParams(_ ctx: some RouteContext) throws -> (String, String) {
        (try param(ctx, "ns"), try param(ctx, "pipeline"))
    }

    func runParams(_ ctx: some RouteContext) throws -> (String, String, Int) {
        let (ns, p) = try pipelineParams(ctx)
        guard let r = ctx.parameters.get("run").flatMap({ Int($0) }), r > 0 else {
            throw APIError.badRequest("run must be a positive integer", details: [.init(field: "run", message: "not a run number")])
        }
        return (ns, p, r)
    }

    func paging(_ req: Request, defaultLimit: Int = 50) throws -> (String?, Int) {
        var limit = defaultLimit
        if let text = req.uri.queryParameters.get("limit") {
            guard let n = Int(text), n >= 1, n <= 1000 else {
                throw APIError.badRequest("limit must be between 1 and 1000", details: [.init(field: "limit", message: "got \(text)")])
            }
            limit = n
        }
        let cursor = req.uri.queryParameters.get("cursor").map { String($0) }
        if cursor == "" {
            throw APIError.badRequest("cursor is empty", details: [.init(field: "cursor", message: "pass next_cursor of the previous page, or leave it out")])
        }
        return (cursor, limit)
    }

    /// A boolean query parameter: `true`/`1` or `false`/`0`; absent is `false`.
    func flag(_ req: Request, _ name: String) throws -> Bool {
        guard let text = req.uri.queryParameters.get(name) else { return false }
        return try flagValue(text, name)
    }

    func flagValue(_ text: some StringProtocol, _ name: String) throws -> Bool {
        switch text {
        case "true", "1": return true
        case "false", "0": return false
        default:
            throw APIError.badRequest(
                "\(name) must be true or false", details: [.init(field: name, message: "got \"\(text)\"; use true, false, 1 or 0")])
        }
    }
}
