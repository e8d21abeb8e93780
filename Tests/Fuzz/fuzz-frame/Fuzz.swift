import ExtensionSDK

/// Protocol frames as an extension or the host reads them: one line of bytes → a message or a
/// clear frame error, never a crash; the id sniffer on any prefix.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
        _ = try? Frame.decode(Array(line))
        _ = Frame.sniffID(in: Array(line.prefix(256)))
    }
    return 0
}
