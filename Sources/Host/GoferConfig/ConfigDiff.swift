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
        let oldLabels = Dictionary(old.triggers.map { ($0.label, $0) }, uniquingKeysWith: { a, _ in a })
        let newLabels = Dictionary(new.triggers.map { ($0.label, $0) }, uniquingKeysWith: { a, _ in a })
        for t in new.triggers {
            if let before = oldLabels[t.label] {
                if before != t { out.append("~ trigger \(t.label): \(before.trigger) \(before.settings) → \(t.trigger) \(t.settings)") }
            } else {
                out.append("+ trigger \(t.label) (\(t.trigger) \(t.settings))")
            }
        }
        for t in old.triggers where newLabels[t.label] == nil { out.append("- trigger \(t.label)") }
        let oldIDs = Set(old.tasks.map(\.id))
        let newIDs = Set(new.tasks.map(\.id))
        for t in new.tasks where !oldIDs.contains(t.id) { out.append("+ task \(t.id) (\(t.image))") }
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
}
