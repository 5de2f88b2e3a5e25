#!/usr/bin/env bash
# Gateway benchmark: wrk against nginx directly, against nginx as a reverse proxy in front of it, and
# against `atrium serve` proxying to it (key auth, metering and limits on), in one run: p50, p99, p99.9
# and requests/s at 1 and at 16 connections. Each cell is the median of REPEAT runs, the three targets
# taking turns run by run (the machine is shared and noisy).
# Writes bench/results/gateway-<date>.md (and .json).
#   DURATION=10 REPEAT=5 bench/gateway/run.sh
#   DATABASE=postgres LIMITS=shared|local bench/gateway/run.sh   on the throwaway PostgreSQL of
#   scripts/postgres.sh (a fresh database per run; the cluster runs with fsync off, as for the tests),
#   with the limits where the product puts them on PostgreSQL (shared) unless LIMITS says otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${DURATION:-10}"
REPEAT="${REPEAT:-5}"
DATABASE="${DATABASE:-sqlite}"
for tool in wrk nginx; do
    command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk nginx >/dev/null; }
done
[ -x .build/release/atrium ] || swift build -c release --product atrium

WORK="$(mktemp -d /tmp/atrium-bench.XXXX)"
UP_PORT=18901
GW_PORT=18902
PROXY_PORT=18903
sed -e "s#__DIR__#$WORK#g" -e "s#__PORT__#$UP_PORT#g" bench/gateway/nginx.conf > "$WORK/nginx.conf"
sed -e "s#__DIR__#$WORK#g" -e "s#__PORT__#$PROXY_PORT#g" -e "s#__UPSTREAM__#$UP_PORT#g" bench/gateway/nginx-proxy.conf > "$WORK/nginx-proxy.conf"
nginx -c "$WORK/nginx.conf" -p "$WORK" &
NGINX=$!
nginx -c "$WORK/nginx-proxy.conf" -p "$WORK" &
PROXY=$!
DATABASE_LINES=""
if [ "$DATABASE" = "postgres" ]; then
    server_url=$(scripts/postgres.sh start | tail -1)
    BENCH_DB="atrium_bench_$$"
    psql "$server_url" -qc "CREATE DATABASE $BENCH_DB" >/dev/null
    PG_URL="${server_url/atrium_test/$BENCH_DB}"
    DATABASE_LINES="database_url: \"$PG_URL\""
    [ -n "${LIMITS:-}" ] && DATABASE_LINES="$DATABASE_LINES
limits: $LIMITS"
fi
cat > "$WORK/atrium.yaml" <<YAML
port: $GW_PORT
$DATABASE_LINES
log_level: warning
# Metering and limits stay on; the limits are set above what wrk can send, so none refuses.
requests_per_minute: 100000000
tokens_per_minute: 100000000000
free_credit_micros: 1000000000000000
providers:
  - name: nginx
    kind: openai
    base_url: http://127.0.0.1:$UP_PORT/v1
    models:
      - {name: bench, upstream: bench-upstream, kind: chat}
