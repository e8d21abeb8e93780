#ifndef GOFER_BUILD_INFO_H
#define GOFER_BUILD_INFO_H

/// The commit this binary was built from (`git rev-parse --short=12 HEAD`, with `-dirty` when the
/// tree had changes), or "" for a build that did not say (`swift build` in a checkout).
/// scripts/release.sh sets it: GOFER_BUILD_COMMIT in the environment of `swift build`.
const char *gofer_build_commit(void);

#endif
