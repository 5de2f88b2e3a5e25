#!/usr/bin/env python3
"""The generation benchmark's peers and its one HTTP client, for bench/generate/run.sh.

In-process cells (prompt and decode tokens per second; each prints one line "PROMPT DECODE"):

    peers.py llama-bench BIN MODEL THREADS INNER   llama.cpp's llama-bench: pp128 and tg128, median of its INNER samples
    peers.py xllamacpp MODEL THREADS INNER         the xllamacpp wheel's in-process server: `timings` of INNER single requests
    peers.py transformers MODEL THREADS            transformers + torch CPU fp32 on the same GGUF, one forward and 128 steps

Servers (the same client for every engine, so the cells compare):

    peers.py xllamacpp-serve MODEL THREADS PORT SLOTS   runs the wheel's server until killed
    peers.py serve-cells URL PID MODEL KEY EXTRA_JSON   1, 4 and 16 concurrent streams (aggregate tokens/s), time to
                                                        first token (ms) and the server's peak RSS (MiB) under the
                                                        4-stream load; prints one JSON line

The prompt of the in-process cells is PROMPT_TOKENS ordinary token ids, the same sequence as
`atrium models bench-generate` uses; decoding is greedy.
"""
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid

PROMPT_TOKENS = 128
NEW_TOKENS = 128
VOCABULARY = 49_152

# Sixteen short, distinct prompts that SmolLM2-135M answers at length (greedy, over 200 tokens each).
TOPICS = [
    "the history of the printing press", "how bridges are built", "the life cycle of stars", "the invention of the telephone",
    "why the oceans are salty", "how bees make honey", "the rise and fall of the Roman Empire", "how computers store numbers",
    "the water cycle on Earth", "the causes of the First World War", "how vaccines train the immune system",
    "the geography of South America", "the migration of monarch butterflies", "how electricity reaches our homes",
    "the story of the Silk Road", "how trains changed the world",
]
STREAM_PROMPTS = [f"Write a long, detailed essay about {t}, with an introduction, several sections and a conclusion." for t in TOPICS]
# About 128 tokens once through SmolLM2's chat template (which adds its default system message).
TTFT_PROMPT = (
    "Here is some background. The city council met on Monday to discuss the new public library, the repairs to the old "
    "bridge over the river, the budget for the summer festival and the plan to plant trees along the main street. "
    "The mayor opened the meeting and thanked the volunteers who had cleaned the park after the storm last week. "
    "Several residents asked when the bridge would reopen, and the engineer said the work should be finished before winter. "
    "Summarize the meeting in detail, and keep every name and date."
)


def token_prompt():
    return [100 + (i * 7919) % (VOCABULARY - 100) for i in range(PROMPT_TOKENS)]


# --- in-process cells ---------------------------------------------------------------------------------

def llama_bench(binary, model, threads, inner):
    out = subprocess.run(
        [binary, "-m", model, "-p", str(PROMPT_TOKENS), "-n", str(NEW_TOKENS), "-t", str(threads), "-r", str(inner), "-o", "json"],
        check=True, capture_output=True, text=True).stdout
    rows = json.loads(out)
    prompt = next(r for r in rows if r["n_prompt"] == PROMPT_TOKENS and r["n_gen"] == 0)
    decode = next(r for r in rows if r["n_prompt"] == 0 and r["n_gen"] == NEW_TOKENS)
    return statistics.median(prompt["samples_ts"]), statistics.median(decode["samples_ts"])


def xllamacpp_server(model, threads, slots, port, context):
    import xllamacpp
    params = xllamacpp.CommonParams()
    params.model.path = model
    params.n_parallel = slots
    params.n_ctx = context
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.port = port
    return xllamacpp.Server(params)


def xllamacpp_cells(model, threads, inner):
    import httpx
    server = xllamacpp_server(model, threads, 1, 18_980 + threads, 1024)
    url = server.listening_address
    body = {"prompt": token_prompt(), "n_predict": NEW_TOKENS, "ignore_eos": True, "cache_prompt": False, "temperature": 0}
    with httpx.Client(timeout=300) as client:
        client.post(f"{url}/completion", json={**body, "n_predict": 8}).raise_for_status()  # warm-up
        timings = []
        for _ in range(inner):
            r = client.post(f"{url}/completion", json=body)
            r.raise_for_status()
            timings.append(r.json()["timings"])
    assert all(t["prompt_n"] == PROMPT_TOKENS and t["predicted_n"] == NEW_TOKENS for t in timings), timings
    return statistics.median(t["prompt_per_second"] for t in timings), statistics.median(t["predicted_per_second"] for t in timings)


def transformers_cells(model, threads):
    import torch
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(threads)
    network = AutoModelForCausalLM.from_pretrained(
        os.path.dirname(os.path.abspath(model)), gguf_file=os.path.basename(model), torch_dtype=torch.float32).eval()
    ids = torch.tensor([token_prompt()])

    def run(prompt, steps):
        with torch.inference_mode():
            start = time.perf_counter()
            out = network(prompt, use_cache=True)
            prompt_seconds = time.perf_counter() - start
            past, token = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
            start = time.perf_counter()
            for _ in range(steps):
                out = network(token, past_key_values=past, use_cache=True)
                past, token = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
            return prompt.shape[1] / prompt_seconds, steps / (time.perf_counter() - start)

    run(ids[:, :16], 4)  # warm-up
    return run(ids, NEW_TOKENS)


# --- servers ------------------------------------------------------------------------------------------

def open_connection(url):
    """An HTTP connection to the server at `url` (not yet connected)."""
    import http.client
    from urllib.parse import urlsplit
    where = urlsplit(url)
    return http.client.HTTPConnection(where.hostname, where.port, timeout=600)


