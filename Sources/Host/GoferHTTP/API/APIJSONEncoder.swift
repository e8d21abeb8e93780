import ExtensionSDK
import Foundation
import Synchronization

/// Encodes API answers exactly as ``APIAnswer/encoder`` (Foundation's `JSONEncoder` with snake_case
/// keys, sorted keys, RFC 3339 dates with milliseconds and unescaped slashes) does, in a fraction of the time: it
/// builds a small tree and writes bytes, without Foundation's generic boxing, and converts each
/// coding key to snake_case once per process (by asking Foundation, so the conversion is its own).
///
/// The busiest read routes (the run list, a run) use it; `APIJSONEncoderTests` compares its
/// output byte for byte with Foundation's for every type they answer with.
public struct APIJSONEncoder: Sendable {
    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        try Self.node(value).write(to: &out)
        return out
    }

    static func node<T: Encodable>(_ value: T) throws -> JSONNode {
        switch value {
        case let date as Date: return .string(RFC3339.format(date))
        case let url as URL: return .string(url.absoluteString)
        case let dictionary as any StringKeyedEncodable: return .object(try dictionary.stringKeyedNodes())
        default:
            let encoder = NodeEncoder()
            try value.encode(to: encoder)
            return encoder.root?.resolved ?? .object(NodeObject())
        }
    }

    private static let snakeKeys = Mutex<[String: String]>([:])

    /// The key as Foundation's `.convertToSnakeCase` writes it, computed by Foundation once per key.
    static func snakeCase(_ key: String) -> String {
        if let known = snakeKeys.withLock({ $0[key] }) { return known }
        let converted = foundationSnakeCase(key)
        snakeKeys.withLock { $0[key] = converted }
        return converted
    }

    private static func foundationSnakeCase(_ key: String) -> String {
        struct One: Encodable {
            let key: String
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: NodeKey.self)
                try c.encode(0, forKey: NodeKey(key))
            }
        }
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        guard let data = try? encoder.encode(One(key: key)),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let converted = object.keys.first
        else { return key }
        return converted
    }
}

/// A dictionary keyed by strings: Foundation writes its keys as they are (no snake_case).
protocol StringKeyedEncodable {
    func stringKeyedNodes() throws -> NodeObject
}

extension Dictionary: StringKeyedEncodable where Key == String, Value: Encodable {
    func stringKeyedNodes() throws -> NodeObject {
        let object = NodeObject()
        for (k, v) in self { object.pairs.append((k, .value(try APIJSONEncoder.node(v)))) }
        return object
    }
}

/// The tree an answer is built into. Containers are classes so a nested container handed out
/// earlier still fills the right place.
indirect enum JSONNode {
    case null, bool(Bool), number(String), string(String), object(NodeObject), array(NodeArray)

    func write(to out: inout [UInt8]) throws {
        switch self {
        case .null: out += Array("null".utf8)
        case .bool(let b): out += Array((b ? "true" : "false").utf8)
        case .number(let n): out += Array(n.utf8)
        case .string(let s): Self.writeString(s, to: &out)
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            for (i, pair) in o.pairs.sorted(by: { $0.0 < $1.0 }).enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.writeString(pair.0, to: &out)
                out.append(UInt8(ascii: ":"))
                try pair.1.resolved.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, item) in a.items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                try item.resolved.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
    }

    static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out += [0x5C, 0x22]
            case UInt8(ascii: "\\"): out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0x08: out += [0x5C, UInt8(ascii: "b")]
            case 0x0C: out += [0x5C, UInt8(ascii: "f")]
            case 0..<0x20: out += [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]]
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// A place in the tree: a value, or an encoder whose value is read when the tree is written.
enum NodeSlot {
    case value(JSONNode)
    case encoder(NodeEncoder)

    var resolved: JSONNode {
        switch self {
        case .value(let n): return n
        case .encoder(let e): return e.root?.resolved ?? .object(NodeObject())
        }
    }
}

final class NodeObject {
    var pairs: [(String, NodeSlot)] = []
}

final class NodeArray {
    var items: [NodeSlot] = []
}

struct NodeKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { stringValue = String(intValue) }
}

final class NodeEncoder: Encoder {
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var root: NodeSlot?

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .value(.object(let existing)) = root { return KeyedEncodingContainer(KeyedNodes(object: existing)) }
        let object = NodeObject()
        root = .value(.object(object))
        return KeyedEncodingContainer(KeyedNodes(object: object))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .value(.array(let existing)) = root { return UnkeyedNodes(array: existing) }
        let array = NodeArray()
        root = .value(.array(array))
        return UnkeyedNodes(array: array)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleNode(encoder: self) }
}

enum NodeValue {
    static func number<N: BinaryInteger>(_ n: N) -> JSONNode { .number(String(n)) }

