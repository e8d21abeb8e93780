import Foundation
import GoferHost
import Testing

/// Bad pipeline configs get every problem at once, each with file, line and field path.
struct PipelineConfigLoaderTests {
    let loader = PipelineConfigLoader()

    func problems(_ yaml: String, file: String = "p.yaml") -> [ConfigProblem] {
        do {
            _ = try loader.load(yaml, file: file)
            return []
        } catch {
            return error.problems
        }
    }

    /// The id check the API runs on every request says what the schema's pattern says (a drift
    /// test: the pattern is what users read in the schema).
    @Test func theIdCheckAgreesWithThePattern() throws {
        var samples = ["", "a", "0", "-a", "_a", "a-", "a_b", "A", "aB", "é", "a.b", "a b", "a/b", "default", "x\u{0}",
            String(repeating: "a", count: 63), String(repeating: "a", count: 64), "9" + String(repeating: "-", count: 62)]
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("az09-_A.é/ ")
        for _ in 0..<2000 { samples.append(String((0..<Int.random(in: 0...66, using: &rng)).map { _ in alphabet.randomElement(using: &rng) ?? "a" })) }
        for s in samples {
            let byPattern = s.range(of: PipelineConfigLoader.idPattern, options: .regularExpression) != nil
            #expect(PipelineConfigLoader.isIdentifier(s) == byPattern, "\(s.debugDescription)")
        }
    }

    /// Nine problems of every sort in one file: the shape (unknown field, pattern, type) does not
    /// hide the meaning (cycle, dangling dependency, duration, memory, reserved name, plain password).
    static let nineProblems = """
        id: Bad Name
        colour: blue
        tasks:
          - id: build
            image: busybox:latest
            timeout: soon
            depends_on: [test]
          - id: test
            image: busybox:latest
            memory: lots
            depends_on: [build]
          - id: deploy
            image: busybox:latest
            depends_on: [ghost]
            env: { GOFER_TOKEN: x }
            registry_auth: { username: me, password: hunter2 }
            cpu: many
        """

    @Test func aFileWithNineProblemsListsAllNineInFileOrder() {
        let found = problems(Self.nineProblems)
        #expect(found.count == 9, "\(found.map(\.description).joined(separator: "\n"))")
        let expected: [(Int, String)] = [
            (1, "/id"), (2, "/colour"), (6, "/tasks/0/timeout"), (7, "/tasks/0/depends_on"), (10, "/tasks/1/memory"),
            (14, "/tasks/2/depends_on"), (15, "/tasks/2/env/GOFER_TOKEN"), (16, "/tasks/2/registry_auth/password"), (17, "/tasks/2/cpu"),
        ]
        for (line, path) in expected {
            #expect(found.contains { $0.line == line && $0.path.hasPrefix(path) && $0.column != nil }, "\(path) at line \(line): \(found.map(\.description))")
        }
        #expect(found.map { $0.line ?? 0 } == found.map { $0.line ?? 0 }.sorted(), "in the order of the file")
    }

    @Test func jsonConfigsGetLinesAndColumnsToo() {
        let json = """
            {
              "id": "p",
              "tasks": [
                {"id": "a", "image": "busybox:latest", "timeout": "soon"},
                {"id": "b", "image": "busybox:latest",
                 "depends_on": ["nope"]}
              ]
            }
            """
        let found = problems(json, file: "p.json")
        #expect(found.count == 2, "\(found)")
        #expect(found.contains { $0.path == "/tasks/0/timeout" && $0.line == 4 && $0.column == 55 }, "\(found.map(\.description))")
        #expect(found.contains { $0.path == "/tasks/1/depends_on" && $0.line == 6 && $0.column == 20 }, "\(found.map(\.description))")
    }

