import Foundation
import TestSupport
import Testing

/// Extension authors read the SDK's API through its documentation (the DocC catalog, Quick Help):
/// every public declaration, every case of a public enum and every requirement of a public
/// protocol has a doc comment.
struct DocumentationTests {
    /// `file:line: declaration` of each public declaration without a `///` comment right above it
    /// (attributes in between are fine).
    static func undocumented(in module: String) throws -> [String] {
        let root = BuiltProducts.repositoryRoot.appendingPathComponent("Sources/\(module)")
        let walker = try #require(FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil))
        var missing: [String] = []
        for case let url as URL in walker where url.pathExtension == "swift" {
            let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            var depth = 0
            var publicEnumDepths: [Int] = []
            var publicProtocolDepths: [Int] = []
            let requirements = ["func ", "var ", "static ", "init(", "init?(", "associatedtype ", "subscript"]
            for (i, line) in lines.enumerated() {
                let code = Self.code(line)
                let trimmed = code.trimmingCharacters(in: .whitespaces)
                let isPublicDecl = trimmed.hasPrefix("public ") && !trimmed.hasPrefix("public extension") && !trimmed.hasPrefix("public import")
                let isEnumCase =
                    publicEnumDepths.last == depth && trimmed.hasPrefix("case ") && !trimmed.hasSuffix(":")
                let isRequirement = publicProtocolDepths.last == depth && requirements.contains(where: trimmed.hasPrefix)
                // `public enum E { case a, b }` leaves its cases without a comment each.
                if trimmed.hasPrefix("public enum") || trimmed.hasPrefix("public indirect enum"), code.contains("{ case ") {
                    missing.append("\(url.lastPathComponent):\(i + 1): cases of \(trimmed.prefix(60)) (one line each, documented)")
                }
                if isPublicDecl || isEnumCase || isRequirement {
                    var j = i - 1
                    while j >= 0, lines[j].trimmingCharacters(in: .whitespaces).hasPrefix("@") { j -= 1 }
                    if j < 0 || !lines[j].trimmingCharacters(in: .whitespaces).hasPrefix("///") {
                        missing.append("\(url.lastPathComponent):\(i + 1): \(trimmed.prefix(90))")
                    }
                }
                let opens = code.filter { $0 == "{" }.count
                let closes = code.filter { $0 == "}" }.count
                if trimmed.hasPrefix("public enum") || trimmed.hasPrefix("public indirect enum"), opens > closes {
                    publicEnumDepths.append(depth + 1)
                }
                if trimmed.hasPrefix("public protocol"), opens > closes { publicProtocolDepths.append(depth + 1) }
                depth += opens - closes
                while let last = publicEnumDepths.last, depth < last { publicEnumDepths.removeLast() }
                while let last = publicProtocolDepths.last, depth < last { publicProtocolDepths.removeLast() }
            }
        }
        return missing.sorted()
    }

    /// The line without string literals and `//` comments, so their braces do not count.
    static func code(_ line: String) -> String {
        var out = ""
        var inString = false
        var escaped = false
        var previous: Character = " "
        for c in line {
            if inString {
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false }
                continue
            }
            if c == "\"" {
                inString = true
                continue
            }
            if c == "/" && previous == "/" {
                out.removeLast()
                break
            }
            out.append(c)
            previous = c
        }
        return out
    }

    /// The SDK, and the host end of the protocol that the conformance suite and hosts build on.
    @Test(arguments: ["ExtensionSDK", "ExtensionClient"])
    func everyPublicDeclarationIsDocumented(module: String) throws {
        let missing = try Self.undocumented(in: module)
        #expect(missing.isEmpty, "\(missing.count) public declarations of \(module) lack a /// comment:\n\(missing.joined(separator: "\n"))")
    }
}
