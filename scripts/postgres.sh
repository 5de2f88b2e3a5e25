#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for the tests and prints its URL on the last line.
#   scripts/postgres.sh start   install (Debian's package, when missing) and start on port 55432
#   scripts/postgres.sh restart   (the restart tests)
#   scripts/postgres.sh stop
# The cluster lives in /tmp/atrium-pg and belongs to the `postgres` user (the server refuses root).
set -euo pipefail
PORT="${ATRIUM_PG_PORT:-55432}"
DIR="/tmp/atrium-pg"

find_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

as_postgres() {
    if [ "$(id -u)" = "0" ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi
}

case "${1:-start}" in
start)
    BIN="$(find_bin)"
    if [ -z "$BIN" ]; then
        if [ "$(id -u)" != "0" ]; then
            echo "PostgreSQL is not installed; run: sudo apt-get install -y postgresql" >&2
            exit 1
        fi
        echo "installing PostgreSQL (Debian package)..." >&2
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) >&2
        BIN="$(find_bin)"
    fi
    if ! as_postgres "$BIN/pg_ctl -D $DIR status" >/dev/null 2>&1; then
        rm -rf "$DIR"
        mkdir -p "$DIR"
        [ "$(id -u)" = "0" ] && chown postgres:postgres "$DIR"
        as_postgres "$BIN/initdb -D $DIR -U atrium --auth=trust -E UTF8" >/dev/null
        as_postgres "$BIN/pg_ctl -D $DIR -l $DIR/server.log -o '-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off' -w start" >/dev/null
        as_postgres "$BIN/createdb -h 127.0.0.1 -p $PORT -U atrium atrium_test"
    fi
    echo "postgres://atrium@127.0.0.1:$PORT/atrium_test?sslmode=disable"
    ;;
restart)
    # `pg_ctl restart -m fast`: every connection is cut, the server is back within a second or so.
    BIN="$(find_bin)"
    as_postgres "$BIN/pg_ctl -D $DIR -m fast -w restart -l $DIR/server.log -o '-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off'" >/dev/null
    ;;
stop)
    BIN="$(find_bin)"
    [ -n "$BIN" ] && as_postgres "$BIN/pg_ctl -D $DIR -m fast stop" >/dev/null 2>&1 || true
    ;;
esac
