import Foundation

/// A `database_url` naming a PostgreSQL database:
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require][&pool=N]`
/// (`postgresql://` too; `HOST` may be a Unix socket directory, percent-encoded, e.g.
/// `postgres://gofer@%2Frun%2Fpostgresql/gofer`). The password never appears in ``redacted``,
/// which is what messages and logs show.
package struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    package enum TLSMode: String, Sendable, CaseIterable {
        /// Plain TCP (loopback, or a network you trust).
        case disable
        /// TLS when the server offers it, verifying its certificate; plain otherwise.
        case prefer
        /// TLS or no connection, verifying the server's certificate against the system's roots.
        case require
    }

    package var host: String
    package var port: Int
    package var user: String
    package var password: String?
    package var database: String
    package var tls: TLSMode
    /// Connections this server keeps open (each runs one transaction at a time).
    package var poolSize: Int

    package static let poolSizes = 1...64

    /// Whether `text` is meant as a PostgreSQL URL (its scheme), to tell it from a mistyped one.
    package static func isPostgres(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    /// What is wrong with a `database_url` (never echoing its password).
    package struct Problem: Error, Sendable, CustomStringConvertible {
        package var description: String
    }

    /// Parses `text`, or says what is wrong with it (never echoing a password).
    package init(_ text: String) throws(Problem) {
        func bad(_ why: String) -> Problem {
            Problem(description: "\(why) — expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require][&pool=N]")
        }
        guard Self.isPostgres(text), let url = URLComponents(string: text) else {
            throw bad("not a postgres:// URL")
        }
        guard let host = url.percentEncodedHost.flatMap({ $0.removingPercentEncoding }), !host.isEmpty else {
            throw bad("no host")
        }
        guard let user = url.user, !user.isEmpty else { throw bad("no user") }
        let database = String(url.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else { throw bad("no database name after the host") }
        let port = url.port ?? 5432
        guard (1...65535).contains(port) else { throw bad("port \(port) is out of range 1–65535") }
        self.host = host
        self.port = port
        self.user = user
        self.password = url.password
        self.database = database
        self.tls = host.hasPrefix("/") || host == "localhost" || host == "127.0.0.1" || host == "::1" ? .disable : .require
        self.poolSize = 8
        for item in url.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                    throw bad("sslmode \"\(item.value ?? "")\" is not one of \(TLSMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                tls = mode
            case "pool":
                guard let n = item.value.flatMap({ Int($0) }), Self.poolSizes.contains(n) else {
                    throw bad("pool \"\(item.value ?? "")\" is not a number in \(Self.poolSizes.lowerBound)–\(Self.poolSizes.upperBound)")
                }
                poolSize = n
            default:
                throw bad("unknown parameter \"\(item.name)\" (known: sslmode, pool)")
            }
        }
    }

    /// The URL with its password replaced by `***`: safe for messages and logs.
    package var redacted: String {
        let hostPart = host.hasPrefix("/") ? host.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? host : host
        return "postgres://\(user)\(password == nil ? "" : ":***")@\(hostPart):\(port)/\(database)"
    }

    package var description: String { redacted }
}
