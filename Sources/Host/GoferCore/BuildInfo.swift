import GoferBuildInfo

/// The version of this Gofer build.
public let goferVersion = "0.1.0"

/// The commit a release was built from (scripts/release.sh), or nil for a build from a checkout.
public let goferCommit: String? = {
    let commit = String(cString: gofer_build_commit())
    return commit.isEmpty ? nil : commit
}()

/// What `gofer --version` prints: `0.1.0 (commit 3f2a9c1b7d4e)`, or `0.1.0 (built from a checkout)`.
public var goferVersionDescription: String {
    goferVersion + (goferCommit.map { " (commit \($0))" } ?? " (built from a checkout)")
}
