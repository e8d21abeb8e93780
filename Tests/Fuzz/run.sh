#!/usr/bin/env bash
# Builds the libFuzzer targets (-sanitize=fuzzer,address on them and everything they use) and runs
# each for SECONDS (default 60), starting from the committed corpus. Exits non-zero on the first
# crash, leak or hang, leaving the input in .build-fuzz/findings/TARGET/.
#   Tests/Fuzz/run.sh [target ...]        targets: fuzz-json fuzz-frame fuzz-pipeline-config fuzz-pipeline-structure fuzz-cron fuzz-github-webhook
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${SECONDS_PER_TARGET:-60}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz-json fuzz-frame fuzz-pipeline-config fuzz-pipeline-structure fuzz-cron fuzz-github-webhook)
flags=(--scratch-path .build-fuzz --sanitize fuzzer --sanitize address
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table
    -Xcc -fsanitize=fuzzer-no-link,address)
for t in "${targets[@]}"; do
    GOFER_FUZZ=1 swift build "${flags[@]}" --product "$t" 2>&1 | grep -E "error|Compiling|Build of" | grep -v "^\[" || true
    test -x ".build-fuzz/debug/$t" || { echo "fuzz: $t did not build"; exit 1; }
done
status=0
for t in "${targets[@]}"; do
    work=$(mktemp -d)
    findings=".build-fuzz/findings/$t"
    mkdir -p "$findings" "Tests/Fuzz/corpus/$t"
    # New inputs go to the temporary directory; the committed corpus is only read.
    if SWIFT_BACKTRACE=enable=no ".build-fuzz/debug/$t" "$work" "Tests/Fuzz/corpus/$t" -max_total_time="$seconds" \
        -max_len=65536 -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$findings/" -print_final_stats=1 >"$findings/log" 2>&1; then
        runs=$(grep -o "stat::number_of_executed_units: [0-9]*" "$findings/log" | grep -o "[0-9]*$" || echo "?")
        cov=$(grep -o "cov: [0-9]*" "$findings/log" | tail -1 | grep -o "[0-9]*" || echo "?")
        echo "fuzz: $t: $runs inputs in ${seconds}s, coverage $cov, no crash"
    else
        echo "fuzz: $t FOUND A PROBLEM (input in $findings):"
        grep -E "ERROR|Fatal error|==[0-9]+==|SUMMARY|Test unit written" "$findings/log" | head -20
        status=1
    fi
    rm -rf "$work"
done
exit $status