    static func number(_ d: Double, _ path: [any CodingKey]) throws -> JSONNode {
        guard d.isFinite else {
            throw EncodingError.invalidValue(d, .init(codingPath: path, debugDescription: "\(d) is not a JSON number"))
        }
        if d == d.rounded(), abs(d) < 1e15 { return .number(String(Int64(d))) }
        return .number("\(d)")
    }
}

struct KeyedNodes<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let object: NodeObject
    var codingPath: [any CodingKey] { [] }

    func put(_ node: JSONNode, _ key: Key) { object.pairs.append((APIJSONEncoder.snakeCase(key.stringValue), .value(node))) }

    mutating func encodeNil(forKey key: Key) throws { put(.null, key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { put(.bool(value), key) }
    mutating func encode(_ value: String, forKey key: Key) throws { put(.string(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { put(try NodeValue.number(value, [key]), key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { put(try NodeValue.number(Double(value), [key]), key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { put(NodeValue.number(value), key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { put(NodeValue.number(value), key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { put(NodeValue.number(value), key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { put(NodeValue.number(value), key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { put(NodeValue.number(value), key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { put(NodeValue.number(value), key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { put(NodeValue.number(value), key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { put(NodeValue.number(value), key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { put(NodeValue.number(value), key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { put(NodeValue.number(value), key) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { put(try APIJSONEncoder.node(value), key) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey>
    {
        let child = NodeObject()
        put(.object(child), key)
        return KeyedEncodingContainer(KeyedNodes<NestedKey>(object: child))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = NodeArray()
        put(.array(child), key)
        return UnkeyedNodes(array: child)
    }

    mutating func superEncoder() -> any Encoder { superEncoderNamed("super") }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        let encoder = NodeEncoder()
        object.pairs.append((APIJSONEncoder.snakeCase(key.stringValue), .encoder(encoder)))
        return encoder
    }

    private mutating func superEncoderNamed(_ name: String) -> any Encoder {
        let encoder = NodeEncoder()
        object.pairs.append((name, .encoder(encoder)))
        return encoder
    }
}

struct UnkeyedNodes: UnkeyedEncodingContainer {
    let array: NodeArray
    var codingPath: [any CodingKey] { [] }
    var count: Int { array.items.count }

    func add(_ node: JSONNode) { array.items.append(.value(node)) }

    mutating func encodeNil() throws { add(.null) }
    mutating func encode(_ value: Bool) throws { add(.bool(value)) }
    mutating func encode(_ value: String) throws { add(.string(value)) }
    mutating func encode(_ value: Double) throws { add(try NodeValue.number(value, [])) }
    mutating func encode(_ value: Float) throws { add(try NodeValue.number(Double(value), [])) }
    mutating func encode(_ value: Int) throws { add(NodeValue.number(value)) }
    mutating func encode(_ value: Int64) throws { add(NodeValue.number(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws { add(try APIJSONEncoder.node(value)) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let child = NodeObject()
        add(.object(child))
        return KeyedEncodingContainer(KeyedNodes<NestedKey>(object: child))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let child = NodeArray()
        add(.array(child))
        return UnkeyedNodes(array: child)
    }

    mutating func superEncoder() -> any Encoder {
        let encoder = NodeEncoder()
        array.items.append(.encoder(encoder))
        return encoder
    }
}

struct SingleNode: SingleValueEncodingContainer {
    let encoder: NodeEncoder
    var codingPath: [any CodingKey] { [] }

    func set(_ node: JSONNode) { encoder.root = .value(node) }

    mutating func encodeNil() throws { set(.null) }
    mutating func encode(_ value: Bool) throws { set(.bool(value)) }
    mutating func encode(_ value: String) throws { set(.string(value)) }
    mutating func encode(_ value: Double) throws { set(try NodeValue.number(value, [])) }
    mutating func encode(_ value: Float) throws { set(try NodeValue.number(Double(value), [])) }
    mutating func encode(_ value: Int) throws { set(NodeValue.number(value)) }
    mutating func encode(_ value: Int8) throws { set(NodeValue.number(value)) }
    mutating func encode(_ value: Int16) throws { set(NodeValue.number(value)) }
    mutating func encode(_ value: Int32) throws { set(NodeValue.number(value)) }
    mutating func encode(_ value: Int64) throws { set(NodeValue.number(value)) }
    mutating func encode(_ value: UInt) throws { set(NodeValue.number(value)) }
    mutating func encode(_ value: UInt8) throws { set(NodeValue.number(value)) }
    mutating func encode(_ value: UInt16) throws { set(NodeValue.number(value)) }
    mutating func encode(_ value: UInt32) throws { set(NodeValue.number(value)) }
    mutating func encode(_ value: UInt64) throws { set(NodeValue.number(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws { set(try APIJSONEncoder.node(value)) }
}
