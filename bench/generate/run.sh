#!/usr/bin/env bash
# Generation benchmark: SmolLM2-135M-Instruct (Q4_1 GGUF) on Atrium's engine, llama.cpp built for this
# machine, the llama.cpp wheel xllamacpp and transformers fp32, side by side in one run, interleaved per round:
#   - prompt tokens/s (128 tokens in one batch) and decode tokens/s (128 greedy tokens after it, batch 1),
#     in-process, on 1 thread and on THREADS;
#   - over HTTP (OpenAI streaming chat completions, one client for all servers), on THREADS: aggregate
#     decode tokens/s of 1, 4 and 16 concurrent streams (128 new tokens each), time to first token of
#     one ~128-token prompt, and the server's peak resident memory under the 4-stream load.
# ISA=avx2 measures the CPUs without AVX-512 on any machine: Atrium with `engine_kernels: avx2` against
# llama.cpp built for AVX2, FMA and F16C only (the wheel and torch cannot be held to it, so they sit out).
# The CPU and its features head the results; every cell records the load average before and after and the
# CPU that other processes took meanwhile, and a round in which others took more than a little is refused.
# Writes bench/results/generate-<date>.md (and .json), generate-avx2-<date> for ISA=avx2.
#   REPEAT=3 THREADS=2 bench/generate/run.sh
#   ISA=avx2 bench/generate/run.sh
#   ENGINES="native wheel" bench/generate/run.sh   (a subset of: atrium native wheel transformers)
set -euo pipefail
cd "$(dirname "$0")/../.."
REPEAT="${REPEAT:-3}"
THREADS="${THREADS:-2}"
INNER="${INNER:-3}"  # repetitions inside one round of the in-process cells (transformers: 1)
ISA="${ISA:-native}"
case "$ISA" in
native) ENGINES="${ENGINES:-atrium native wheel transformers}"; KERNELS=auto ;;
avx2) ENGINES="${ENGINES:-atrium native}"; KERNELS=avx2 ;;
*) echo "ISA is native or avx2, not $ISA" >&2; exit 2 ;;
esac
MODEL="$(pwd)/.cache/smollm2-135m-instruct.Q4_1.gguf"
VENV=.cache/bench-generate-venv
LLAMA=.cache/llama.cpp-$ISA/build/bin
ATRIUM=.build/release/atrium
PY="$VENV/bin/python"
PEERS=bench/generate/peers.py
has() { [[ " $ENGINES " == *" $1 "* ]]; }
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
BEGIN=$SECONDS
LOAD_BEFORE=$(cut -d" " -f1-3 /proc/loadavg)

scripts/fetch-smollm2.sh
if has atrium; then
    scripts/system-deps.sh
    [ -x "$ATRIUM" ] || swift build -c release --product atrium
