#!/usr/bin/env bash
# Runs every test: the Swift suites (on SQLite, and on PostgreSQL too) and the end-to-end tests with
# the official openai SDK against the built binary. Builds once, in debug; prints each phase's time.
set -euo pipefail
cd "$(dirname "$0")/.."

phase_start=$(date +%s)
phase_name=""
phase() {  # closes the running phase (printing its time) and opens the next
    local now; now=$(date +%s)
    if [ -n "$phase_name" ]; then echo "::: $phase_name took $((now - phase_start)) s"; fi
    phase_name="$1"
    phase_start=$now
    if [ -n "$1" ]; then echo "::: $1"; fi
}

# Runs a test phase with a time limit and line-buffered output, so a test that hangs fails the run with
# its name in the log instead of eating CI's whole budget.
bounded() {
    local minutes=$1; shift
    local status=0
    timeout -k 30 "$((minutes * 60))" stdbuf -oL -eL "$@" || status=$?
    if [ "$status" = 124 ] || [ "$status" = 137 ]; then
        echo "::: $phase_name ran past $minutes minutes: a test hangs (the last lines above show where)" >&2
    fi
    return "$status"
}

phase "python test environment"
if [ ! -x .venv/bin/pytest ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r tests/e2e/requirements.txt

phase "PostgreSQL"
if [ -z "${ATRIUM_TEST_POSTGRES_URL:-}" ]; then
    if url=$(scripts/postgres.sh start | tail -1); then
        export ATRIUM_TEST_POSTGRES_URL="$url"
        # Ours: stopped when the tests end, pass or fail; the restart tests may restart it.
        export ATRIUM_TEST_POSTGRES_OWNED=1
        trap 'scripts/postgres.sh stop' EXIT
    elif [ "${CI:-}" = "true" ]; then
        echo "PostgreSQL could not be started, and CI needs it" >&2
        exit 1
    else
        echo "note: PostgreSQL could not be started; the database tests run on SQLite only" >&2
    fi
fi

phase "system libraries, browser and models"
scripts/system-deps.sh
scripts/browser-deps.sh
scripts/fetch-minilm.sh
scripts/fetch-smollm2.sh

phase "swift build (debug, with tests)"
swift build --build-tests

phase "swift test"
bounded 20 swift test --skip-build

phase "end-to-end (openai SDK, SQLite)"
(cd tests/e2e && bounded 25 ../../.venv/bin/pytest -q -rs -p no:cacheprovider)

if [ -n "${ATRIUM_TEST_POSTGRES_URL:-}" ]; then
    phase "end-to-end (openai SDK, PostgreSQL)"
    schema="e2e_$(date +%s)_$$"
    psql "${ATRIUM_TEST_POSTGRES_URL%%\?*}" -qc "CREATE SCHEMA $schema" >/dev/null
    (cd tests/e2e && ATRIUM_E2E_DATABASE_URL="${ATRIUM_TEST_POSTGRES_URL}&search_path=$schema" \
        bounded 20 ../../.venv/bin/pytest -q -rs -p no:cacheprovider test_gateway.py test_metering.py test_shared_limits.py \
        "test_metering_load.py::test_concurrent_load_is_metered_exactly")
fi
phase ""
echo "all tests passed"