    @Test func theExamplePipelineLoads() throws {
        let text = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/hello.yaml"),
            encoding: .utf8)
        let config = try loader.load(text, file: "hello.yaml")
        #expect(config.tasks.map(\.id) == ["greet", "count", "inspect", "summary"])
        #expect(config.task("summary")?.dependsOn == ["count": .any, "inspect": .any])
        #expect(config.task("count")?.timeoutSeconds == 600)
    }

    @Test func reportsAllStructuralProblemsWithLines() {
        let p = problems(
            """
            id: bad
            colour: blue
            tasks:
              - id: a
                image: ""
                timout: 5m
              - id: b
            """)
        let byPath = Dictionary(p.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byPath["/colour"]?.line == 2, "\(p)")
        #expect(byPath["/colour"]?.message.contains("unknown field") == true)
        #expect(byPath["/tasks/0/image"]?.line == 5)
        #expect(byPath["/tasks/0/timout"]?.line == 6)
        #expect(byPath["/tasks/1/image"]?.message.hasPrefix("required field is missing: give image") == true, "\(p)")
        #expect(byPath["/tasks/1/image"]?.line == 7)
        #expect(p.allSatisfy { $0.file == "p.yaml" })
        #expect(p.first.map { "\($0)" }?.hasPrefix("p.yaml:") == true)
    }

    @Test func reportsCyclesDanglingDuplicatesAndBadDurationsTogether() {
        let p = problems(
            """
            id: graph
            tasks:
              - { id: a, image: x, depends_on: [c] }
              - { id: b, image: x, depends_on: [a] }
              - { id: c, image: x, depends_on: [b] }
              - { id: d, image: x, depends_on: [ghost], timeout: soon }
              - { id: a, image: x, timeout: 1s }
              - { id: e, image: x, timeout: 9h, memory: lots }
            """)
        let text = p.map(\.description).joined(separator: "\n")
        #expect(text.contains("duplicate task id \"a\""), "\(text)")
        #expect(text.contains("unknown task \"ghost\""), "\(text)")
        #expect(text.contains("dependency cycle: a → c → b → a") || text.contains("dependency cycle"), "\(text)")
        #expect(text.contains("\"soon\" is not a duration"), "\(text)")
        #expect(text.contains("1s is outside the allowed range 5m–8h"), "\(text)")
        #expect(text.contains("9h is outside the allowed range"), "\(text)")
        #expect(text.contains("\"lots\" is not a memory size"), "\(text)")
        #expect(p.first { $0.message.contains("ghost") }?.line == 6)
    }

    @Test func taskIdsCannotEscapeTheirDirectory() {
        let p = problems("id: x\ntasks:\n  - { id: ../../etc, image: x }\n")
        #expect(p.first?.path == "/tasks/0/id", "\(p)")
        #expect(p.first?.message.contains("does not match the pattern") == true)
    }

    @Test func invalidYAMLNamesTheLine() {
        let p = problems("id: x\ntasks:\n  - { id: a, image: [unclosed\n")
        #expect(p.count == 1)
        #expect(p.first?.line != nil && p.first?.message.hasPrefix("invalid YAML") == true, "\(p)")
    }

    @Test func duplicateYAMLKeysAreRefused() {
        let p = problems("id: x\nid: y\ntasks: []\n")
        #expect(p.first?.message.contains("duplicate key") == true, "\(p)")
    }

    @Test func hugeConfigsAreRefusedBeforeParsing() {
        let big = "id: x\ntasks:\n" + String(repeating: "# padding padding padding padding padding padding\n", count: 1_100_000)
        let p = problems(big)
        #expect(p.first?.message.contains("the limit is 1048576 bytes") == true, "\(p)")
    }

    @Test func yamlScalarsKeepTheirTextWhereStringsAreExpected() throws {
        let config = try loader.load(
            "id: x\ntasks:\n  - id: a\n    image: busybox:1.10\n    env: { V: 1.10, Y: yes, O: 0755, N: null }\n    command: [echo, 1.10]\n",
            file: "x.yaml")
        #expect(config.tasks[0].env == ["V": "1.10", "Y": "yes", "O": "0755", "N": "null"])
        #expect(config.tasks[0].command == ["echo", "1.10"])
    }

    @Test func jsonConfigsLoadToTheSameModel() throws {
        let yaml = try loader.load("id: j\ntasks:\n  - { id: a, image: x, depends_on: [] }\n", file: "j.yaml")
        let json = try loader.load(#"{"id":"j","tasks":[{"id":"a","image":"x","depends_on":[]}]}"#, file: "j.json")
        #expect(yaml == json)
        let bad = problems(#"{"id":"j","tasks":[{"id":"a","image":"x"},]}"#, file: "j.json")
        #expect(bad.first?.line == 1 && bad.first?.message.hasPrefix("invalid JSON") == true, "\(bad)")
    }

    @Test func reservedEnvironmentNamesAreRefused() {
        let p = problems("id: x\ntasks:\n  - { id: a, image: x, env: { GOFER_RUN: '1' } }\n")
        #expect(p.first?.message.contains("reserved") == true, "\(p)")
    }
}

/// TOML decodes to the same model as YAML, with lines in errors.
struct TOMLConfigTests {
    let loader = PipelineConfigLoader()

    @Test func tomlAndYAMLGiveTheSameConfig() throws {
        let yaml = try loader.load(
            """
            id: same
            name: Same pipeline
            parallelism: 2
            tasks:
              - id: build
                image: busybox:latest
                command: ["sh", "-c", "echo 'hi'"]
                env: { A: "1", B: two }
                timeout: 30m
              - id: test
                image: busybox:latest
                depends_on: { build: success }
                memory: 256MB
            """, file: "same.yaml")
        let toml = try loader.load(
            """
            # the same pipeline in TOML
            id = "same"
            name = "Same pipeline"
            parallelism = 2

            [[tasks]]
            id = "build"
            image = "busybox:latest"
            command = ["sh", "-c", "echo 'hi'"]
            env = { A = "1", B = 'two' }
            timeout = "30m"

            [[tasks]]
            id = "test"
            image = "busybox:latest"
            depends_on = { build = "success" }
            memory = "256MB"
            """, file: "same.toml")
        #expect(yaml == toml)
    }

    @Test func tomlProblemsCarryLines() {
        do {
            _ = try loader.load("id = \"t\"\n\n[[tasks]]\nid = \"a\"\nimage = \"x\"\ncolour = \"blue\"\n", file: "t.toml")
            Issue.record("should fail")
        } catch {
            #expect(error.problems.first?.path == "/tasks/0/colour")
            #expect(error.problems.first?.line == 6, "\(error)")
        }
        do {
            _ = try loader.load("id = \"t\"\nid = \"u\"\n", file: "t.toml")
            Issue.record("should fail")
        } catch {
            #expect(error.problems.first?.line == 2 && error.problems.first?.message.contains("set twice") == true, "\(error)")
        }
        do {
            _ = try loader.load("id = t\n", file: "t.toml")
            Issue.record("should fail")
        } catch {
            #expect(error.problems.first?.message.contains("strings need quotes") == true, "\(error)")
        }
    }
}
