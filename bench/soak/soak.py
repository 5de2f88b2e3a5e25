"""The soak itself: see run.sh. Every loop is bounded by DURATION and stops by itself."""
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from conftest import free_port, wait_http  # noqa: E402  (the end-to-end tests' own helpers)
BIN = Path(os.environ.get("ATRIUM_BIN", ROOT / ".build" / "release" / "atrium"))
DURATION = float(os.environ.get("DURATION", "600"))
CLIENTS = int(os.environ.get("CLIENTS", "6"))
WARMUP = min(60.0, DURATION / 5)
CHAT, EMBED, UPSTREAM = "smollm2-135m-instruct", "all-minilm-l6-v2", "echo"


def resident_mib(pid):
    """Resident memory in MiB: all of it, the anonymous part (heap, stacks) and the file-backed part
    (the memory-mapped model files, paged in as their rows are first read)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile"):
            fields[name] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("RssAnon", 0.0), fields.get("RssFile", 0.0)


class Soak:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="atrium-soak-"))
        models = self.dir / "models"
        (models / CHAT).mkdir(parents=True)
        (models / CHAT / "model.gguf").symlink_to(ROOT / ".cache" / "smollm2-135m-instruct.Q4_1.gguf")
        (models / EMBED).symlink_to(ROOT / ".cache" / "models" / EMBED)
        self.upstream_port, self.port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "port": self.port, "log_level": "warning", "bcrypt_cost": 4, "models_dir": str(models),
            "providers": [{"name": "fake", "kind": "openai", "base_url": f"http://127.0.0.1:{self.upstream_port}/v1",
                           "models": [{"name": UPSTREAM, "upstream": "echo-a", "kind": "chat"}]}],
        }
        (self.dir / "atrium.yaml").write_text(json.dumps(config))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ATRIUM_") and k != "DATABASE_URL"}
        self.upstream = subprocess.Popen([sys.executable, str(ROOT / "tests" / "e2e" / "fake_upstream.py"), "--port",
                                          str(self.upstream_port), "--label", "soak"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(f"http://127.0.0.1:{self.upstream_port}/_state")
        self.cli("admin", "create-user", "--email", "soak@example.com", "--name", "Soak", stdin="soak password\n")
        self.key = self.cli("keys", "create", "--email", "soak@example.com", "--name", "soak").strip()
        self.log = open(self.dir / "server.log", "w")
        self.server = subprocess.Popen([str(BIN), "serve", *self.where()], stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        wait_http(self.url + "/healthz", timeout=120)
        self.results = []  # (kind, status, request id or None)
        self.rss = []  # (seconds, MiB resident, MiB anonymous, MiB file-backed)
        self.lock = threading.Lock()
        self.t0 = time.time()

    def where(self):
        return ["--config", str(self.dir / "atrium.yaml"), "--data-dir", str(self.dir / "data")]

    def cli(self, *args, stdin=None):
        done = subprocess.run([str(BIN), *args, *self.where()], input=stdin, capture_output=True, text=True, env=self.env, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def record(self, kind, status, request_id=None):
        with self.lock:
            self.results.append((kind, status, request_id))

    # One request of each kind. Each returns after recording its outcome.

    def chat(self, http, rng, model, stream, leave=False):
        body = {"model": model, "messages": [{"role": "user", "content": rng.choice(["Hi", "Name a colour.", "What is 2+2?"])}],
                "max_tokens": rng.choice([8, 16, 24]), "temperature": rng.choice([0, 0.7]), "stream": stream}
        kind = f"chat {'stream' if stream else 'whole'} {'embedded' if model == CHAT else 'upstream'}{' left' if leave else ''}"
        if not stream:
            response = http.post("/v1/chat/completions", json=body)
            return self.record(kind, response.status_code, response.headers.get("x-request-id"))
        with http.stream("POST", "/v1/chat/completions", json=body) as response:
            request_id = response.headers.get("x-request-id")
            for n, _ in enumerate(response.iter_lines()):
                if leave and n >= 2:
                    break  # closes the connection mid-stream: the server must notice, stop and meter it
            self.record(kind, 499 if leave else response.status_code, request_id)

    def embed(self, http, rng):
        texts = [f"sentence {rng.randint(0, 10**6)} about soaking" for _ in range(rng.randint(1, 8))]
        response = http.post("/v1/embeddings", json={"model": EMBED, "input": texts})
        self.record("embeddings", response.status_code, response.headers.get("x-request-id"))

    def api(self, session, rng):
        if rng.random() < 0.5:
            for path in ("/api/keys", "/api/usage", "/api/credits", "/api/usage/records?limit=20"):
                self.record("api read", session.get(path).status_code)
        else:
            made = session.post("/api/keys", json={"name": f"soak {rng.randint(0, 10**6)}"})
            self.record("api write", made.status_code)
            if made.status_code == 201:
                self.record("api write", session.delete(f"/api/keys/{made.json()['id']}").status_code)

    BAD = [
        ("/v1/chat/completions", b"{not json"),
        ("/v1/chat/completions", json.dumps({"model": CHAT, "messages": [], "max_tokens": 5}).encode()),
        ("/v1/chat/completions", json.dumps({"model": CHAT, "messages": [{"role": "user", "content": "x"}], "max_tokens": 2**63}).encode()),
        ("/v1/chat/completions", json.dumps({"model": CHAT, "messages": [{"role": "user", "content": "x"}], "temperature": 1e308}).encode()),
        ("/v1/chat/completions", json.dumps({"model": CHAT, "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {"name": "f"}}]}).encode()),
        ("/v1/chat/completions", json.dumps({"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]}).encode()),
        ("/v1/completions", json.dumps({"model": CHAT, "prompt": [[10**12]]}).encode()),
        ("/v1/embeddings", json.dumps({"model": EMBED, "input": ""}).encode()),
        ("/v1/embeddings", json.dumps({"model": EMBED, "input": ["x"], "dimensions": -(2**63)}).encode()),
        ("/api/keys", json.dumps({"name": "x", "expires_at": 19004593971798160961607706911703040}).encode()),
        ("/api/keys", json.dumps({"name": "a\u0000b"}).encode()),
    ]

    def bad(self, http, session, rng):
        path, body = rng.choice(self.BAD)
        client = session if path.startswith("/api") else http
        response = client.post(path, content=body, headers={"content-type": "application/json"})
        self.record("bad input", response.status_code, response.headers.get("x-request-id") if path.startswith("/v1") else None)

    def client(self, n):
        rng = random.Random(n)
        with httpx.Client(base_url=self.url, timeout=120, headers={"authorization": f"Bearer {self.key}"}) as http, \
                httpx.Client(base_url=self.url, timeout=60) as session:
            assert session.post("/api/auth/login", json={"email": "soak@example.com", "password": "soak password"}).status_code == 200
            while time.time() - self.t0 < DURATION:
                roll = rng.random()
                try:
                    if roll < 0.25:
                        self.chat(http, rng, CHAT, stream=True, leave=rng.random() < 0.2)
                    elif roll < 0.35:
                        self.chat(http, rng, CHAT, stream=False)
                    elif roll < 0.55:
                        stream = rng.random() < 0.5
                        self.chat(http, rng, UPSTREAM, stream=stream, leave=stream and rng.random() < 0.2)
                    elif roll < 0.70:
                        self.embed(http, rng)
                    elif roll < 0.85:
                        self.api(session, rng)
                    else:
                        self.bad(http, session, rng)
                except httpx.HTTPError as error:
                    self.record("transport", type(error).__name__)

    def sample_memory(self):
        while time.time() - self.t0 < DURATION and self.server.poll() is None:
            self.rss.append((time.time() - self.t0, *resident_mib(self.server.pid)))
            time.sleep(5)

    def run(self):
        threads = [threading.Thread(target=self.client, args=(n,)) for n in range(CLIENTS)]
        threads.append(threading.Thread(target=self.sample_memory))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        alive = self.server.poll() is None
        time.sleep(1)  # the last group commit
        self.server.terminate()
        self.server.wait(60)
        self.upstream.terminate()
        return alive

    def usage_rows(self):
        db = sqlite3.connect(self.dir / "data" / "atrium.db")
        return Counter(row[0] for row in db.execute("SELECT request_id FROM usage_records"))


def main():
    soak = Soak()
    alive = soak.run()
    statuses = Counter((kind, status) for kind, status, _ in soak.results)
    server_errors = sum(n for (_, status), n in statuses.items() if isinstance(status, int) and status >= 500)
    transport = sum(n for (kind, _), n in statuses.items() if kind == "transport")
    settled = [mib for t, mib, *_ in soak.rss if t >= WARMUP]
    parts = [(anon, file) for t, _, anon, file in soak.rss if t >= WARMUP]
    drift = (max(settled) - min(settled)) / min(settled) if settled else 0.0
    rows = soak.usage_rows()
    metered = [request_id for kind, status, request_id in soak.results if request_id and kind != "transport" and status != 401]
    missing = [r for r in metered if rows.get(r, 0) == 0]
    doubled = [r for r, n in rows.items() if n > 1]
    verdict = alive and server_errors == 0 and transport == 0 and drift <= 0.10 and not missing and not doubled

    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H-%M-%SZ")
    result = {
        "duration_s": DURATION, "clients": CLIENTS, "requests": len(soak.results), "alive": alive,
        "server_errors": server_errors, "transport_errors": transport,
        "rss_mib": {"first_minute_end": settled[0] if settled else None, "min": min(settled, default=0),
                    "max": max(settled, default=0), "last": settled[-1] if settled else None, "drift": drift,
                    "anonymous_first_last": [parts[0][0], parts[-1][0]] if parts else None,
                    "file_backed_first_last": [parts[0][1], parts[-1][1]] if parts else None,
                    "samples": [[round(t), *(round(v, 1) for v in values)] for t, *values in soak.rss]},
        "usage": {"metered_requests": len(metered), "missing": len(missing), "doubled": len(doubled)},
        "by_kind": {f"{kind} → {status}": n for (kind, status), n in sorted(statuses.items(), key=str)},
        "passed": verdict,
    }
    out = ROOT / "bench" / "results" / f"soak-{stamp}"
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    lines = [
        f"# Soak, {stamp}", "",
        f"{DURATION:.0f} s, {CLIENTS} clients, one `atrium serve` ({BIN.relative_to(ROOT) if BIN.is_relative_to(ROOT) else BIN}; SQLite, "
        "embedded SmolLM2-135M and MiniLM, a fake upstream).", "",
        f"- **{'passed' if verdict else 'FAILED'}**: {len(soak.results)} requests; 5xx: {server_errors}; transport errors: {transport}; server alive at the end: {alive}",
        f"- resident memory after the first {WARMUP:.0f} s: {min(settled, default=0):.0f}–{max(settled, default=0):.0f} MiB "
        f"(drift {drift * 100:.1f} %, limit 10 %); one sample a minute: " + ", ".join(f"{mib:.0f}" for _, mib, *_ in soak.rss[::12]),
        f"- of which anonymous (heap, stacks) {parts[0][0]:.0f} → {parts[-1][0]:.0f} MiB, file-backed (mapped model files) "
        f"{parts[0][1]:.0f} → {parts[-1][1]:.0f} MiB" if parts else "- no memory samples",
        f"- usage rows: {len(metered)} metered /v1 requests, {len(missing)} without a row, {len(doubled)} with more than one", "",
        "| request → status | count |", "| --- | --- |",
        *[f"| {k} | {n} |" for k, n in result["by_kind"].items()],
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    sys.exit(0 if verdict else 1)


if __name__ == "__main__":
    main()
