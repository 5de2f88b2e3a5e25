#!/usr/bin/env bash
# Memory of `atrium serve` with both embedded models loaded (all-MiniLM-L6-v2 and SmolLM2-135M-Instruct),
# serving 4 chat streams of 512 positions each (a ~384-token prompt and 128 new tokens) while
# embeddings are asked for too; peak VmRSS sampled every 50 ms. Writes bench/results/memory-<date>.md.
#   bench/generate/memory.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ATRIUM=.build/release/atrium
scripts/fetch-minilm.sh
scripts/fetch-smollm2.sh
[ -x "$ATRIUM" ] || swift build -c release --product atrium
WORK="$(mktemp -d /tmp/atrium-membench.XXXX)"
mkdir -p "$WORK/models/smollm2-135m-instruct"
ln -s "$(pwd)/.cache/models/all-minilm-l6-v2" "$WORK/models/all-minilm-l6-v2"
ln -s "$(pwd)/.cache/smollm2-135m-instruct.Q4_1.gguf" "$WORK/models/smollm2-135m-instruct/model.gguf"
PORT=18995
cat > "$WORK/atrium.yaml" <<YAML
port: $PORT
log_level: warning
models_dir: $WORK/models
requests_per_minute: 100000000
tokens_per_minute: 100000000000
YAML
echo 'bench password' | $ATRIUM admin create-user --config "$WORK/atrium.yaml" --data-dir "$WORK/data" --email bench@example.com --name Bench >/dev/null
KEY=$($ATRIUM keys create --config "$WORK/atrium.yaml" --data-dir "$WORK/data" --email bench@example.com --name bench)
$ATRIUM serve --config "$WORK/atrium.yaml" --data-dir "$WORK/data" > "$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
idle_kb=$(awk '/VmRSS/ {print $2}' /proc/$SERVER/status)
python3 - "$PORT" "$KEY" > "$WORK/load.txt" <<'PY' &
import concurrent.futures, json, sys, urllib.request
port, key = sys.argv[1], sys.argv[2]
def post(path, body):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", json.dumps(body).encode(),
                                     {"authorization": f"Bearer {key}", "content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())
def chat(i):
    story = " ".join(f"Sentence {j} of story {i} tells of the sea and the ships." for j in range(30))
    answer = post("/v1/chat/completions", {"model": "smollm2-135m-instruct", "max_tokens": 128, "temperature": 0.8, "seed": i,
                                           "messages": [{"role": "user", "content": story + " Continue the story."}]})
    return answer["usage"]["prompt_tokens"] + answer["usage"]["completion_tokens"]
def embed(i):
    return len(post("/v1/embeddings", {"model": "all-minilm-l6-v2", "input": [f"sentence {i} {j}" for j in range(32)]})["data"])
with concurrent.futures.ThreadPoolExecutor(6) as pool:
    chats = [pool.submit(chat, i) for i in range(4)]
    embeds = [pool.submit(embed, i) for i in range(8)]
    print(" ".join(str(c.result()) for c in chats), sum(e.result() for e in embeds))
PY
LOAD=$!
peak_kb=0
while kill -0 $LOAD 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' /proc/$SERVER/status)
    [ "$rss" -gt "$peak_kb" ] && peak_kb=$rss
    sleep 0.05
done
wait $LOAD
read -r -a positions < "$WORK/load.txt"
STAMP=$(date -u +%Y-%m-%dT%H-%M-%SZ)
OUT="bench/results/memory-$STAMP.md"
cat > "$OUT" <<MD
# Serving memory, $STAMP

\`atrium serve\` (release build, $(git rev-parse --short HEAD), default settings: \`engine_kv_cache_mb: 96\`) with
all-MiniLM-L6-v2 and SmolLM2-135M-Instruct loaded, serving 4 chat streams at once (positions per stream,
prompt and completion: ${positions[*]:0:4}) and 8 embedding requests of 32 inputs beside them.

- Resident memory, idle after start: **$((idle_kb / 1024)) MiB**.
- Resident memory, peak under that load: **$((peak_kb / 1024)) MiB** (goal < 400).
MD
cat "$OUT"
