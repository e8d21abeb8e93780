import ExtensionSDK
import Foundation
import Hummingbird
import NIOCore

extension InstallExtensionRequest: RequestBody {}
extension UpgradeExtensionRequest: RequestBody {}

/// Installed extensions: admins only (they run code on the server's machine).
enum ExtensionRoutes: RouteCollection {
    /// What these routes use, and nothing else.
    struct Services: RouteServices {
        let extensions: ExtensionManager
    }

    typealias Route = GoferHTTP.Route<Services>

    static let readPermission = Permission(.extensions, .read)
    static let read = TokenAccess.permission(readPermission, .path)

    static let routes: [Route] = [
        Route(.get, "/api/extensions", read) { s, _, _ in try s.json(ItemList(items: try await s.extensions.list())) },
        Route(.post, "/api/extensions", .permission(Permission(.extensions, .write), .path)) { s, req, ctx in
            let body = try await RequestBodyReader.decode(InstallExtensionRequest.self, from: req)
            guard let (name, request) = VersionRequest.split(body.name) else {
                throw APIError.badRequest(
                    "name must be NAME, NAME@1.2.3 or NAME@^1", details: [.init(field: "/name", message: "not a name with a version")])
            }
            _ = try s.identifier(name, field: "/name")
            var strings: [String: String] = [:]
            for (k, v) in body.configStrings ?? [:] { strings[k] = v.stringValue ?? v.description }
            let config = body.config ?? .emptyObject
            guard config.objectValue != nil else {
                throw APIError.badRequest("config must be an object", details: [.init(field: "/config", message: "not an object")])
            }
            _ = try await s.extensions.install(name, request, config: config, configStrings: strings, by: ctx.principal)
            return try s.json(try await s.extensions.get(name), status: .created)
        },
        Route(.get, "/api/extensions/{extension}", read) { s, _, ctx in
            try s.json(try await s.extensions.get(try s.param(ctx, "extension")))
        },
        Route(.get, "/api/extensions/{extension}/logs", read) { s, _, ctx in
            let text = try await s.extensions.logs(try s.param(ctx, "extension"))
            return Response(
                status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        },
        Route(.post, "/api/extensions/{extension}/upgrade", .permission(Permission(.extensions, .write), .path)) { s, req, ctx in
            let name = try s.param(ctx, "extension")
            let body = try await RequestBodyReader.decode(UpgradeExtensionRequest.self, from: req, allowEmpty: true)
            var request = VersionRequest.latest
            if let v = body.version {
                guard let parsed = VersionRequest.split("\(name)@\(v)")?.request else {
                    throw APIError.badRequest("version must be 1.2.3 or ^1", details: [.init(field: "/version", message: "not a version")])
                }
                request = parsed
            }
            return try s.json(
                try await s.extensions.upgrade(name, request, allowMajor: body.allowMajor ?? false, by: ctx.principal))
        },
        // Restarting runs the extension's code again: the same permission as installing it.
        Route(.post, "/api/extensions/{extension}/restart", .permission(Permission(.extensions, .write), .path)) { s, _, ctx in
            try s.json(try await s.extensions.restart(try s.param(ctx, "extension"), by: ctx.principal))
        },
        Route(.delete, "/api/extensions/{extension}", .permission(Permission(.extensions, .delete), .path)) { s, req, ctx in
            let confirmed = try s.flag(req, "yes")
            let result = try await s.extensions.uninstall(try s.param(ctx, "extension"), confirmed: confirmed, by: ctx.principal)
            if !result.removed {
                throw APIError(
                    status: 409, code: "confirmation_required",
                    message:
                        "\(result.name) is used by \(result.pipelines.count) pipeline(s): \(result.pipelines.map(\.description).joined(separator: ", ")); they will be disabled. Confirm with ?yes=true (gofer extension uninstall \(result.name) --yes)",
                    details: result.pipelines.map { .init(field: "pipelines", message: $0.description) })
            }
            return try s.json(result)
        },
    ]
}
