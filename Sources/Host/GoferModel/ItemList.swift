import Foundation

/// A whole list the API answers with, not paged: `{"items": […]}`. The server encodes it and the
/// CLI decodes it (paged lists are ``Page``).
public struct ItemList<Item: Codable & Sendable>: Codable, Sendable {
    public var items: [Item]

    /// The list `items`.
    public init(items: [Item]) { self.items = items }
}
