import Foundation

/// How an error reads for people — in a log line, an error message sent to the host, a state
/// reason, the CLI — decided in one place, so a protocol error shows its diagnostics and a decoding
/// error the path that was wrong wherever it surfaces.
///
/// ```swift
/// do { try await client.fetch(key) } catch {
///     throw ProtocolError(.unavailable, "Vault at \(address) is unreachable", cause: error)
/// }
/// ```
public enum ErrorText {
    /// `error` as one line of text.
    ///
    /// ```swift
    /// ErrorText.describe(ProtocolError(.invalidParams, "bad settings", diagnostics: [Diagnostic(path: "/every", message: "too short")]))
    /// // "bad settings (/every: too short)"
    /// ```
    public static func describe(_ error: any Error) -> String {
        switch error {
        case let p as ProtocolError:
            let details = p.diagnostics.map { "\($0.path): \($0.message)" }.joined(separator: "; ")
            return p.message + (details.isEmpty ? "" : " (\(details))")
        case let d as DecodingError:
            return decoding(d)
        case let e as EncodingError:
            if case .invalidValue(_, let context) = e { return "cannot encode \(path(context.codingPath)): \(context.debugDescription)" }
            return String(describing: e)
        case let e where foundationDomains.contains((e as NSError).domain):
            // A file, socket or URL error: Foundation's own sentence, with the file or address it
            // was about when the sentence does not name it.
            let ns = e as NSError
            let text = ns.localizedDescription
            let subject = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.absoluteString
            guard let subject, !text.contains(subject) else { return text }
            return "\(text) (\(subject))"
        case let e as any CustomStringConvertible:
            return e.description
        default:
            return String(describing: error)
        }
    }

    /// "what: why" — the text of an error that wraps `cause`: `what` alone when there is no cause,
    /// the cause alone when `what` is empty.
    public static func wrapping(_ what: String, _ cause: (any Error)?) -> String {
        guard let cause else { return what }
        return what.isEmpty ? describe(cause) : "\(what): \(describe(cause))"
    }

    /// The domains of Foundation's errors, whose localized description is a sentence.
    private static let foundationDomains: Set<String> = [NSCocoaErrorDomain, NSURLErrorDomain, NSPOSIXErrorDomain]

    private static func decoding(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(let type, let c): return "at \(path(c.codingPath)): expected \(type) (\(c.debugDescription))"
        case .valueNotFound(let type, let c): return "at \(path(c.codingPath)): a \(type) is missing"
        case .keyNotFound(let key, let c): return "at \(path(c.codingPath + [key])): required but missing"
        case .dataCorrupted(let c):
            let underlying = (c.underlyingError as NSError?).map { ": \($0.localizedDescription)" } ?? ""
            return "at \(path(c.codingPath)): \(c.debugDescription)\(underlying)"
        @unknown default: return String(describing: error)
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.isEmpty ? "/" : "/" + keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: "/")
    }
}

extension ProtocolError {
    /// An error whose message says what failed and, after a colon, why: `cause` as ``ErrorText``
    /// reads it. A cause cannot cross the process boundary; its text does.
    ///
    /// ```swift
    /// throw ProtocolError(.unavailable, "Vault at \(address) is unreachable", cause: error, retryable: true)
    /// ```
    public init(_ code: ErrorCode, _ what: String, cause: any Error, reason: String? = nil, retryable: Bool? = nil) {
        self.init(code, ErrorText.wrapping(what, cause), reason: reason, retryable: retryable)
    }
}
