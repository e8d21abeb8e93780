import GoferStore
import Testing

/// `database_url` as an admin writes it: what is accepted, what is refused and how, and that the
/// password never shows.
struct PostgresURLTests {
    @Test func aFullURLIsReadWithItsDefaults() throws {
        let url = try PostgresURL("postgres://gofer:s3cret@db.example.com:6432/ci?sslmode=prefer&pool=16")
        #expect(url.host == "db.example.com" && url.port == 6432 && url.user == "gofer" && url.password == "s3cret" && url.database == "ci")
        #expect(url.tls == .prefer && url.poolSize == 16)
        let remote = try PostgresURL("postgresql://gofer@db.example.com/ci")
        #expect(remote.port == 5432 && remote.tls == .require && remote.poolSize == 8, "a remote host gets verified TLS by default")
        #expect(try PostgresURL("postgres://gofer@127.0.0.1/ci").tls == .disable, "loopback is plain by default")
        let socket = try PostgresURL("postgres://gofer@%2Frun%2Fpostgresql/ci")
        #expect(socket.host == "/run/postgresql" && socket.tls == .disable)
    }

    @Test func thePasswordNeverShows() throws {
        let url = try PostgresURL("postgres://gofer:hunter2@db.example.com/ci")
        #expect(url.redacted == "postgres://gofer:***@db.example.com:5432/ci" && "\(url)" == url.redacted)
        for bad in ["postgres://gofer:hunter2@db.example.com/ci?sslmode=sometimes", "postgres://gofer:hunter2@db.example.com/"] {
            #expect(throws: PostgresURL.Problem.self) { try PostgresURL(bad) }
            do {
                _ = try PostgresURL(bad)
            } catch {
                #expect(!error.description.contains("hunter2"), "\(error)")
            }
        }
    }

    @Test(arguments: [
        ("mysql://gofer@db/ci", "not a postgres:// URL"),
        ("postgres://db.example.com/ci", "no user"),
        ("postgres://gofer@db.example.com", "no database name"),
        ("postgres://gofer@db.example.com/ci?sslmode=sometimes", "sslmode \"sometimes\" is not one of disable, prefer, require"),
        ("postgres://gofer@db.example.com/ci?pool=0", "pool \"0\" is not a number in 1–64"),
        ("postgres://gofer@db.example.com/ci?poolsize=3", "unknown parameter \"poolsize\""),
    ])
    func aWrongURLIsRefusedSayingWhichPart(text: String, expected: String) {
        do {
            _ = try PostgresURL(text)
            Issue.record("\(text) was accepted")
        } catch {
            #expect(error.description.contains(expected) && error.description.contains("expected postgres://"), "\(error)")
        }
    }

    @Test func placeholdersAreNumberedOutsideQuotesOnly() {
        #expect(
            PlaceholderNumbering.numbered("SELECT * FROM t WHERE a = ? AND b = '?' AND \"c?\" IN (?, ?)")
                == "SELECT * FROM t WHERE a = $1 AND b = '?' AND \"c?\" IN ($2, $3)")
        #expect(PlaceholderNumbering.numbered("UPDATE t SET s = 'it''s ?' WHERE id = ?") == "UPDATE t SET s = 'it''s ?' WHERE id = $1")
    }
}
