#!/usr/bin/env bash
# Embedding benchmark: sentences per second for Atrium's engine, sentence-transformers (torch CPU) and
# ONNX Runtime fp32, on the same sentences and the same threads, interleaved in one run; then the
# resident memory of `atrium serve` while it serves the batch-32 load over HTTP.
# Writes bench/results/embeddings-<date>.md (and .json).
#   SECONDS_PER_CELL=8 REPEAT=3 THREADS=2 bench/embeddings/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_CELL="${SECONDS_PER_CELL:-8}"
REPEAT="${REPEAT:-3}"
THREADS="${THREADS:-$(nproc)}"
MODEL=.cache/models/all-minilm-l6-v2
VENV=.cache/bench-venv
scripts/system-deps.sh
scripts/fetch-minilm.sh
[ -x .build/release/atrium ] || swift build -c release --product atrium
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q torch==2.13.0+cpu sentence-transformers tokenizers onnxruntime onnx httpx
fi
WORK="$(mktemp -d /tmp/atrium-embench.XXXX)"
python3 bench/embeddings/sentences.py "$WORK"
ONNX=.cache/all-minilm-l6-v2.onnx

declare -A results
for round in $(seq "$REPEAT"); do
    for length in short long; do
        for batch in 1 32; do
            cell="${length}_b${batch}"
            a=$(.build/release/atrium models bench "$MODEL" --texts "$WORK/$length.txt" --batch "$batch" --seconds "$SECONDS_PER_CELL" --threads "$THREADS")
            s=$("$VENV/bin/python" bench/embeddings/peers.py st "$MODEL" "$WORK/$length.txt" "$batch" "$SECONDS_PER_CELL" "$THREADS" 2>/dev/null | tail -1)
            o=$("$VENV/bin/python" bench/embeddings/peers.py ort "$MODEL" "$WORK/$length.txt" "$batch" "$SECONDS_PER_CELL" "$THREADS" "$ONNX" 2>/dev/null | tail -1)
            results[$cell]="${results[$cell]:-} $a/$s/$o"
            echo "round $round $cell: atrium $a, sentence-transformers $s, onnxruntime $o" >&2
        done
    done
done

# Memory: the server with the model loaded, under the batch-32 load over HTTP (long sentences).
PORT=18960
mkdir -p "$WORK/models" && ln -s "$(pwd)/$MODEL" "$WORK/models/all-minilm-l6-v2"
cat > "$WORK/atrium.yaml" <<YAML
port: $PORT
log_level: warning
models_dir: $WORK/models
requests_per_minute: 100000000
tokens_per_minute: 100000000000
YAML
ATRIUM=.build/release/atrium
echo 'bench password' | $ATRIUM admin create-user --config "$WORK/atrium.yaml" --data-dir "$WORK/data" --email bench@example.com --name Bench >/dev/null
KEY=$($ATRIUM keys create --config "$WORK/atrium.yaml" --data-dir "$WORK/data" --email bench@example.com --name bench)
$ATRIUM serve --config "$WORK/atrium.yaml" --data-dir "$WORK/data" > "$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
peak_kb=0
"$VENV/bin/python" - "$PORT" "$KEY" "$WORK/long.txt" "$SECONDS_PER_CELL" <<'PY' &
import concurrent.futures, sys, time, httpx
port, key, texts, seconds = sys.argv[1], sys.argv[2], open(sys.argv[3]).read().splitlines(), float(sys.argv[4])
def run(offset):
    client, end = httpx.Client(timeout=120), time.time() + seconds
    while time.time() < end:
        batch = [texts[(offset + i) % len(texts)] for i in range(32)]
        r = client.post(f"http://127.0.0.1:{port}/v1/embeddings", headers={"authorization": f"Bearer {key}"}, json={"model": "all-minilm-l6-v2", "input": batch})
        assert r.status_code in (200, 429), r.text
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    list(pool.map(run, range(4)))
PY
LOAD=$!
while kill -0 $LOAD 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' /proc/$SERVER/status)
    [ "$rss" -gt "$peak_kb" ] && peak_kb=$rss
    sleep 0.2
done
wait $LOAD

STAMP=$(date -u +%Y-%m-%dT%H-%M-%SZ)
OUT="bench/results/embeddings-$STAMP.md"
python3 - "$OUT" "$STAMP" "$THREADS" "$SECONDS_PER_CELL" "$REPEAT" "$((peak_kb / 1024))" "$(git rev-parse --short HEAD)" \
    "${results[short_b1]}" "${results[short_b32]}" "${results[long_b1]}" "${results[long_b32]}" <<'PY'
import json, statistics, sys
out, stamp, threads, seconds, repeat, rss, commit = sys.argv[1:8]
cells = dict(zip(["short_b1", "short_b32", "long_b1", "long_b32"], sys.argv[8:12]))
rows, table = {}, []
for cell, runs in cells.items():
    triples = [tuple(float(v) for v in run.split("/")) for run in runs.split()]
    a, s, o = (statistics.median(t[i] for t in triples) for i in range(3))
    rows[cell] = {"atrium": a, "sentence_transformers": s, "onnxruntime": o}
    length, batch = cell.split("_")
    table.append(f"| {length} (~{'14' if length == 'short' else '80'} tokens) | {batch[1:]} | **{a:.0f}** | {s:.0f} | {o:.0f} | {'yes' if a > max(s, o) else 'no'} |")
ahead = all(r["atrium"] > max(r["sentence_transformers"], r["onnxruntime"]) for r in rows.values())
text = f"""# Embedding benchmark, {stamp}

all-MiniLM-L6-v2, sentences per second, {threads} threads each, in-process (tokenizing included); each
cell the median of {repeat} interleaved rounds of {seconds} s. Atrium: `atrium models bench` (release
build, {commit}); sentence-transformers on torch CPU; ONNX Runtime fp32 with the model exported from
the same weights, mean pooling and normalisation in numpy.

| sentences | batch | Atrium | sentence-transformers | ONNX Runtime | Atrium ahead |
| --- | --- | --- | --- | --- | --- |
""" + "\n".join(table) + f"""

- Atrium ahead of both in all four cells: **{'yes' if ahead else 'no'}**.
- `atrium serve` resident memory, peak while serving batch-32 requests of long sentences over HTTP
  (4 clients): **{rss} MiB** (goal < 300).
"""
open(out, "w").write(text)
json.dump({"stamp": stamp, "threads": int(threads), "cells": rows, "serve_peak_rss_mib": int(rss), "atrium_ahead_everywhere": ahead},
          open(out.replace(".md", ".json"), "w"), indent=1)
print(text)
PY
