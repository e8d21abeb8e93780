import ArgumentParser
import GoferHost

/// "Did you mean …?" for a mistyped command name: the arguments are walked down the command tree,
/// and the first word that names no subcommand where one is expected gets the closest names.
enum CommandSuggestion {
    static let usageHint = "See `gofer --help` for the commands.\n"

    /// A message naming the unknown command and the closest real ones, or nil when every command
    /// word is known (the mistake is elsewhere: a flag or a value).
    static func hint(for arguments: [String], root: any ParsableCommand.Type) -> String? {
        var command = root
        var path = [root._commandName]
        for word in arguments {
            if word.hasPrefix("-") { return nil }
            let subcommands = command.configuration.subcommands
            if subcommands.isEmpty { return nil }
            let names = subcommands.map { $0._commandName }
            if let next = subcommands.first(where: { $0._commandName == word || $0.configuration.aliases.contains(word) }) {
                command = next
                path.append(word)
                continue
            }
            if word == "help" { return nil }
            let close = NameSuggestion.closest(to: word, in: names)
            let place = path.joined(separator: " ")
            if close.isEmpty { return "unknown command '\(place) \(word)'; commands here: \(names.sorted().joined(separator: ", "))" }
            return "unknown command '\(place) \(word)'; did you mean " + close.map { "'\(place) \($0)'" }.joined(separator: " or ") + "?"
        }
        return nil
    }
}
