#!/usr/bin/env bash
# Starts a PostgreSQL cluster of the tests' own: initdb in a fresh directory as the `postgres` user,
# listening on 127.0.0.1 on its own port (trust authentication, loopback only), and prints the URL
# the store tests read from GOFER_TEST_POSTGRES_URL. Stop it with: scripts/test-postgres.sh stop DIR
#
#   eval "$(scripts/test-postgres.sh start)"   # exports GOFER_TEST_POSTGRES_URL and GOFER_TEST_POSTGRES_DIR
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "no PostgreSQL server: apt-get install postgresql" >&2; exit 1; }
as_postgres() { if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi; }
case "${1:-start}" in
start)
    port=${2:-55432}
    dir=$(mktemp -d /tmp/gofer-postgres.XXXXXX)
    chown postgres: "$dir"
    as_postgres "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=1500 -c shared_buffers=32MB -c fsync=off" start >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    echo "export GOFER_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$port/postgres GOFER_TEST_POSTGRES_DIR=$dir"
    ;;
stop)
    dir=${2:?the directory start printed}
    as_postgres "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    rm -rf "$dir"
    ;;
*) echo "usage: $0 start [PORT] | stop DIR" >&2; exit 64 ;;
esac
