import ExtensionSDK
import Foundation
import Hummingbird

extension PutSecretRequest: RequestBody {
    /// The value: `value` as text, or `value_b64` decoded; exactly one of them.
    func bytes() throws -> [UInt8] {
        if value != nil && valueB64 != nil {
            throw APIError.badRequest(
                "give value or value_b64, not both", details: [.init(field: "/value_b64", message: "value is given too")])
        }
        if let value { return Array(value.utf8) }
        if let valueB64 {
            guard let data = Data(base64Encoded: valueB64) else {
                throw APIError.badRequest("value_b64 is not valid base64", details: [.init(field: "/value_b64", message: "not base64")])
            }
            return Array(data)
        }
        throw APIError.badRequest(
            "the body needs \"value\" (text) or \"value_b64\" (base64)", details: [.init(field: "/value", message: "required")])
    }
}

/// Pipeline secrets (namespaced) and global secrets (admins). Values are returned only with
/// `?reveal=true`, which needs the permission to write the secret.
enum SecretRoutes: RouteCollection {
    /// What these routes use, and nothing else.
    struct Services: RouteServices {
        let store: any EventRepository
        let secrets: Secrets
    }

    typealias Route = GoferHTTP.Route<Services>

    static let routes: [Route] = [
        Route(.get, APIPath.pipe + "/secrets", .permission(Permission(.secrets, .read), .path)) { s, _, ctx in
            let (ns, p) = try s.pipelineParams(ctx)
            let names = try await s.secrets.pipelineSecretNames(namespace: ns, pipeline: p)
            return try s.json(ItemList(items: names.map { ["name": $0] }))
        },
        Route(.put, APIPath.pipe + "/secrets/{secret}", .permission(Permission(.secrets, .write), .path)) { s, req, ctx in
            let (ns, p) = try s.pipelineParams(ctx)
            let name = try s.secretName(ctx)
            let body = try await RequestBodyReader.decode(PutSecretRequest.self, from: req)
            if body.namespaces != nil {
                throw APIError.badRequest(
                    "namespaces applies to global secrets only", details: [.init(field: "/namespaces", message: "not for pipeline secrets")])
            }
            try await s.secrets.putPipelineSecret(namespace: ns, pipeline: p, name: name, value: try body.bytes())
            try await s.store.recordEvent(
                .secretWritten, namespace: ns, pipeline: p, by: ctx.principal, details: ["scope": "pipeline", "name": name])
            return try s.json(["name": name], status: .ok)
        },
        Route(.get, APIPath.pipe + "/secrets/{secret}", .permission(Permission(.secrets, .read), .path)) { s, req, ctx in
            let (ns, p) = try s.pipelineParams(ctx)
            let name = try s.secretName(ctx)
            if try s.wantsReveal(req) { try ctx.identity.require(Permission(.secrets, .write), on: try s.target(ctx)) }
            let value = try await s.secrets.pipelineSecret(namespace: ns, pipeline: p, name: name)
            return try s.json(try s.revealed(["name": .string(name)], value, req))
        },
        Route(.delete, APIPath.pipe + "/secrets/{secret}", .permission(Permission(.secrets, .delete), .path)) { s, _, ctx in
            let (ns, p) = try s.pipelineParams(ctx)
            let name = try s.secretName(ctx)
            try await s.secrets.deletePipelineSecret(namespace: ns, pipeline: p, name: name)
            try await s.store.recordEvent(
                .secretDeleted, namespace: ns, pipeline: p, by: ctx.principal, details: ["scope": "pipeline", "name": name])
            return Response(status: .noContent)
        },
        Route(.get, "/api/secrets", .permission(Permission(.globalSecrets, .read), .path)) { s, _, _ in
            try s.json(ItemList(items: try await s.secrets.globalSecrets()))
        },
        Route(.put, "/api/secrets/{secret}", .permission(Permission(.globalSecrets, .write), .path)) { s, req, ctx in
            let name = try s.secretName(ctx)
            let body = try await RequestBodyReader.decode(PutSecretRequest.self, from: req)
            for (i, pattern) in (body.namespaces ?? []).enumerated() where !NamespacePattern.isValid(pattern) {
                throw APIError.badRequest(
                    "\"\(pattern)\" is not a namespace pattern",
                    details: [.init(field: "/namespaces/\(i)", message: "use namespace ids, where * stands for any part")])
            }
            let meta = try await s.secrets.putGlobalSecret(name: name, value: try body.bytes(), namespaces: body.namespaces ?? [])
            try await s.store.recordEvent(.secretWritten, by: ctx.principal, details: ["scope": "global", "name": name])
            return try s.json(meta)
        },
        Route(.get, "/api/secrets/{secret}", .permission(Permission(.globalSecrets, .read), .path)) { s, req, ctx in
            if try s.wantsReveal(req) { try ctx.identity.require(Permission(.globalSecrets, .write), on: .server) }
            let (meta, value) = try await s.secrets.globalSecret(name: try s.secretName(ctx))
            let fields: JSONValue = [
                "name": .string(meta.name), "namespaces": .array(meta.namespaces.map(JSONValue.string)),
                "created_at": .string(RFC3339.format(meta.createdAt)), "updated_at": .string(RFC3339.format(meta.updatedAt)),
            ]
            return try s.json(try s.revealed(fields, value, req))
        },
        Route(.delete, "/api/secrets/{secret}", .permission(Permission(.globalSecrets, .delete), .path)) { s, _, ctx in
            let name = try s.secretName(ctx)
            try await s.secrets.deleteGlobalSecret(name: name)
            try await s.store.recordEvent(.secretDeleted, by: ctx.principal, details: ["scope": "global", "name": name])
            return Response(status: .noContent)
        },
    ]
}

extension RouteServices {
    /// The `{secret}` path parameter, checked like every secret name.
    func secretName(_ ctx: some RouteContext) throws -> String {
        let name = ctx.parameters.get("secret") ?? ""
        guard SecretReference.isValidName(name) else {
            throw APIError.badRequest(
                "\"\(name)\" is not a valid secret name",
                details: [.init(field: "secret", message: "use 1–128 letters, digits, '_', '-' or '.'")])
        }
        return name
    }

    func wantsReveal(_ req: Request) throws -> Bool { try flag(req, "reveal") }

    /// Adds the value only when the caller asked with `?reveal=true`.
    func revealed(_ fields: JSONValue, _ value: [UInt8], _ req: Request) throws -> JSONValue {
        var out = fields
        guard try wantsReveal(req) else { return out }
        if let text = String(validating: value, as: UTF8.self) {
            out["value"] = .string(text)
        } else {
            out["value_b64"] = .string(Data(value).base64EncodedString())
        }
        return out
    }
}
