import ExtensionSDK

/// The strict JSON parser (protocol frames, API bodies, JSON configs): never crashes, and what it
/// accepts serializes to text that parses back and serializes the same (integral doubles are
/// written as integers, so the value itself may come back as an int).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let value = try? JSONParser().parse(bytes) else { return 0 }
    let text = value.serialized()
    guard let again = try? JSONParser().parse(text) else { fatalError("serialized output does not parse: \(String(decoding: text, as: UTF8.self))") }
    if again.serialized() != text { fatalError("serialization is not stable: \(value) → \(again)") }
    return 0
}
