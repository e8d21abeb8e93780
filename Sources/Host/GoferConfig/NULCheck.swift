import ExtensionSDK

extension JSONValue {
    /// JSON Pointers of the strings (values or member names) that contain a NUL character, at
    /// most `limit` of them. NUL ends a C string: stored, it would silently cut a name short or
    /// fail much later (at a task's start); refused where it comes in, it is a clear error.
    public func pathsWithNUL(limit: Int = 20) -> [String] {
        var out: [String] = []
        func visit(_ v: JSONValue, _ path: String) {
            guard out.count < limit else { return }
            switch v {
            case .string(let s): if s.utf8.contains(0) { out.append(path) }
            case .array(let items): for (i, item) in items.enumerated() { visit(item, "\(path)/\(i)") }
            case .object(let members):
                for (k, item) in members.sorted(by: { $0.key < $1.key }) {
                    let child = path + "/" + k.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
                    if k.utf8.contains(0) { out.append(child) }
                    visit(item, child)
                }
            default: break
            }
        }
        visit(self, "")
        return out
    }
}
