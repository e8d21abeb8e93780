import ExtensionSDK

/// What changed between two versions of a pipeline, one readable line per change:
/// `+ task deploy`, `- task lint`, `~ task build: command ["make"] → ["make","all"]`.
public enum ConfigDiff {
    public static func changes(from old: PipelineConfig?, to new: PipelineConfig) -> [String] {
        guard let old else {
            return ["+ pipeline \(new.id) with \(new.tasks.count) task(s): \(new.tasks.map(\.id).joined(separator: ", "))"]
        }
        var out: [String] = []
        for (field, a, b) in [("name", old.name, new.name), ("description", old.description, new.description)] where a != b {
            out.append("~ \(field): \(quoted(a)) → \(quoted(b))")
        }
        if old.parallelism != new.parallelism { out.append("~ parallelism: \(old.parallelism) → \(new.parallelism)") }
        if old.injectAPIToken != new.injectAPIToken { out.append("~ inject_api_token: \(old.injectAPIToken) → \(new.injectAPIToken)") }
        if old.logging != new.logging { out.append("~ logging: \(old.logging) → \(new.logging)") }
        if old.keepVersions != new.keepVersions {
            out.append("~ keep_versions: \(old.keepVersions.map(String.init) ?? "(server default)") → \(new.keepVersions.map(String.init) ?? "(server default)")")
        }
        out += labelled("trigger", old.triggers, new.triggers, label: \.label) { "\($0.trigger) \($0.settings)" }
        out += labelled("hook", old.hooks, new.hooks, label: \.label) { "\($0.extension) \($0.settings)" }
        let oldIDs = Set(old.tasks.map(\.id))
        let newIDs = Set(new.tasks.map(\.id))
        for t in new.tasks where !oldIDs.contains(t.id) { out.append("+ task \(t.id) (\(t.extension.map { "extension \($0)" } ?? t.image))") }
        for t in old.tasks where !newIDs.contains(t.id) { out.append("- task \(t.id)") }
        for t in new.tasks {
            guard let before = old.task(t.id), before != t,
                let a = (try? JSONCodec.encode(before))?.objectValue, let b = (try? JSONCodec.encode(t))?.objectValue
            else { continue }
            for key in Set(a.keys).union(b.keys).sorted() where a[key] != b[key] {
                out.append("~ task \(t.id): \(key) \(a[key]?.description ?? "(unset)") → \(b[key]?.description ?? "(unset)")")
            }
        }
        return out
    }

    static func quoted(_ s: String) -> String { "\"\(s)\"" }

    /// Added, removed and changed entries of a list keyed by label (triggers, hooks).
    static func labelled<T: Equatable>(
        _ kind: String, _ old: [T], _ new: [T], label: (T) -> String, describe: (T) -> String
    ) -> [String] {
        var out: [String] = []
        let before = Dictionary(old.map { (label($0), $0) }, uniquingKeysWith: { a, _ in a })
        let after = Dictionary(new.map { (label($0), $0) }, uniquingKeysWith: { a, _ in a })
        for entry in new {
            if let was = before[label(entry)] {
                if was != entry { out.append("~ \(kind) \(label(entry)): \(describe(was)) → \(describe(entry))") }
            } else {
                out.append("+ \(kind) \(label(entry)) (\(describe(entry)))")
            }
        }
        for entry in old where after[label(entry)] == nil { out.append("- \(kind) \(label(entry))") }
        return out
    }
}
