import ExtensionSDK
import Testing

struct JSONParserTests {
    let parser = JSONParser()

    @Test(arguments: [
        (#"{"a":[1,2.5,"x",true,false,null],"b":{}}"#, JSONValue.object(["a": [1, 2.5, "x", true, false, nil], "b": [:]])),
        (#"9007199254740991"#, .int(9_007_199_254_740_991)),
        (#""ü-ß-🙂\n\u00e9\ud83d\ude42""#, .string("ü-ß-🙂\né🙂")),
        ("  [ ]  ", .array([])),
        ("-0.5e2", .double(-50)),
    ])
    func parsesValidJSON(_ text: String, _ expected: JSONValue) throws {
        #expect(try parser.parse(text) == expected)
    }

    @Test(arguments: [
        (#"{"a":1,"a":2}"#, "duplicate key"), (#"{"a":1"#, "end of input"), ("01", "leading zeros"), ("1e400", "out of range"),
        (#""\ud800""#, "surrogate"), ("[1,]", "unexpected character"), ("{} x", "after the JSON value"), (#""a\qb""#, "invalid escape"),
        ("\"tab\there\"", "control character"), ("tru", "end of input"), ("trux", "literal"),
    ])
    func rejectsInvalidJSONWithAReason(_ text: String, _ reason: String) {
        #expect(throws: JSONParseError.self) { try parser.parse(text) }
        do {
            _ = try parser.parse(text)
        } catch {
            #expect(error.reason.contains(reason), "\(text): \(error)")
        }
    }

    @Test func rejectsInvalidUTF8AndDeepNesting() {
        #expect(throws: JSONParseError.self) { try parser.parse([0x22, 0xFF, 0x22]) }
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try parser.parse(deep) }
    }

    @Test func serializesCompactlyWithSortedKeysAndNoRawNewlines() throws {
        let value: JSONValue = ["b": "line1\nline2\u{1}", "a": [1, 2.5, nil]]
        let text = value.description
        #expect(text == #"{"a":[1,2.5,null],"b":"line1\nline2\u0001"}"#)
        #expect(!text.contains("\n"))
        #expect(try parser.parse(text) == value)
    }

    @Test func codableBridgeNamesTheFieldThatIsWrong() {
        struct Spec: Decodable { var image: String; var count: Int }
        do {
            _ = try JSONCodec.decode(Spec.self, from: ["image": "x", "count": "three"])
            Issue.record("decoding should fail")
        } catch let error as ProtocolError {
            #expect(error.code == .invalidParams)
            #expect(error.diagnostics.first?.path == "/count")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}

struct JSONSchemaTests {
    let schema = JSONSchema.object(
        [
            "every": .string(minLength: 1), "count": .integer(minimum: 1, maximum: 10), "mode": .string(enum: ["a", "b"]),
            "env": .map(of: .string()), "token": .string(writeOnly: true),
        ], required: ["every"])

    @Test func reportsEveryProblemWithItsPath() {
        let problems = schema.validate(["count": 0, "mode": "c", "env": ["X": 1], "zz": true], basePath: "/params")
        let paths = Set(problems.map(\.path))
        #expect(paths == ["/params/every", "/params/count", "/params/mode", "/params/env/X", "/params/zz"], "\(problems)")
        #expect(problems.first { $0.path == "/params/zz" }?.message.contains("unknown field") == true)
    }

    @Test func acceptsValidInputAndFindsSensitiveFields() {
        #expect(schema.validate(["every": "5m", "count": 3, "mode": "a", "env": ["X": "1"]]).isEmpty)
        #expect(schema.sensitivePaths == ["/token"])
    }
}
