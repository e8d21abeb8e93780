#!/usr/bin/env bash
# docs/openapi.yaml against a live server, with schemathesis (PyPI): every operation, every check,
# bounded (MAX_EXAMPLES per operation; default 50). Exits non-zero on any failure.
#   Tests/api/schemathesis.sh [path/to/gofer]
set -euo pipefail
cd "$(dirname "$0")/../.."
gofer=${1:-.build/debug/gofer}
examples=${MAX_EXAMPLES:-50}
command -v st >/dev/null || pip install -q schemathesis
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# Its own failures must not lock schemathesis out: the limits are tested in AuthTests.
GOFER_RATE_LIMIT_AUTH_FAILURES=100000000/1m GOFER_RATE_LIMIT_PUBLIC=100000000/1m GOFER_LOG_LEVEL=error \
    "$gofer" service start --data-dir "$dir" --listen "127.0.0.1:$port" --scheduler process >"$dir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/api/health" >/dev/null && break; sleep 0.1; done
token=$(cat "$dir/admin-token")
auth="Authorization: Bearer $token"
# Something for the stateful phase to find: a pipeline with a finished run, its task and a secret.
curl -sf -H "$auth" -H 'Content-Type: application/json' "http://127.0.0.1:$port/api/namespaces/default/pipelines" \
    -d '{"config": "id: demo\ntasks:\n  - { id: t, image: none, command: [\"true\"] }\n"}' >/dev/null
curl -sf -H "$auth" -H 'Content-Type: application/json' "http://127.0.0.1:$port/api/namespaces/default/pipelines/demo/runs" -d '{}' >/dev/null
curl -sf -H "$auth" -H 'Content-Type: application/json' -X PUT \
    "http://127.0.0.1:$port/api/namespaces/default/pipelines/demo/secrets/s" -d '{"value": "v"}' >/dev/null
# One worker: CPython 3.11's ast module keeps its recursion depth per interpreter, not per thread
# (CPython gh-106905), and hypothesis parses lambdas' source while generating cases, so two worker
# threads can crash it ("SystemError: AST constructor recursion depth mismatch").
run_st() {
    st --config-file Tests/api/schemathesis.toml run docs/openapi.yaml --url "http://127.0.0.1:$port" -H "$auth" \
        --max-examples "$examples" --phases examples,coverage,fuzzing,stateful --workers 1 --no-color 2>&1 | tee "$dir/st.out"
    return "${PIPESTATUS[0]}"
}
if ! run_st; then
    # Should schemathesis itself still crash inside CPython while generating cases, that says nothing
    # about the API: such a run, with no finding about the API, is repeated once; any failure it
    # reports fails the script.
    if grep -q "Runtime Error" "$dir/st.out" && ! grep -q "= FAILURES =" "$dir/st.out"; then
        echo "schemathesis: an internal error and no finding about the API; running it once more"
        run_st
    else
        exit 1
    fi
fi
