import ExtensionSDK
import Foundation

/// An error that keeps the error that caused it: code that handles it can look at the cause
/// (`error.cause as? StoreError`), and its description reads "what failed: why", down the chain.
package protocol CausedError: Error, CustomStringConvertible {
    /// What went wrong underneath, when something did.
    var cause: (any Error)? { get }
}

extension StateReason {
    /// A reason made from the error that caused it: `what`, then the error as ``ErrorText`` reads it.
    package init(_ kind: Kind, _ what: String, cause: any Error) {
        self.init(kind, ErrorText.wrapping(what, cause))
    }
}
