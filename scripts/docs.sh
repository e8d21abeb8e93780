#!/usr/bin/env bash
# Builds the DocC documentation of the libraries extension authors use (ExtensionSDK, with its
# catalog of articles) into .build/docs/<Target>, failing on any warning (a broken symbol link, an
# unknown parameter), and prints the coverage summary.
#   scripts/docs.sh [OUT_DIR]     then open OUT_DIR/ExtensionSDK/index.html through any static web server
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.build/docs}
mkdir -p "$out"
for target in ExtensionSDK ExtensionClient; do
    swift package --allow-writing-to-directory "$out" generate-documentation --target "$target" --warnings-as-errors \
        --output-path "$out/$target" --transform-for-static-hosting --experimental-documentation-coverage --coverage-summary-level brief
done
