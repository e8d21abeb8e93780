/// Where each value of a JSON text starts (line and column, 1-based), by JSON Pointer: the
/// locations of a JSON pipeline config's problems. The text has already been parsed, so the scan
/// only follows structure and skips what it does not need.
enum JSONPositions {
    static func marks(in text: String) -> [String: (Int, Int)] {
        var marks: [String: (Int, Int)] = [:]
        let bytes = Array(text.utf8)
        var i = 0
        var line = 1
        var lineStart = 0
        /// Open containers: the pointer of each, and the next array index or the pending key.
        var stack: [(path: String, isArray: Bool, index: Int, key: String?)] = []
        var expectingValue = true

        func column() -> Int { i - lineStart + 1 }
        func escape(_ key: String) -> String {
            key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
        }
        /// The pointer of the value starting here.
        func currentPath() -> String {
            guard let top = stack.last else { return "" }
            return top.isArray ? "\(top.path)/\(top.index)" : "\(top.path)/\(escape(top.key ?? ""))"
        }
        func readString() -> String {
            var out: [UInt8] = []
            i += 1  // opening quote
            while i < bytes.count && bytes[i] != 0x22 {
                if bytes[i] == 0x5C, i + 1 < bytes.count {
                    let e = bytes[i + 1]
                    switch e {
                    case 0x6E: out.append(0x0A)
                    case 0x74: out.append(0x09)
                    case 0x75 where i + 5 < bytes.count:
                        // \uXXXX: enough for keys; surrogate pairs are kept apart (keys rarely use them).
                        if let scalar = UInt32(String(decoding: bytes[(i + 2)...(i + 5)], as: UTF8.self), radix: 16).flatMap(Unicode.Scalar.init) {
                            out += Array(String(Character(scalar)).utf8)
                        }
                        i += 4
                    default: out.append(e)
                    }
                    i += 2
                    continue
                }
                out.append(bytes[i])
                i += 1
            }
            i += 1  // closing quote
            return String(decoding: out, as: UTF8.self)
        }

        while i < bytes.count {
            let c = bytes[i]
            switch c {
            case 0x0A:
                line += 1
                i += 1
                lineStart = i
            case 0x20, 0x09, 0x0D:
                i += 1
            case 0x3A:  // ':' after a key
                expectingValue = true
                i += 1
            case 0x2C:  // ','
                if var top = stack.popLast() {
                    if top.isArray {
                        top.index += 1
                        expectingValue = true
                    } else {
                        top.key = nil
                        expectingValue = false
                    }
                    stack.append(top)
                }
                i += 1
            case 0x7B, 0x5B:  // '{' '['
                let path = currentPath()
                marks[path] = (line, column())
                stack.append((path, c == 0x5B, 0, nil))
                expectingValue = c == 0x5B
                i += 1
            case 0x7D, 0x5D:  // '}' ']'
                _ = stack.popLast()
                expectingValue = false
                i += 1
            case 0x22:
                if let top = stack.last, !top.isArray, top.key == nil, !expectingValue {
                    let key = readString()
                    stack[stack.count - 1].key = key
                } else {
                    marks[currentPath()] = (line, column())
                    _ = readString()
                    expectingValue = false
                }
            default:
                // A number, true, false or null.
                marks[currentPath()] = (line, column())
                while i < bytes.count, ![0x2C, 0x7D, 0x5D, 0x0A, 0x20, 0x09, 0x0D].contains(bytes[i]) { i += 1 }
                expectingValue = false
            }
        }
        return marks
    }
}