fi
if [ ! -f "$VENV/.ready" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
    # torch 2.13 CPU as the other benchmarks use; plain torch from PyPI where that build is not offered.
    nice -n 10 "$VENV/bin/pip" install -q torch==2.13.0+cpu || nice -n 10 "$VENV/bin/pip" install -q torch
    nice -n 10 "$VENV/bin/pip" install -q transformers==5.24.0 accelerate==1.15.0 gguf==0.19.0 numpy==2.4.6 httpx==0.28.1 \
        xllamacpp==2026.10.11549 cmake==4.4.5 ninja==1.13.2
    touch "$VENV/.ready"
fi
has native && bench/generate/build-llama-native.sh "$VENV" "$ISA"
log "set up in $((SECONDS - BEGIN)) s"

WORK="$(mktemp -d /tmp/atrium-genbench.XXXX)"
SERVER=
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; true' EXIT
THREAD_COUNTS=$(printf '%s\n' 1 "$THREADS" | sort -nu | tr '\n' ' ')

# In-process cells: prompt and decode tokens/s, each line "round threads engine prompt decode".
MACHINE="python3 bench/generate/machine.py"
cell() {  # round threads engine command...: one line in cells.txt, or a note when the engine failed
    local round=$1 t=$2 engine=$3 figures start=$SECONDS
    shift 3
    figures=$($MACHINE cell "$WORK/load.jsonl" "$round $engine $t" -- "$@" 2>>"$WORK/$engine.log" | tail -1) || true
    # Atrium prints "prompt P tokens/s, decode D tokens/s"; the peers print "P D".
    [[ "$figures" == prompt* ]] && figures=$(awk '{print $2, $5}' <<< "$figures")
    echo "$engine $((SECONDS - start))" >> "$WORK/seconds.txt"
    if [[ "$figures" =~ ^[0-9.]+\ [0-9.]+$ ]]; then
        echo "$round $t $engine $figures" >> "$WORK/cells.txt"
    else
        log "$engine failed on $t thread(s) (round $round): see $WORK/$engine.log"
    fi
}
STEP=$SECONDS
for round in $(seq "$REPEAT"); do
    for t in $THREAD_COUNTS; do
        has atrium && cell "$round" "$t" atrium "$ATRIUM" models bench-generate "$MODEL" --threads "$t" --prompt-tokens 128 --new-tokens 128 \
            --repetitions "$INNER" --kernels "$KERNELS"
        has native && cell "$round" "$t" native "$PY" $PEERS llama-bench "$LLAMA/llama-bench" "$MODEL" "$t" "$INNER"
        has wheel && cell "$round" "$t" wheel "$PY" $PEERS xllamacpp "$MODEL" "$t" "$INNER"
        has transformers && cell "$round" "$t" transformers "$PY" $PEERS transformers "$MODEL" "$t"
        log "round $round, $t thread(s): $(grep "^$round $t " "$WORK/cells.txt" | cut -d' ' -f3- | paste -sd';' | sed 's/;/; /g')"
    done
done
IN_PROCESS_SECONDS=$((SECONDS - STEP))

# Servers, on THREADS threads, 16 sequences at once each.
PORT=18990
KEY=-
if has atrium; then
    mkdir -p "$WORK/models/smollm2-135m-instruct" && ln -s "$MODEL" "$WORK/models/smollm2-135m-instruct/model.gguf"
    # A key/value budget that holds 16 streams at once (the default, 96 MB, holds ~2,100 positions).
    cat > "$WORK/atrium.yaml" <<YAML
port: $PORT
log_level: warning
models_dir: $WORK/models
engine_threads: $THREADS
engine_kv_cache_mb: 256
engine_kernels: $KERNELS
requests_per_minute: 100000000
tokens_per_minute: 100000000000
YAML
    echo 'bench password' | $ATRIUM admin create-user --config "$WORK/atrium.yaml" --data-dir "$WORK/data" --email bench@example.com --name Bench >/dev/null
    ATRIUM_KEY=$($ATRIUM keys create --config "$WORK/atrium.yaml" --data-dir "$WORK/data" --email bench@example.com --name bench)
fi

start_server() {  # engine: starts it on $PORT and waits until it answers
    if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then
        echo "port $PORT is taken by another process" >&2
        exit 1
    fi
    case "$1" in
    atrium)
        $ATRIUM serve --config "$WORK/atrium.yaml" --data-dir "$WORK/data" >> "$WORK/atrium-serve.log" 2>&1 &
        SERVER=$!; KEY=$ATRIUM_KEY; HEALTH=/healthz; EXTRA='{}' ;;
    native)
        "$LLAMA/llama-server" -m "$MODEL" -t "$THREADS" -tb "$THREADS" -np 16 -c $((16 * 512)) --host 127.0.0.1 --port "$PORT" \
            >> "$WORK/llama-server.log" 2>&1 &
        SERVER=$!; KEY=-; HEALTH=/health; EXTRA='{"ignore_eos": true, "cache_prompt": false}' ;;
    wheel)
        "$PY" $PEERS xllamacpp-serve "$MODEL" "$THREADS" "$PORT" 16 >> "$WORK/xllamacpp-serve.log" 2>&1 &
        SERVER=$!; KEY=-; HEALTH=/health; EXTRA='{"ignore_eos": true, "cache_prompt": false}' ;;
    esac
    for _ in $(seq 600); do
        curl -sf "http://127.0.0.1:$PORT$HEALTH" >/dev/null && return 0
        kill -0 $SERVER 2>/dev/null || break
        sleep 0.1
    done
    echo "the $1 server did not come up; its log is in $WORK" >&2
    exit 1
}
stop_server() {
    kill $SERVER 2>/dev/null || true
    wait $SERVER 2>/dev/null || true
    SERVER=
}

