import ExtensionSDK
import Foundation
import Hummingbird
import NIOCore

/// A request body type. `fields` lists the members it accepts (snake_case, as sent): anything
/// else is refused with a 400 naming it, so a misspelt field is never silently ignored.
protocol RequestBody: Decodable, Sendable {
    static var fields: [String] { get }
}

/// Reads request bodies: at most 2 MiB, strict JSON (duplicate keys, invalid UTF-8 and the
/// like are refused), an object with known members, decoded into its type; every error names the
/// field as a JSON pointer.
enum RequestBodyReader {
    static let maxBytes = 2 * 1024 * 1024

    /// Members are matched by each type's coding keys (snake_case, as sent): no key strategy, so
    /// the keys inside free-form members (an extension's config, a rollout) arrive as sent.
    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .rfc3339
        return d
    }()

    /// The body as bytes (empty allowed).
    static func bytes(_ req: Request) async throws -> [UInt8] {
        var req = req
        do {
            let buffer = try await req.collectBody(upTo: maxBytes)
            return Array(buffer.readableBytesView)
        } catch {
            throw APIError(
                status: 413, code: "too_large",
                message: "the request body is larger than \(maxBytes / 1024 / 1024) MiB (pipeline configs may be at most 1 MiB)")
        }
    }

    /// Decodes `T`; an empty body is `{}` when `allowEmpty`.
    static func decode<T: RequestBody>(_ type: T.Type, from req: Request, allowEmpty: Bool = false) async throws -> T {
        let bytes = try await bytes(req)
        return try decode(type, bytes: bytes, allowEmpty: allowEmpty)
    }

    static func decode<T: RequestBody>(_ type: T.Type, bytes: [UInt8], allowEmpty: Bool = false) throws -> T {
        var bytes = bytes
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            guard allowEmpty else { throw APIError.badRequest("the request needs a JSON body") }
            bytes = Array("{}".utf8)
        }
        let value: JSONValue
        do {
            value = try JSONParser().parse(bytes)
        } catch {
            throw APIError.badRequest(ErrorText.wrapping("the body is not valid JSON", error))
        }
        guard let object = value.objectValue else { throw APIError.badRequest("the body must be a JSON object") }
        let nulls = object.filter { $0.value == .null }.keys.sorted()
        if !nulls.isEmpty {
            throw APIError.badRequest(
                "null is not a value here: \(nulls.joined(separator: ", ")); leave the field out instead",
                details: nulls.map { .init(field: "/\($0)", message: "null") })
        }
        let nul = value.pathsWithNUL()
        if !nul.isEmpty {
            throw APIError.badRequest(
                "NUL characters (\\u0000) are not allowed: \(nul.joined(separator: ", "))",
                details: nul.map { .init(field: $0.replacingOccurrences(of: "\u{0}", with: "\\u0000"), message: "contains NUL") })
        }
        let unknown = object.keys.filter { !T.fields.contains($0) }.sorted()
        if !unknown.isEmpty {
            throw APIError.badRequest(
                "unknown field\(unknown.count == 1 ? "" : "s") \(unknown.map { "\"\($0)\"" }.joined(separator: ", ")) (accepted: \(T.fields.joined(separator: ", ")))",
                details: unknown.map { .init(field: "/\($0)", message: "unknown field") })
        }
        do {
            return try decoder.decode(T.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw APIError.decoding(error)
        }
    }
}

extension APIError {
    /// A decoding error as a 400 naming the field (`/variables/FOO: expected a string`).
    static func decoding(_ error: DecodingError) -> APIError {
        func pointer(_ path: [any CodingKey]) -> String {
            "/" + path.map { key in key.intValue.map(String.init) ?? key.stringValue }.joined(separator: "/")
        }
        switch error {
        case .keyNotFound(let key, let ctx):
            let field = pointer(ctx.codingPath + [key])
            return .badRequest("\(field) is required", details: [.init(field: field, message: "required")])
        case .typeMismatch(let type, let ctx), .valueNotFound(let type, let ctx):
            let field = pointer(ctx.codingPath)
            let expected =
                type == String.self
                ? "a string" : type == Bool.self ? "true or false" : type == Int.self ? "an integer" : "\(type)".lowercased()
            return .badRequest("\(field) must be \(expected)", details: [.init(field: field, message: "expected \(expected)")])
        case .dataCorrupted(let ctx):
            let field = pointer(ctx.codingPath)
            return .badRequest("\(field): \(ctx.debugDescription)", details: [.init(field: field, message: ctx.debugDescription)])
        @unknown default:
            return .badRequest(ErrorText.wrapping("the body does not fit this endpoint", error))
        }
    }
}