YAML
ATRIUM=".build/release/atrium"
echo 'bench password' | $ATRIUM admin create-user --config "$WORK/atrium.yaml" --data-dir "$WORK/data" --email bench@example.com --name Bench >/dev/null
export ATRIUM_BENCH_KEY=$($ATRIUM keys create --config "$WORK/atrium.yaml" --data-dir "$WORK/data" --email bench@example.com --name bench)
$ATRIUM admin set-price --config "$WORK/atrium.yaml" --data-dir "$WORK/data" --model bench --input 0.15 --output 0.60 >/dev/null
$ATRIUM serve --config "$WORK/atrium.yaml" --data-dir "$WORK/data" > "$WORK/atrium.log" 2>&1 &
GATEWAY=$!
cleanup() {
    kill $GATEWAY $NGINX $PROXY 2>/dev/null || true
    wait 2>/dev/null || true
    if [ -n "${PG_URL:-}" ]; then psql "$server_url" -qc "DROP DATABASE IF EXISTS $BENCH_DB" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$GW_PORT/healthz" >/dev/null && break; sleep 0.1; done

cpu_ticks() {  # pid -> CPU time (user + system, in clock ticks) of its threads and its children's (nginx's workers)
    local total=0 pid
    for pid in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        for stat in /proc/"$pid"/task/*/stat; do
            # The fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
            total=$((total + $(sed 's/.*) //' "$stat" | awk '{print $12 + $13}')))
        done
    done
    echo "$total"
}

run_rounds() {  # connections -> REPEAT rounds in which nginx, the proxy and Atrium take turns, a wrk run each.
    # Taking turns, the three share whatever this machine's speed does meanwhile (it drifts by 10-15 %
    # over minutes), instead of one target getting a slow spell to itself.
    local connections=$1 i name url pid ticks_before
    for name in up px gw; do wrk -t1 -c"$connections" -d2s -s bench/gateway/post.lua "$(url_of $name)" >/dev/null; done  # warm-up
    for i in $(seq "$REPEAT"); do
        for name in up px gw; do
            url=$(url_of $name); pid=$(pid_of $name)
            ticks_before=$(cpu_ticks "$pid")
            # One wrk thread: it shares the two cores with nginx and Atrium.
            wrk -t1 -c"$connections" -d"${DURATION}s" --latency -s bench/gateway/post.lua "$url" > "$WORK/wrk-$name-$connections-$i.txt"
            echo $(($(cpu_ticks "$pid") - ticks_before)) >> "$WORK/ticks-$name-$connections.txt"
        done
    done
}

summary() {  # name connections -> "p50_ms p99_ms p999_ms rps non2xx cpu_us", medians over its runs;
    # cpu_us: the CPU time the target's process (and its children) spent per request over all its runs
    python3 - "$WORK/ticks-$1-$2.txt" "$(getconf CLK_TCK)" "$WORK"/wrk-"$1"-"$2"-*.txt <<'PY'
import re, statistics, sys
ticks, per_second = sum(int(line) for line in open(sys.argv[1])), int(sys.argv[2])
rows, requests = [], 0
for path in sys.argv[3:]:
    text = open(path).read()
    # post.lua's done() prints the percentiles in microseconds (wrk's own table rounds and stops at p99).
    p50, p99, p999 = (int(v) / 1000 for v in re.search(r"^percentiles_us (\d+) (\d+) (\d+)", text, re.M).groups())
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    rows.append((p50, p99, p999, float(rps.group(1)), int(errors.group(1)) if errors else 0))
    requests += int(re.search(r"(\d+) requests in", text).group(1))
median = lambda i: statistics.median(r[i] for r in rows)
cpu_us = ticks / per_second * 1e6 / max(1, requests)
print(f"{median(0):.3f} {median(1):.3f} {median(2):.3f} {median(3):.0f} {sum(r[4] for r in rows)} {cpu_us:.1f}")
PY
}

UP_URL="http://127.0.0.1:$UP_PORT/v1/chat/completions"
GW_URL="http://127.0.0.1:$GW_PORT/v1/chat/completions"
curl -sf "$GW_URL" -H "authorization: Bearer $ATRIUM_BENCH_KEY" -H 'content-type: application/json' \
    -d '{"model":"bench","messages":[{"role":"user","content":"x"}]}' >/dev/null
PROXY_URL="http://127.0.0.1:$PROXY_PORT/v1/chat/completions"
curl -sf "$PROXY_URL" -H 'content-type: application/json' -d '{"model":"bench"}' >/dev/null
url_of() { case $1 in up) echo "$UP_URL";; px) echo "$PROXY_URL";; gw) echo "$GW_URL";; esac; }
pid_of() { case $1 in up) echo "$NGINX";; px) echo "$PROXY";; gw) echo "$GATEWAY";; esac; }
run_rounds 1
run_rounds 16
read -r up1_p50 up1_p99 up1_p999 up1_rps up1_err up1_cpu <<<"$(summary up 1)"
read -r px1_p50 px1_p99 px1_p999 px1_rps px1_err px1_cpu <<<"$(summary px 1)"
read -r gw1_p50 gw1_p99 gw1_p999 gw1_rps gw1_err gw1_cpu <<<"$(summary gw 1)"
read -r up16_p50 up16_p99 up16_p999 up16_rps up16_err up16_cpu <<<"$(summary up 16)"
read -r px16_p50 px16_p99 px16_p999 px16_rps px16_err px16_cpu <<<"$(summary px 16)"
read -r gw16_p50 gw16_p99 gw16_p999 gw16_rps gw16_err gw16_cpu <<<"$(summary gw 16)"
rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$GATEWAY/status)
# Every request wrk sent is a row of the usage ledger once the last group commit is in.
sleep 1
LEDGER_SQL="SELECT (SELECT COUNT(*) FROM usage_records), (SELECT SUM(total_tokens) FROM usage_records), (SELECT SUM(cost_micros) FROM usage_records), \
    CASE WHEN (SELECT SUM(balance_micros) FROM billing_accounts) = (SELECT SUM(amount_micros) FROM credit_entries) THEN 'yes' ELSE 'NO' END"
if [ -n "${PG_URL:-}" ]; then
    ledger=$(psql "$PG_URL" -AtF ' ' -c "$LEDGER_SQL")
else
    ledger=$(python3 -c "import sqlite3, sys; print(*sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone())" "$WORK/data/atrium.db" "$LEDGER_SQL")
fi
read -r ledger_rows ledger_tokens ledger_cost balance_matches <<<"$ledger"

STAMP=$(date -u +%Y-%m-%dT%H-%M-%SZ)
if [ -n "${PG_URL:-}" ]; then
    DATABASE_NOTE="PostgreSQL (scripts/postgres.sh, fsync off), limits $(grep -q '^limits: local' "$WORK/atrium.yaml" && echo local || echo shared)"
    OUT="bench/results/gateway-postgres-$STAMP.md"
else
    DATABASE_NOTE="SQLite"
    OUT="bench/results/gateway-$STAMP.md"
fi
added=$(python3 -c "print(f'{$gw1_p50 - $up1_p50:.3f}')")
tail_ratio=$(python3 -c "print(f'{$gw1_p99 / $gw1_p50:.1f}')")
# The same ratio for nginx, as a measure of how still the machine was: on a busy host its tail grows too.
proxy_tail_ratio=$(python3 -c "print(f'{$px1_p99 / $px1_p50:.1f}')")
direct_tail_ratio=$(python3 -c "print(f'{$up1_p99 / $up1_p50:.1f}')")
tail_met=$(python3 -c "print('met' if $gw1_p99 <= 3 * $gw1_p50 else 'not met')")
share=$(python3 -c "print(f'{100 * $gw16_rps / $px16_rps:.0f}')")
share_met=$(python3 -c "print('met' if $gw16_rps >= 0.5 * $px16_rps else 'not met')")
cat > "$OUT" <<MD
# Gateway benchmark, $STAMP

wrk posting a small chat completion with a Bearer key; nginx answers with a fixed completion.
wrk, nginx (upstream and proxy, one worker each) and Atrium share this machine's $(nproc) cores. Each cell: the median of $REPEAT runs of
${DURATION} s after a 2 s warm-up, the three targets taking turns run by run.
Atrium: release build, $DATABASE_NOTE, key auth and validation on, metering on (a priced model, a usage record
per request in the journal and group commits to the ledger, credit check, GCRA rate limits per key and
organization with their headers); $(git rev-parse --short HEAD 2>/dev/null || echo unknown).

| target | connections | p50 (ms) | p99 (ms) | p99.9 (ms) | requests/s | non-2xx | its CPU per request (µs) |
| --- | --- | --- | --- | --- | --- | --- | --- |
| nginx directly | 1 | $up1_p50 | $up1_p99 | $up1_p999 | $up1_rps | $up1_err | $up1_cpu |
| nginx → nginx (reverse proxy) | 1 | $px1_p50 | $px1_p99 | $px1_p999 | $px1_rps | $px1_err | $px1_cpu |
| Atrium → nginx | 1 | $gw1_p50 | $gw1_p99 | $gw1_p999 | $gw1_rps | $gw1_err | $gw1_cpu |
| nginx directly | 16 | $up16_p50 | $up16_p99 | $up16_p999 | $up16_rps | $up16_err | $up16_cpu |
| nginx → nginx (reverse proxy) | 16 | $px16_p50 | $px16_p99 | $px16_p999 | $px16_rps | $px16_err | $px16_cpu |
| Atrium → nginx | 16 | $gw16_p50 | $gw16_p99 | $gw16_p999 | $gw16_rps | $gw16_err | $gw16_cpu |

"Its CPU per request": user and system time of the target process alone (its threads, or nginx's worker),
over all of the cell's runs, divided by the requests they answered; the proxies' rows leave out the
upstream's share and wrk's. It is what decides the share below: on two cores shared with wrk and the
upstream, the proxy that spends less per request answers more.

- Added p50 latency at 1 connection: **$added ms** (goal ≤ 0.5 ms).
- Atrium's p99 at 1 connection against its p50: **${tail_ratio}×** (goal ≤ 3×): **$tail_met**. The same
  ratio in this run for nginx as a proxy: ${proxy_tail_ratio}×; for nginx directly: ${direct_tail_ratio}×.
- Throughput at 16 connections: **$gw16_rps requests/s** (goal ≥ 10,000), **$share %** of nginx as a reverse proxy (goal ≥ 50 %): **$share_met**.
- Atrium resident memory after the run: $((rss_kb / 1024)) MiB.
- Usage ledger after the run: $ledger_rows records, $ledger_tokens tokens, $ledger_cost micro-units charged;
  balances equal the credit ledger: $balance_matches.
MD
cat > "${OUT%.md}.json" <<JSON
{"stamp": "$STAMP", "upstream": {"c1": {"p50_ms": $up1_p50, "p99_ms": $up1_p99, "p999_ms": $up1_p999, "rps": $up1_rps, "cpu_us_per_request": $up1_cpu}, "c16": {"p50_ms": $up16_p50, "p99_ms": $up16_p99, "p999_ms": $up16_p999, "rps": $up16_rps, "cpu_us_per_request": $up16_cpu}},
 "nginx_proxy": {"c1": {"p50_ms": $px1_p50, "p99_ms": $px1_p99, "p999_ms": $px1_p999, "rps": $px1_rps, "cpu_us_per_request": $px1_cpu}, "c16": {"p50_ms": $px16_p50, "p99_ms": $px16_p99, "p999_ms": $px16_p999, "rps": $px16_rps, "cpu_us_per_request": $px16_cpu}},
 "atrium": {"c1": {"p50_ms": $gw1_p50, "p99_ms": $gw1_p99, "p999_ms": $gw1_p999, "rps": $gw1_rps, "cpu_us_per_request": $gw1_cpu, "non_2xx": $gw1_err}, "c16": {"p50_ms": $gw16_p50, "p99_ms": $gw16_p99, "p999_ms": $gw16_p999, "rps": $gw16_rps, "cpu_us_per_request": $gw16_cpu, "non_2xx": $gw16_err}},
 "added_p50_ms": $added, "p99_over_p50_c1": $tail_ratio, "share_of_nginx_proxy_c16_percent": $share, "rss_mib": $((rss_kb / 1024)), "ledger_rows": $ledger_rows, "balance_matches_ledger": "$balance_matches"}
JSON
cat "$OUT"