STEP=$SECONDS
SERVED=$(for e in atrium native wheel; do if has $e; then echo $e; fi; done | tr '\n' ' ')
for round in $(seq "$REPEAT"); do
    for engine in $SERVED; do
        start=$SECONDS
        start_server "$engine"
        cells=$($MACHINE cell "$WORK/load.jsonl" "$round $engine-server" --pid "$SERVER" -- \
            "$PY" $PEERS serve-cells "http://127.0.0.1:$PORT" "$SERVER" smollm2-135m-instruct "$KEY" "$EXTRA" 2>>"$WORK/client.log") || cells=
        stop_server
        echo "$engine-server $((SECONDS - start))" >> "$WORK/seconds.txt"
        if [ -n "$cells" ]; then
            echo "{\"round\": $round, \"engine\": \"$engine\", \"cells\": $cells}" >> "$WORK/serve.jsonl"
            log "round $round, $engine server: $cells"
        else
            log "round $round, $engine server: the client failed, see $WORK/client.log"
        fi
    done
done
SERVE_SECONDS=$((SECONDS - STEP))

STAMP=$(date -u +%Y-%m-%dT%H-%M-%SZ)
PREFIX=generate-
[ "$ISA" = avx2 ] && PREFIX=generate-avx2-
OUT="bench/results/$PREFIX$STAMP.md"
$MACHINE describe > "$WORK/machine.md"
python3 - "$OUT" "$STAMP" "$THREADS" "$REPEAT" "$INNER" "$(git describe --always --dirty)" "$WORK/cells.txt" "$WORK/serve.jsonl" \
    "$IN_PROCESS_SECONDS" "$SERVE_SECONDS" "$LOAD_BEFORE" "$(cut -d" " -f1-3 /proc/loadavg)" "$(nproc)" "$WORK/seconds.txt" \
    "$ISA" "$WORK/machine.md" "$WORK/load.jsonl" <<'PY'
import json, os, statistics, sys
out, stamp, threads, repeat, inner, commit, cells_path, serve_path, in_process_s, serve_s, load_before, load_after, cores, seconds_path, isa, machine_path, load_path = sys.argv[1:18]
machine = open(machine_path).read().strip()
loads = [json.loads(l) for l in open(load_path)] if os.path.exists(load_path) else []
# A round is refused where, in any of its cells, other processes took more than a little CPU.
refused = sorted({int(l["cell"].split()[0]) for l in loads if not l["quiet"]})
spent = {}
for line in open(seconds_path) if os.path.exists(seconds_path) else []:
    step, s = line.split()
    spent[step] = spent.get(step, 0) + int(s)
threads = int(threads)
names = {"atrium": "Atrium" + (" (AVX2 kernels)" if isa == "avx2" else ""),
         "native": "llama.cpp AVX2 build" if isa == "avx2" else "llama.cpp native build",
         "wheel": "llama.cpp wheel (xllamacpp)", "transformers": "transformers fp32"}
counts = sorted({1, threads})
rounds = {}
for line in open(cells_path) if os.path.exists(cells_path) else []:
    r, t, engine, *values = line.split()
    if len(values) == 2 and int(r) not in refused:
        rounds.setdefault(engine, {}).setdefault(("prompt", int(t)), []).append(float(values[0]))
        rounds[engine].setdefault(("decode", int(t)), []).append(float(values[1]))
for line in open(serve_path) if os.path.exists(serve_path) else []:
    row = json.loads(line)
    if row["round"] in refused:
        continue
    for cell in ("streams1", "streams4", "streams16", "ttft_ms", "rss_mib"):
        if cell not in row["cells"]:
            continue
        rounds.setdefault(row["engine"], {}).setdefault(cell, []).append(row["cells"][cell])
