import ArgumentParser
import ExtensionSDK
import Foundation
import GoferHost

/// `gofer login`: checks a token against the server and keeps it (and the server) in the CLI config (0600).
struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Store a token (and the server's address) in the CLI config, after checking it with the server.",
        discussion: "The token comes from --token, --token-file, GOFER_TOKEN or standard input (one line).")

    @OptionGroup var options: ClientOptions
    @Option(help: "Read the token from this file (e.g. the server's DATA_DIR/admin-token).") var tokenFile: String?

    func run() async throws {
        var token = options.token ?? ProcessInfo.processInfo.environment["GOFER_TOKEN"]
        if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else { throw ValidationError("cannot read \(tokenFile)") }
            token = text
        }
        if token == nil {
            if isatty(0) != 0 { FileHandle.standardError.write(Data("token: ".utf8)) }
            token = readLine(strippingNewline: true)
        }
        guard let secret = token?.trimmingCharacters(in: .whitespacesAndNewlines), !secret.isEmpty else {
            throw ValidationError("no token given: use --token, --token-file, GOFER_TOKEN or standard input")
        }
        let ca = options.caCert ?? ProcessInfo.processInfo.environment["GOFER_CA_CERT"]
        let client: APIClient
        do { client = try APIClient(address: options.address, token: secret, caCertificate: ca) } catch let e as APIError {
            throw ValidationError(e.message)
        }
        let me: APIToken = try await cli { try await client.call("GET", "/api/whoami") }
        var config = CLIConfig.load()
        config.token = secret
        config.host = options.address
        if let ca { config.caCert = (ca as NSString).expandingTildeInPath }
        try config.save()
        if options.json { return Output.json(me) }
        print("logged in to \(options.address) as \(me.name) (\(me.id), roles: \(me.roles.joined(separator: ", "))); saved in \(CLIConfig.path)")
    }
}

/// `gofer whoami`.
struct WhoamiCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "whoami", abstract: "Show the token the CLI uses: name, id, roles, scope.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let me: APIToken = try await cli { try await options.client.call("GET", "/api/whoami") }
        if options.json { return Output.json(me) }
        TokenCommand.show(me)
    }
}

/// `gofer token …`: admin business.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Create, list, show and revoke API tokens (admins).",
        subcommands: [Create.self, List.self, Get.self, Revoke.self])

    static func show(_ t: APIToken) {
        Output.table(
            ["ID", "NAME", "ROLES", "NAMESPACES", "CREATED", "EXPIRES", "LAST USED", "STATE"],
            [row(t)])
    }

    static func row(_ t: APIToken) -> [String] {
        var scope = t.namespaces.joined(separator: ",")
        if let p = t.pipeline { scope = "\(p.namespace)/\(p.pipeline)" }
        let state = t.revokedAt != nil ? "revoked" : (t.expiresAt.map { $0 <= Date() } ?? false) ? "expired" : "active"
        return [
            t.id, t.name, t.roles.joined(separator: ","), scope, Output.ago(t.createdAt), t.expiresAt.map { $0.formatted(.iso8601) } ?? "never",
            Output.ago(t.lastUsedAt), state,
        ]
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token; its secret is printed once and never again.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "A name saying who or what uses it (ci-deploy, alice).") var name: String
        @Option(name: .customLong("role"), help: "A role (repeat for more): admin, user, read-only or one of `gofer role list`.")
        var roles: [String] = []
        @Option(name: .customLong("namespaces"), help: "Namespace patterns it is limited to, comma-separated (team-*,web). Default: all.")
        var namespaces: String?
        @Option(help: "Expire after this long (90d, 12h). Default: never.") var expiresIn: String?

        func run() async throws {
            guard !roles.isEmpty else { throw ValidationError("give at least one --role (admin, user, read-only, …)") }
            let request = CreateTokenRequest(
                name: name, roles: roles, namespaces: namespaces.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } },
                expiresIn: expiresIn)
            let created: CreatedToken = try await cli { try await options.client.call("POST", "/api/tokens", request: request) }
            if options.json { return Output.json(created) }
            show(created.token)
            print("\nsecret (shown once; only a hash is kept):\n\(created.secret)")
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Flag(help: "Include revoked tokens.") var revoked = false

        func run() async throws {
            let page: ItemList<APIToken> = try await cli { try await options.client.call("GET", "/api/tokens" + (revoked ? "?revoked=true" : "")) }
            if options.json { return Output.json(page) }
            Output.table(["ID", "NAME", "ROLES", "NAMESPACES", "CREATED", "EXPIRES", "LAST USED", "STATE"], page.items.map(row))
        }
    }

    struct Get: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument var id: String

        func run() async throws {
            let t: APIToken = try await cli { try await options.client.call("GET", "/api/tokens/\(APIClient.segment(id))") }
            if options.json { return Output.json(t) }
            show(t)
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token: every request with it gets 401 from now on.")
        @OptionGroup var options: ClientOptions
        @Argument var id: String
        @Option(help: "Why (recorded with the token).") var reason: String?

        func run() async throws {
            let query = reason.map { "?reason=\(APIClient.segment($0))" } ?? ""
            let t: APIToken = try await cli { try await options.client.call("DELETE", "/api/tokens/\(APIClient.segment(id))" + query) }
            if options.json { return Output.json(t) }
            print("revoked token \(t.name) (\(t.id))")
        }
    }
}

