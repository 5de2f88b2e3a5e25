#!/usr/bin/env bash
# Portal benchmark: every page of the portal under wrk (8 connections, one wrk thread) against the
# release `atrium serve` on SQLite, with 1,000 organizations and 100,000 usage rows in the database
# (bench/portal/seed.py). Reports each page's p50/p95/p99 and pages/s, and the public pages together
# (taken in turn) as one figure. The latency is what wrk sees over loopback: the server's time plus a
# few microseconds. Writes bench/results/portal-<date>.md (and .json).
#   DURATION=5 bench/portal/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${DURATION:-5}"
CONNECTIONS="${CONNECTIONS:-8}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -x .build/release/atrium ] || swift build -c release --product atrium

WORK="$(mktemp -d /tmp/atrium-portal.XXXX)"
PORT=18911
cat > "$WORK/atrium.yaml" <<YAML
port: $PORT
log_level: warning
bcrypt_cost: 10
engine: false
providers:
  - name: bench-gpu
    kind: openai
    base_url: http://127.0.0.1:9/v1
    models:
      - {name: chat-large, kind: chat, context_length: 32768}
      - {name: chat-small, kind: chat, context_length: 8192}
      - {name: instruct, kind: completion}
      - {name: embed, kind: embedding}
YAML
ATRIUM=".build/release/atrium"
CLI=(--config "$WORK/atrium.yaml" --data-dir "$WORK/data")
echo 'bench password' | $ATRIUM admin create-user "${CLI[@]}" --email bench@example.com --name "Bench Developer" --staff admin >/dev/null
$ATRIUM keys create "${CLI[@]}" --email bench@example.com --name "bench key" >/dev/null
for model in chat-large chat-small instruct embed; do
    $ATRIUM admin set-price "${CLI[@]}" --model $model --input 0.15 --output 0.60 >/dev/null
done
python3 bench/portal/seed.py "$WORK/data/atrium.db" bench@example.com
$ATRIUM serve "${CLI[@]}" > "$WORK/atrium.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

COOKIE=$(curl -s -c - -o /dev/null -H 'content-type: application/json' -d '{"email":"bench@example.com","password":"bench password"}' \
    "http://127.0.0.1:$PORT/api/auth/login" | awk '$6 == "atrium_session" {print $7}')
ORG=$(curl -s -b "atrium_session=$COOKIE" "http://127.0.0.1:$PORT/api/auth/me" | python3 -c 'import json,sys; print(json.load(sys.stdin)["organizations"][0]["id"])')
REQUEST_ID=req_bench00000500  # a call of the bench organization (every fifth row is)

PUBLIC="/ /models /docs /docs/getting-started /docs/chat /login /signup /password/forgot"
SIGNED_IN="/dashboard /dashboard?request_id=$REQUEST_ID /keys /account /playground"
STAFF="/staff?q=developer00 /staff/organizations/$ORG /staff/audit /staff/outbox"

measure() {  # name cookie paths... -> one JSON line
    local name=$1 cookie=$2; shift 2
    PATHS="$*" COOKIE="$cookie" wrk -t1 -c"$CONNECTIONS" -d1s -s bench/portal/page.lua "http://127.0.0.1:$PORT" >/dev/null  # warm-up
    local line
    line=$(PATHS="$*" COOKIE="$cookie" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s bench/portal/page.lua "http://127.0.0.1:$PORT" | tail -1)
    echo "{\"page\": \"$name\", \"result\": $line}"
}

{
    measure "public pages, in turn" "" $PUBLIC
    for path in $PUBLIC; do measure "$path" "" "$path"; done
    for path in $SIGNED_IN; do measure "$path" "$COOKIE" "$path"; done
    for path in $STAFF; do measure "${path/$ORG/<id>}" "$COOKIE" "$path"; done
} > "$WORK/results.jsonl"

STAMP=$(date -u +%Y-%m-%dT%H-%M-%SZ)
python3 - "$WORK/results.jsonl" "bench/results/portal-$STAMP" "$DURATION" "$CONNECTIONS" <<'PY'
import json, os, platform, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
out, duration, connections = sys.argv[2], sys.argv[3], sys.argv[4]
json.dump({"duration_s": int(duration), "connections": int(connections), "pages": rows}, open(out + ".json", "w"), indent=2)
worst = max(r["result"]["p95_ms"] for r in rows)
public = rows[0]["result"]
lines = [
    "# Portal benchmark", "",
    f"`bench/portal/run.sh`: release `atrium serve` on SQLite with 1,000 organizations and 100,000 usage rows "
    f"(a fifth of them in the signed-in organization), wrk with {connections} connections and one thread, {duration} s a page after a 1 s warm-up, "
    f"{os.cpu_count()} cores ({platform.machine()}). Latency is what wrk sees over loopback.", "",
    f"- Public pages taken in turn: **{public['rps']:.0f} pages/s**, p95 {public['p95_ms']:.2f} ms (goal: ≥ 1,500 pages/s).",
    f"- Slowest p95 of any page: **{worst:.2f} ms** (goal: ≤ 10 ms).", "",
    "| page | pages/s | p50 ms | p95 ms | p99 ms | errors |", "| --- | ---: | ---: | ---: | ---: | ---: |",
]
for r in rows:
    x = r["result"]
    lines.append(f"| `{r['page']}` | {x['rps']:.0f} | {x['p50_ms']:.2f} | {x['p95_ms']:.2f} | {x['p99_ms']:.2f} | {x['errors']} |")
open(out + ".md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