cells = {engine: {k if isinstance(k, str) else f"{k[0]}_{k[1]}t": statistics.median(v) for k, v in by_cell.items()} for engine, by_cell in rounds.items()}
columns = [(f"prompt_{t}t", f"prompt t/s, {t} thread{'s' if t > 1 else ''}", True) for t in counts] \
    + [(f"decode_{t}t", f"decode t/s, {t} thread{'s' if t > 1 else ''}", True) for t in counts] \
    + [("streams1", f"1 stream t/s ({threads} thr.)", True), ("streams4", f"4 streams t/s ({threads} thr.)", True),
       ("streams16", f"16 streams t/s ({threads} thr.)", True),
       ("ttft_ms", "TTFT ms", False), ("rss_mib", "RSS MiB (4 streams)", False)]
def fmt(value):
    return "—" if value is None else f"{value:.0f}"
table = [f"| engine | {' | '.join(title for _, title, _ in columns)} |", "| --- |" + " --- |" * len(columns)]
for engine in names:
    if engine in cells or (engine == "transformers" and isa != "avx2"):
        row = [fmt(cells.get(engine, {}).get(key)) for key, _, _ in columns]
        if engine == "atrium":
            row = [f"**{v}**" if v != "—" else v for v in row]
        table.append(f"| {names[engine]} | {' | '.join(row)} |")
lines, ahead = [], {}
atrium = cells.get("atrium", {})
for key, title, higher in columns:
    peers = {e: c[key] for e, c in cells.items() if e != "atrium" and key in c}
    if key not in atrium or not peers:
        lines.append(f"- {title}: no comparison (Atrium {'not run' if key not in atrium else 'alone'}).")
        continue
    best = (max if higher else min)(peers, key=peers.get)
    ahead[key] = atrium[key] > peers[best] if higher else atrium[key] < peers[best]
    lines.append(f"- {title}: Atrium {atrium[key]:.0f} against the best peer's {peers[best]:.0f} ({names[best]}): "
                 f"**{'ahead' if ahead[key] else 'not ahead'}**.")
serve_rows = [json.loads(l) for l in open(serve_path)] if os.path.exists(serve_path) else []
short = sorted({names[r["engine"]] for r in serve_rows if min(r["cells"].get("tokens4", [128]) + r["cells"].get("tokens16", [128])) < 128})
lines.append(f"- Streams that ended before 128 tokens: {', '.join(short) if short else 'none'} (aggregates count the tokens generated).")
everywhere = bool(ahead) and all(ahead.values()) and len(ahead) == len(columns)
goal = atrium.get("streams16")
goal_line = (f"Atrium's aggregate with 16 concurrent streams: **{goal:.0f} tokens/s** against the goal of 400: "
             f"**{'met' if goal >= 400 else 'not met'}**." if goal is not None else "Atrium's 16-stream aggregate: not measured.")
single = atrium.get("streams1")
scaling = goal / single if goal and single else None
scaling_line = (f"Atrium's 16 streams against its 1 stream: **{scaling:.1f}×** ({goal:.0f} against {single:.0f} tokens/s; goal ≥ 3×): "
                f"**{'met' if scaling >= 3 else 'not met'}**." if scaling else "Atrium's 16-stream scaling: not measured.")
def load_line(l):
    return (f"  - round {l['cell']}: {l['seconds']} s; load average {l['load_before']} → {l['load_after']}; other processes "
            f"{l['others_before']:.2f} cores just before, {l['others_cores']:.2f} during{'' if l['quiet'] else ' — **refused**'}")
refusal = (f"Refused rounds (other processes took over {0.15} cores before or during a cell): {', '.join(map(str, refused))}; "
           f"their cells are left out of the medians." if refused else "No round was refused: in every cell other processes took under 0.15 cores.")