/// `gofer role …`.
struct RoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "role", abstract: "List, show, create and delete roles (admins).", subcommands: [List.self, Get.self, Create.self, Delete.self])

    static func rows(_ r: Role) -> [[String]] {
        r.grants.map { g in
            [r.id, g.resources.map(\.description).joined(separator: ","), g.actions.map(\.rawValue).joined(separator: ","), g.namespaces.joined(separator: ",")]
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let page: ItemList<Role> = try await cli { try await options.client.call("GET", "/api/roles") }
            if options.json { return Output.json(page) }
            Output.table(["ROLE", "BUILT IN", "DESCRIPTION"], page.items.map { [$0.id, $0.builtin ? "yes" : "no", $0.description] })
        }
    }

    struct Get: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument var id: String

        func run() async throws {
            let r: Role = try await cli { try await options.client.call("GET", "/api/roles/\(APIClient.segment(id))") }
            if options.json { return Output.json(r) }
            print(r.description)
            Output.table(["ROLE", "RESOURCES", "ACTIONS", "NAMESPACES"], rows(r))
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a role from grants: --grant RESOURCES:ACTIONS[@NAMESPACES], e.g. --grant runs,pipelines:read,write@team-*")
        @OptionGroup var options: ClientOptions
        @Argument var id: String
        @Option(help: "What the role is for.") var description: String = ""
        @Option(name: .customLong("grant"), help: "RESOURCES:ACTIONS[@NAMESPACES] (comma-separated lists; * for every resource).")
        var grants: [String] = []

        func run() async throws {
            guard !grants.isEmpty else { throw ValidationError("give at least one --grant") }
            var list: [Grant] = []
            for g in grants {
                let (main, ns) = g.split(separator: "@", maxSplits: 1).map(String.init).splitFirst
                let parts = main.split(separator: ":", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw ValidationError("--grant \(g): write RESOURCES:ACTIONS[@NAMESPACES]") }
                func items(_ s: String) -> [String] { s.split(separator: ",").map(String.init) }
                let resources = try items(parts[0]).map { name -> ResourceSelector in
                    if name == "*" { return .all }
                    guard let r = Resource(rawValue: name) else {
                        throw ValidationError("--grant \(g): unknown resource \"\(name)\" (use * or \(Resource.allCases.map(\.rawValue).joined(separator: ", ")))")
                    }
                    return .one(r)
                }
                let actions = try items(parts[1]).map { name -> Action in
                    guard let a = Action(rawValue: name) else {
                        throw ValidationError("--grant \(g): unknown action \"\(name)\" (use \(Action.allCases.map(\.rawValue).joined(separator: ", ")))")
                    }
                    return a
                }
                list.append(Grant(resources, actions, namespaces: items(ns ?? "*")))
            }
            let request = CreateRoleRequest(id: id, description: description, grants: list)
            let r: Role = try await cli { try await options.client.call("POST", "/api/roles", request: request) }
            if options.json { return Output.json(r) }
            print("created role \(r.id)")
        }
    }

    struct Delete: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument var id: String

        func run() async throws {
            try await cli { _ = try await options.client.raw("DELETE", "/api/roles/\(APIClient.segment(id))") }
            Output.done("deleted role \(id)", json: ["deleted": ["role": .string(id)]])
        }
    }
}

extension Array where Element == String {
    fileprivate var splitFirst: (String, String?) { (first ?? "", count > 1 ? self[1] : nil) }
}