def stream_chat(url, key, model, content, max_tokens, extra, connection=None):
    """One streamed chat completion on a connection of its own (llama.cpp's server does not keep a
    connection alive after a stream), on `connection` where the caller opened it beforehand: (seconds to
    the first content, completion tokens, prompt tokens).

    The client is the standard library's http.client, reading whatever bytes have arrived and parsing
    only the events it needs: the machine has two cores, which the client shares with the server it
    measures, and httpx spent about 0.6 ms of Python per streamed token (9% of the machine with 16
    streams) where this spends a fraction of it."""
    # A system message that begins with a fresh nonce: no request shares a prompt beginning with another,
    # so neither Atrium's prefix cache nor llama.cpp's slot cache skips any prompt work.
    system = {"role": "system", "content": f"{uuid.uuid4().hex[:8]} You are a helpful assistant."}
    body = {"model": model, "messages": [system, {"role": "user", "content": content}], "max_tokens": max_tokens, "temperature": 0,
            "stream": True, "stream_options": {"include_usage": True}, **extra}
    headers = {"content-type": "application/json", **({"authorization": f"Bearer {key}"} if key != "-" else {})}
    connection = connection or open_connection(url)
    start, first, usage = time.perf_counter(), None, None
    try:
        connection.request("POST", "/v1/chat/completions", body=json.dumps(body), headers=headers)
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {response.read().decode()[:500]}")
        pending = b""
        while True:
            data = response.read1(65536)
            if not data:
                break
            pending += data
            *events, pending = pending.split(b"\n\n")
            for event in events:
                if not event.startswith(b"data: ") or event == b"data: [DONE]":
                    continue
                # Only the first content and the last events (usage, errors) need parsing; a content
                # delta is told by its bytes.
                if first is not None and not (b'"usage"' in event and b'"usage":null' not in event) and b'"error"' not in event:
                    continue
                chunk = json.loads(event[6:])
                if "error" in chunk:
                    raise RuntimeError(f"stream error: {chunk['error']}")
                if first is None and any((c.get("delta") or {}).get("content") for c in chunk.get("choices") or []):
                    first = time.perf_counter() - start
                if chunk.get("usage"):
                    usage = chunk["usage"]
    finally:
        connection.close()
    if usage is None:
        raise RuntimeError("the stream ended without a usage chunk")
    return first, usage["completion_tokens"], usage["prompt_tokens"]


def concurrent_streams(url, key, model, streams, extra, sample_pid=None):
    """`streams` requests at once, each its own prompt and NEW_TOKENS tokens: (aggregate tokens/s, tokens
    per stream, peak RSS MiB of sample_pid while they ran)."""
    barrier, results, peak = threading.Barrier(streams + 1), [None] * streams, [0]
    done = threading.Event()

    def one(i):
        # Each stream's connection is opened before the clock starts, so that the last request goes out
        # as soon as the first.
        connection = open_connection(url)
        connection.connect()
        barrier.wait()
        results[i] = stream_chat(url, key, model, STREAM_PROMPTS[i % len(STREAM_PROMPTS)], NEW_TOKENS, extra, connection=connection)

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(sample_pid))
            time.sleep(0.05)

    workers = [threading.Thread(target=one, args=(i,)) for i in range(streams)]
    for w in workers:
        w.start()
    sampler = threading.Thread(target=sample) if sample_pid else None
    barrier.wait()
    start = time.perf_counter()
    if sampler:
        sampler.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - start
    done.set()
    if sampler:
        sampler.join()
    if any(r is None for r in results):
        raise RuntimeError("a stream failed")
    tokens = [r[1] for r in results]
    return sum(tokens) / wall, tokens, peak[0] / 1024


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def serve_cells(url, pid, model, key, extra):
    stream_chat(url, key, model, "Say hello.", 8, extra)  # warm-up
    ttfts, prompt_tokens = [], None
    for _ in range(3):
        first, _, prompt_tokens = stream_chat(url, key, model, TTFT_PROMPT, 8, extra)
        ttfts.append(first * 1000)
    one, one_tokens, _ = concurrent_streams(url, key, model, 1, extra)
    four, four_tokens, rss = concurrent_streams(url, key, model, 4, extra, sample_pid=pid)
    sixteen, sixteen_tokens, _ = concurrent_streams(url, key, model, 16, extra)
    return {"streams1": one, "streams4": four, "streams16": sixteen, "ttft_ms": statistics.median(ttfts), "rss_mib": rss,
            "ttft_prompt_tokens": prompt_tokens, "tokens1": one_tokens, "tokens4": four_tokens, "tokens16": sixteen_tokens}


def main():
    which, args = sys.argv[1], sys.argv[2:]
    if which == "llama-bench":
        print("%.1f %.1f" % llama_bench(args[0], args[1], int(args[2]), int(args[3])))
    elif which == "xllamacpp":
        print("%.1f %.1f" % xllamacpp_cells(args[0], int(args[1]), int(args[2])))
    elif which == "transformers":
        print("%.1f %.1f" % transformers_cells(args[0], int(args[1])))
    elif which == "xllamacpp-serve":
        slots = int(args[3])
        server = xllamacpp_server(args[0], int(args[1]), slots, int(args[2]), slots * 512)  # as llama-server -np 16 -c 8192
        print(f"ready {server.listening_address}", flush=True)
        threading.Event().wait()
    elif which == "serve-cells":
        print(json.dumps(serve_cells(args[0], int(args[1]), args[2], args[3], json.loads(args[4]))))
    else:
        sys.exit(f"unknown peer {which}")


if __name__ == "__main__":
    main()