title = "Generation benchmark on the AVX2 kernels" if isa == "avx2" else "Generation benchmark"
isa_note = ("""
Atrium runs with `engine_kernels: avx2` (`bench-generate --kernels avx2`): AVX-512 left aside in the
whole process, as on a CPU without it; llama.cpp is built with `GGML_NATIVE=OFF`, AVX2, FMA, F16C and
BMI2 on and every AVX-512 (and AVX-VNNI) option off. Neither uses AVX-512 in this run.
""" if isa == "avx2" else "")
text = f"""# {title}, {stamp}

{machine}

SmolLM2-135M-Instruct, Q4_1 GGUF (`.cache/smollm2-135m-instruct.Q4_1.gguf`), commit {commit}; each cell
the median of {repeat} interleaved round{'s' if int(repeat) > 1 else ''}.
{isa_note}
- Prompt: 128 tokens in one batch; decode: 128 greedy tokens after it, batch 1; in-process, tokens/s.
  Atrium: `atrium models bench-generate --repetitions {inner}` (release build; median of its {inner});
  llama.cpp: `llama-bench -p 128 -n 128 -r {inner}` (built {'for AVX2' if isa == 'avx2' else 'with `-DGGML_NATIVE=ON`'} from the
  llama-cpp-python 0.3.36 sdist; median of its samples; its tg128 decodes from an empty context);
  xllamacpp: its in-process server's `timings` of single `/completion` requests (token-id prompt,
  `ignore_eos`, median of {inner}); transformers + torch CPU fp32 on the same GGUF: one forward over the
  prompt, then 128 steps with the KV cache.
- Servers, {threads} threads, 16 sequences at once (Atrium `engine_threads: {threads}`,
  `engine_kv_cache_mb: 256`; llama.cpp `-np 16 -c 8192`, 512 positions a slot), one client for all: OpenAI streaming
  `/v1/chat/completions` (`temperature: 0`, `max_tokens: 128`, usage in the last chunk). N streams: N
  distinct short prompts at once, each on its own connection (Python's http.client, opened before the
  clock starts, parsing only the events it needs, so that it takes little of the cores it shares);
  aggregate = completion tokens of all / wall time (prompts included). llama.cpp gets `ignore_eos`; Atrium has none and its prompts run past 128 tokens. Every request starts with a fresh
  system message, so no prompt cache (Atrium's prefixes, llama.cpp's slots) skips work. TTFT: median of
  3 single requests of ~128 prompt tokens, to the first content chunk. RSS: the server process's peak
  (VmRSS every 50 ms) during the 4-stream batch; for xllamacpp that process is Python hosting it.

{chr(10).join(table)}

{chr(10).join(lines)}
- Atrium ahead of every peer in every cell: **{'yes' if everywhere else 'no'}**.
- {goal_line}
- {scaling_line}

{refusal} Load average (1, 5, 15 min) on this {cores}-core machine before the run: {load_before}; after: {load_after}. By cell:

{chr(10).join(load_line(l) for l in loads)}

In-process cells took {in_process_s} s, the servers {serve_s} s; by engine (s, all rounds): {', '.join(f'{k} {v}' for k, v in spent.items())}.
"""
open(out, "w").write(text)
json.dump({"stamp": stamp, "commit": commit, "threads": threads, "repeat": int(repeat), "inner": int(inner), "cells": cells,
           "rounds": {e: {k if isinstance(k, str) else f"{k[0]}_{k[1]}t": v for k, v in c.items()} for e, c in rounds.items()},
           "serve": serve_rows,
           "atrium_ahead": ahead, "atrium_ahead_everywhere": everywhere, "atrium_streams16_goal_met": goal is not None and goal >= 400,
           "seconds": {"in_process": int(in_process_s), "servers": int(serve_s), "by_step": spent},
           "loadavg": {"before": load_before, "after": load_after}, "cores": int(cores), "isa": isa, "machine": machine,
           "cells_load": loads, "refused_rounds": refused, "atrium_streams16_over_1": scaling},
          open(out.replace(".md", ".json"), "w"), indent=1)
print(text)
PY
log "done in $((SECONDS - BEGIN)) s; the servers' logs are in $WORK"
