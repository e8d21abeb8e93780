import Crypto
import ExtensionSDK
import GitHubWebhook

let secret = SymmetricKey(data: Array("fuzz-secret".utf8))

/// A GitHub delivery as the trigger handles it: signature check (half the inputs are signed
/// correctly, so the rest of the path is reached), JSON, the change for every event kind, filters
/// with branch and tag patterns taken from the input, run variables.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let body = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let header = data[0] & 1 == 0 ? WebhookSignature.header(for: body, secret: secret) : String(decoding: body.prefix(80), as: UTF8.self)
    guard WebhookSignature.isValid(header, body: body, secret: secret) else { return 0 }
    guard let payload = try? JSONParser().parse(body) else { return 0 }
    let patterns = (payload["patterns"]?.arrayValue ?? []).compactMap(\.stringValue).prefix(8)
    for event in ["push", "pull_request", "release", "ping", "issues"] {
        guard let change = Change(event: event, payload: payload) else { continue }
        let filter = ChangeFilter(
            repository: change.repository, events: ["push", "tag", "pull_request", "release"], branches: Array(patterns),
            tags: Array(patterns), actions: nil)
        _ = change.matches(filter)
        _ = change.variables(delivery: "fuzz")
    }
    for p in patterns { _ = Glob(p)?.matches(payload["ref"]?.stringValue ?? "") }
    return 0
}
