import Foundation

extension JSONValue {
    /// Compact JSON bytes: no insignificant white space, object keys sorted (so equal values
    /// serialize identically), and every control character escaped, so the output never contains
    /// a raw newline and is always one protocol frame.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        write(to: &out)
        return out
    }

    /// Appends the compact JSON form of this value to `out`.
    public func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
        case .bool(let b): out.append(contentsOf: Array((b ? "true" : "false").utf8))
        case .int(let i): out.append(contentsOf: Array(String(i).utf8))
        case .double(let d):
            if d.isFinite {
                if d.rounded() == d && abs(d) < 1e15 {
                    out.append(contentsOf: Array(String(Int64(d)).utf8))
                } else {
                    out.append(contentsOf: Array("\(d)".utf8))
                }
            } else {
                out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])  // JSON has no infinities
            }
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, e) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                e.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            var first = true
            for key in o.keys.sorted() {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                JSONValue.writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                o[key].unsafelyUnwrapped.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `s` as a quoted, escaped JSON string.
    public static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(0x22)
        var s = s
        s.withUTF8 { bytes in
            // Copy runs of bytes that need no escaping in bulk: log chunks are mostly such runs.
            var runStart = 0
            var i = 0
            let n = bytes.count
            while i < n {
                i = firstJSONSpecialByte(bytes, from: i, to: n)
                if i == n { break }
                let b = bytes[i]
                if i > runStart { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i])) }
                switch b {
                case 0x22: out.append(0x5C); out.append(0x22)
                case 0x5C: out.append(0x5C); out.append(0x5C)
                case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
                case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
                default: out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]])
                }
                i += 1
                runStart = i
            }
            if n > runStart { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<n])) }
        }
        out.append(0x22)
    }
}

// MARK: - Codable bridge

/// Converts between ``JSONValue`` and `Codable` types, for typed handler parameters and results.
public enum JSONCodec {
    /// Decodes `T` from `value`. Errors name the JSON Pointer of the offending field.
    public static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        let decoder = JSONDecoder()
        do {
            return try decoder.decode(T.self, from: Data(value.serialized()))
        } catch let error as DecodingError {
            throw ProtocolError.invalidParams(diagnostics: [Diagnostic(decodingError: error)])
        }
    }

    /// Encodes `value` as a ``JSONValue``.
    public static func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .rfc3339Milliseconds
        let data = try encoder.encode(value)
        return try JSONParser(maxDepth: 512).parse(data)
    }
}

extension Diagnostic {
    /// A diagnostic that points at the field a `DecodingError` complains about.
    public init(decodingError: DecodingError) {
        func pointer(_ path: [any CodingKey]) -> String {
            path.map { key in
                "/"
                    + (key.intValue.map(String.init) ?? key.stringValue)
                    .replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
            }.joined()
        }
        switch decodingError {
        case .keyNotFound(let key, let ctx):
            self.init(path: pointer(ctx.codingPath + [key]), message: "required field is missing")
        case .typeMismatch(let type, let ctx):
            self.init(path: pointer(ctx.codingPath), message: "expected \(Diagnostic.jsonTypeName(type))")
        case .valueNotFound(let type, let ctx):
            self.init(path: pointer(ctx.codingPath), message: "expected \(Diagnostic.jsonTypeName(type)), found null")
        case .dataCorrupted(let ctx):
            self.init(path: pointer(ctx.codingPath), message: ctx.debugDescription)
        @unknown default:
            self.init(path: "", message: "\(decodingError)")
        }
    }

    static func jsonTypeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "a boolean"
        case is Int.Type, is Int64.Type, is Int32.Type, is UInt.Type, is UInt64.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        default:
            let name = "\(type)"
            if name.hasPrefix("Array") || name.hasPrefix("[") { return "an array" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "an object (\(name))"
        }
    }
}
