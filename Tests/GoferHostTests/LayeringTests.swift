import Foundation
import TestSupport
import Testing

/// The host's layers stay apart (docs/architecture.md): the compiler keeps targets from importing
/// what they do not depend on; these checks keep Package.swift and the folders inside GoferHost
/// from drifting — a lower layer that gains a database, HTTP or server dependency fails here,
/// naming the file and the import.
struct LayeringTests {
    static let root = BuiltProducts.repositoryRoot

    /// `import X` lines of every Swift file under `directory` (relative to the repository), by file.
    static func imports(under directory: String) throws -> [(file: String, module: String)] {
        let base = root.appendingPathComponent(directory)
        guard let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil) else { return [] }
        var out: [(String, String)] = []
        for case let url as URL in walker where url.pathExtension == "swift" {
            let text = try String(contentsOf: url, encoding: .utf8)
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ")
                guard let i = words.firstIndex(of: "import"), i + 1 < words.count, words[..<i].allSatisfy({ $0.hasPrefix("@") }) else { continue }
                out.append((String(url.path.dropFirst(root.path.count + 1)), String(words[i + 1])))
            }
        }
        return out
    }

    /// The dependencies Package.swift gives a target: its target names, and products by their name.
    static func dependencies(of target: String) throws -> Set<String> {
        let manifest = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        guard let start = manifest.range(of: #"name: "\#(target)",\s*dependencies: \["#, options: .regularExpression) else {
            Issue.record("Package.swift has no target \(target) with dependencies")
            return []
        }
        // The list, to its closing bracket.
        var depth = 1
        var end = start.upperBound
        while end < manifest.endIndex, depth > 0 {
            if manifest[end] == "[" { depth += 1 } else if manifest[end] == "]" { depth -= 1 }
            end = manifest.index(after: end)
        }
        var list = String(manifest[start.upperBound..<end])
        var names: Set<String> = []
        while let product = list.range(of: #"\.product\(name: "[^"]+", package: "[^"]+"\)"#, options: .regularExpression) {
            names.insert(String(list[product].split(separator: "\"")[1]))
            list.removeSubrange(product)
        }
        for part in list.split(separator: "\"", omittingEmptySubsequences: false).enumerated() where part.offset % 2 == 1 { names.insert(String(part.element)) }
        return names
    }

    @Test func theModelDependsOnNoServerDatabaseOrHTTPLibrary() throws {
        let allowed: Set<String> = ["Foundation", "ExtensionSDK", "GoferConfig", "Synchronization"]
        let wrong = try Self.imports(under: "Sources/Host/GoferModel").filter { !allowed.contains($0.module) }
        #expect(wrong.isEmpty, "GoferModel imports outside \(allowed.sorted()): \(wrong)")
        #expect(try Self.dependencies(of: "GoferModel") == ["ExtensionSDK", "GoferConfig"], "GoferModel's dependencies in Package.swift")
        let config = try Self.imports(under: "Sources/Host/GoferConfig").filter { !["Foundation", "ExtensionSDK", "Yams", "Synchronization"].contains($0.module) }
        #expect(config.isEmpty, "GoferConfig imports: \(config)")
        // The API's request types: shared by the server and the CLI, so nothing of the server.
        let api = try Self.imports(under: "Sources/Host/GoferAPIModels").filter { !["Foundation", "ExtensionSDK", "GoferConfig", "GoferModel"].contains($0.module) }
        #expect(api.isEmpty, "GoferAPIModels imports: \(api)")
        #expect(
            try Self.dependencies(of: "GoferAPIModels") == ["ExtensionSDK", "GoferConfig", "GoferModel"], "GoferAPIModels's dependencies in Package.swift")
    }

    /// The store: the database libraries and the model, nothing of HTTP, the server or the engine.
    /// Its SQL (`SQL/`) is the same for both backends: GRDB only in `SQLite/`, postgres-nio and
    /// its NIO parts only in `PostgreSQL/`.
    @Test func theStoreDependsOnTheModelAndTheDatabaseOnly() throws {
        let postgres: Set<String> = ["PostgresNIO", "NIOCore", "NIOPosix", "NIOSSL"]
        let common: Set<String> = ["Foundation", "ExtensionSDK", "GoferConfig", "GoferModel", "Logging", "Synchronization", "Crypto"]
        for (folder, allowed) in [("Repositories", common), ("SQL", common), ("SQLite", common.union(["GRDB"])), ("PostgreSQL", common.union(postgres))] {
            let wrong = try Self.imports(under: "Sources/Host/GoferStore/\(folder)").filter { !allowed.contains($0.module) }
            #expect(wrong.isEmpty, "GoferStore/\(folder) imports outside \(allowed.sorted()): \(wrong)")
        }
        let folders = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("Sources/Host/GoferStore").path)
        #expect(Set(folders) == ["Repositories", "SQL", "SQLite", "PostgreSQL"], "GoferStore's folders: \(folders)")
        #expect(
            try Self.dependencies(of: "GoferStore") == ["ExtensionSDK", "GoferConfig", "GoferModel", "GRDB", "Logging", "PostgresNIO", "NIOCore", "NIOPosix", "NIOSSL", "Crypto"],
            "GoferStore's dependencies in Package.swift")
        #expect(!(try Self.dependencies(of: "GoferHost").contains("GRDB")), "GoferHost depends on GRDB: SQL belongs in GoferStore")
    }

    /// The core (engine, extension hosts, secrets, objects, rollouts, trials, authentication): the store
    /// and the model below it; no HTTP library, no server, no `APIError` — it throws typed errors.
    @Test func theCoreKnowsNothingOfHTTP() throws {
        let allowed: Set<String> = [
            "Foundation", "Synchronization", "ExtensionSDK", "ExtensionSDKShims", "ExtensionClient", "GoferConfig", "GoferModel", "GoferAPIModels", "GoferStore",
            "GoferBuildInfo",
            "Glibc", "FoundationNetworking", "NIOCore", "Logging", "Crypto", "Metrics", "CoreMetrics", "Tracing",
        ]
        let wrong = try Self.imports(under: "Sources/Host/GoferCore").filter { !allowed.contains($0.module) }
        #expect(wrong.isEmpty, "GoferCore imports outside \(allowed.sorted()): \(wrong)")
        #expect(
            try Self.dependencies(of: "GoferCore") == [
                "ExtensionSDK", "ExtensionSDKShims", "ExtensionClient", "GoferConfig", "GoferModel", "GoferAPIModels", "GoferStore", "GoferBuildInfo", "NIOCore",
                "Logging", "Crypto",
                "Metrics", "Tracing",
            ], "GoferCore's dependencies in Package.swift")
        #expect(try Self.files(under: "Sources/Host/GoferCore", containing: "APIError").isEmpty, "APIError (an HTTP status) in the core")
    }

    /// GoferHTTP is the HTTP edge (the API's routes, the web UI, /metrics) and GoferHost the server's
    /// wiring: no SQL in either; `APIError` (HTTP statuses) nowhere below the edge.
    @Test func databaseAndHTTPStayInTheirLayers() throws {
        for upper in ["GoferHTTP", "GoferHost"] {
            let sql = try Self.imports(under: "Sources/Host/\(upper)").filter { $0.module == "GRDB" || $0.module == "PostgresNIO" }
            #expect(sql.isEmpty, "a database library in \(upper) (SQL belongs in GoferStore): \(sql)")
            #expect(!(try Self.dependencies(of: upper).contains("GRDB")), "\(upper) depends on GRDB: SQL belongs in GoferStore")
            #expect(!(try Self.dependencies(of: upper).contains("PostgresNIO")), "\(upper) depends on PostgresNIO: SQL belongs in GoferStore")
        }
        let host = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("Sources/Host/GoferHost").path)
        #expect(Set(host) == ["Server", "LowerLayers.swift"], "GoferHost holds the server's wiring only (routes belong in GoferHTTP, the rest in GoferCore): \(host)")
        for lower in ["Sources/Host/GoferModel", "Sources/Host/GoferStore", "Sources/Host/GoferAPIModels", "Sources/Host/GoferCore"] {
            #expect(try Self.files(under: lower, containing: "APIError").isEmpty, "APIError (an HTTP status) in \(lower)")
        }
        #expect(try Self.dependencies(of: "GoferHTTP").isSuperset(of: ["GoferCore", "Hummingbird"]), "GoferHTTP stands on the core and Hummingbird")
        #expect(!(try Self.dependencies(of: "GoferCore").contains("GoferHTTP")), "the core depends on the HTTP edge")
    }


    /// Route collections hold only the services they use: no handler reaches the whole server
    /// (`GoferAPI`), and none reaches the store beyond the repositories its collection names.
    @Test func routeCollectionsSeeOnlyTheirServices() throws {
        let routes = "Sources/Host/GoferHTTP/API/Routes"
        #expect(try Self.files(under: routes, containing: "GoferAPI").isEmpty, "a route collection sees GoferAPI")
        #expect(try Self.files(under: routes, containing: "any Store").isEmpty, "a route collection holds the whole store")
        let collections = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent(routes).path)
            .filter { $0.hasSuffix("Routes.swift") }
        #expect(collections.count >= 12)
        for file in collections {
            let text = try String(contentsOf: Self.root.appendingPathComponent(routes).appendingPathComponent(file), encoding: .utf8)
            #expect(text.contains("struct Services: RouteServices"), "\(file) declares no Services of its own")
        }
    }
    /// Swift files under `directory` whose text contains `word`.
    static func files(under directory: String, containing word: String) throws -> [String] {
        let base = root.appendingPathComponent(directory)
        guard let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil) else { return [] }
        var found: [String] = []
        for case let url as URL in walker where url.pathExtension == "swift" {
            if try String(contentsOf: url, encoding: .utf8).contains(word) { found.append(String(url.path.dropFirst(root.path.count + 1))) }
        }
        return found
    }

    /// Extensions build against the SDK only: never the host's modules.
    @Test func extensionsImportNothingOfTheHost() throws {
        let host: Set<String> = ["GoferHost", "GoferCore", "GoferModel", "GoferStore", "GoferAPIModels", "GoferConfig", "ExtensionClient", "GoferPipeline"]
        let wrong = try Self.imports(under: "Extensions").filter { host.contains($0.module) }
        #expect(wrong.isEmpty, "extensions importing host modules: \(wrong)")
    }
}
