import ExtensionSDK
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// registry/index.json lists every in-repo extension, and agrees with each binary's manifest.
struct RegistryTests {
    func describe(_ binary: String) async throws -> JSONValue {
        try JSONParser().parse(try await ChildProcess.run(BuiltProducts.path(binary), arguments: ["--describe"]).stdout)
    }

    @Test func everyExtensionIsListedAndMatchesItsManifest() async throws {
        let root = BuiltProducts.repositoryRoot
        let index = try JSONParser().parse(try Data(contentsOf: root.appendingPathComponent("registry/index.json")))
        let entries = index["extensions"]?.arrayValue ?? []
        var products: Set<String> = []
        for entry in entries {
            for version in entry["versions"]?.arrayValue ?? [] {
                guard let product = version["source"]?["buildProduct"]?.stringValue else {
                    Issue.record("\(entry["name"] ?? .null): a version without a source")
                    continue
                }
                products.insert(product)
                let manifest = try await describe(product)
                #expect(manifest["name"] == entry["name"], "\(product)")
                #expect(manifest["kind"] == entry["kind"], "\(product)")
                #expect(manifest["version"] == version["version"], "\(product)")
                #expect(manifest["protocolVersions"] == version["protocolVersions"], "\(product)")
            }
        }
        // Every extension target of the package is in the registry.
        let package = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let regex = try NSRegularExpression(pattern: #"name: "(gofer-(?:scheduler|trigger|task|secrets)-[a-z-]+)""#)
        let declared = Set(
            regex.matches(in: package, range: NSRange(package.startIndex..., in: package)).compactMap {
                Range($0.range(at: 1), in: package).map { String(package[$0]) }
            })
        #expect(declared.count >= 6, "found \(declared.sorted()) in Package.swift")
        #expect(declared.subtracting(products).isEmpty, "not in registry/index.json: \(declared.subtracting(products).sorted())")
    }
}
