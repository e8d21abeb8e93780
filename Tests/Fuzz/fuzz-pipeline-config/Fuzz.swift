import GoferConfig

/// The pipeline config loader in all three formats (the first byte picks one): never crashes,
/// never hangs (alias bombs, deep nesting), and what it accepts survives its canonical form.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let formats: [PipelineConfigLoader.Format] = [.yaml, .json, .toml]
    let format = formats[Int(data[0]) % formats.count]
    let text = String(decoding: UnsafeBufferPointer(start: data + 1, count: size - 1), as: UTF8.self)
    guard let (config, _) = try? PipelineConfigLoader().loadLocated(text, file: "fuzz", format: format) else { return 0 }
    guard let canonical = try? config.canonicalJSON(), let again = try? PipelineConfig.fromCanonical(canonical) else {
        fatalError("an accepted config has no canonical form: \(config)")
    }
    if again != config { fatalError("canonical round trip changed the config") }
    _ = config.topologicalOrder
    return 0
}
