import ExtensionSDK

@main
struct HelloTrigger: Trigger {
    static let manifest = Manifest(
        name: "hello", version: "1.0.0", summary: "Fires every few seconds.",
        params: .object(["seconds": .integer(minimum: 1)], required: ["seconds"]))

    struct Params: Decodable, Sendable { var seconds: Int }

    init(config: NoConfig, context: ExtensionContext) {}

    func subscribe(_ subscription: Subscription<Params>) async throws {
        var count = Int(subscription.cursor ?? "") ?? 0
        while true {
            try await Task.sleep(for: .seconds(subscription.params.seconds))
            count += 1
            try await subscription.emit(eventID: "\(subscription.id)-\(count)", cursor: "\(count)")
        }
    }
}
