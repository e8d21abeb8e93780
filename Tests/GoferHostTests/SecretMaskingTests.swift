import Testing

@testable import GoferCore
@testable import GoferHost

/// What a task's log shows where a secret was printed.
struct SecretMaskingTests {
    func masked(_ output: String, values: [String]) -> String {
        var masker = SecretMasker(values: values.map { Array($0.utf8) })
        // Fed in small pieces, as a task's output arrives.
        var out: [UInt8] = []
        let bytes = Array(output.utf8)
        for start in stride(from: 0, to: bytes.count, by: 3) { out += masker.feed(Array(bytes[start..<min(start + 3, bytes.count)])) }
        out += masker.flush()
        return String(decoding: out, as: UTF8.self)
    }

    @Test func aValueEndingInANewlineNeverJoinsTwoLogLines() {
        // Stored with --keep-trailing-newline (or before one was dropped): printed with echo, the
        // value's newline and echo's follow it.
        #expect(masked("token: s3cr3t-v4lue\n\nnext line\n", values: ["s3cr3t-v4lue\n"]) == "token: ********\n\nnext line\n")
        #expect(masked("a s3cr3t-v4lue\r\nb\n", values: ["s3cr3t-v4lue\r\n"]) == "a ********\r\nb\n")
    }

    @Test func aMultiLineValueIsMaskedLineByLineWithItsLinesKept() {
        let key = "-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34GkxFhD9\n-----END KEY-----\n"
        #expect(
            masked("loaded:\n" + key + "done\n", values: [key])
                == "loaded:\n********\n********\n********\ndone\n")
        // One line of it on its own is masked too.
        #expect(masked("MIIBOgIBAAJBAKj34GkxFhD9 seen\n", values: [key]) == "******** seen\n")
    }
}
