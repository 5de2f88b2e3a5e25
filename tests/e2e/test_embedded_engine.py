"""The embedded engine through the official `openai` SDK: all-MiniLM-L6-v2 served by `atrium serve`
itself, checked against the golden embeddings of sentence-transformers."""
import base64
import concurrent.futures
import json
import math
import struct
import subprocess
import time
from pathlib import Path

import httpx
import openai
import pytest

from conftest import BIN, Atrium

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / ".cache" / "models"
MODEL = "all-minilm-l6-v2"
GOLDEN = json.loads((ROOT / "tests" / "golden" / "minilm.json").read_text())["cases"]


def vector(case):
    raw = base64.b64decode(case["embedding"])
    return struct.unpack(f"<{len(raw) // 4}f", raw)


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


@pytest.fixture(scope="module")
def engine_server(upstreams):
    if not (MODELS / MODEL / "model.safetensors").exists():
        pytest.fail(f"{MODELS / MODEL} is missing: run scripts/fetch-minilm.sh")
    server = Atrium(upstreams, extra={"models_dir": str(MODELS), "engine_max_queued": 64})
    yield server
    assert server.stop() == 0, (server.dir / "server.log").read_text()[-4000:]


@pytest.fixture(scope="module")
def engine_key(engine_server):
    return engine_server.create_user_and_key("engine@example.com")


@pytest.fixture
def engine(engine_server, engine_key):
    return openai.OpenAI(base_url=engine_server.url + "/v1", api_key=engine_key, max_retries=0, timeout=60)


def test_the_model_is_listed(engine):
    models = {model.id: model for model in engine.models.list()}
    assert models[MODEL].owned_by == "embedded"


def test_embeddings_match_sentence_transformers(engine):
    cases = [c for c in GOLDEN if c["text"].strip()][:64]
    # The SDK asks for base64 by default and decodes it.
    result = engine.embeddings.create(model=MODEL, input=[c["text"] for c in cases])
    assert [d.index for d in result.data] == list(range(len(cases)))
    for case, item in zip(cases, result.data):
        assert len(item.embedding) == 384
        assert cosine(item.embedding, vector(case)) >= 0.99999
        assert max(abs(a - b) for a, b in zip(item.embedding, vector(case))) <= 1e-5
    assert result.usage.prompt_tokens == sum(len(c["ids"]) for c in cases)
    assert result.usage.total_tokens == result.usage.prompt_tokens
    assert result.model == MODEL


def test_float_format_and_token_arrays(engine):
    case = GOLDEN[0]
    as_float = engine.embeddings.create(model=MODEL, input=case["text"], encoding_format="float")
    # Token ids are the model's own, without [CLS]/[SEP] (the engine adds them as it does for text).
    as_tokens = engine.embeddings.create(model=MODEL, input=case["ids"][1:-1], encoding_format="float")
    as_token_lists = engine.embeddings.create(model=MODEL, input=[case["ids"][1:-1]] * 2, encoding_format="float")
    assert cosine(as_float.data[0].embedding, vector(case)) >= 0.99999
    assert max(abs(a - b) for a, b in zip(as_float.data[0].embedding, as_tokens.data[0].embedding)) < 1e-6
    assert len(as_token_lists.data) == 2 and as_token_lists.usage.prompt_tokens == 2 * len(case["ids"])


def test_inputs_the_model_cannot_take_are_refused_with_param(engine):
    with pytest.raises(openai.BadRequestError) as too_long:
        engine.embeddings.create(model=MODEL, input=["short", "word " * 300])
    assert too_long.value.status_code == 400
    assert too_long.value.body["param"] == "input[1]"
    assert too_long.value.body["code"] == "context_length_exceeded"
    assert "256" in too_long.value.body["message"]
    with pytest.raises(openai.BadRequestError) as bad_token:
        engine.embeddings.create(model=MODEL, input=[101, 99999999])
    assert bad_token.value.body["param"] == "input"
    with pytest.raises(openai.BadRequestError) as dimensions:
        engine.embeddings.create(model=MODEL, input="x", dimensions=128)
    assert dimensions.value.body["param"] == "dimensions"
    with pytest.raises(openai.BadRequestError) as chat:
        engine.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert chat.value.body["param"] == "model"
    with pytest.raises(openai.BadRequestError) as empty:
        engine.embeddings.create(model=MODEL, input="")
    assert empty.value.body["param"] == "input"


def test_concurrent_requests_all_answer_and_the_ledger_counts_real_tokens(engine_server, engine_key):
    texts = [c["text"] for c in GOLDEN if c["text"].strip()][100:140]

    def one(text):
        return httpx.post(engine_server.url + "/v1/embeddings", headers={"authorization": f"Bearer {engine_key}"},
                          json={"model": MODEL, "input": text, "encoding_format": "float"}, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(one, texts))
    assert [r.status_code for r in responses] == [200] * len(texts)
    by_text = {c["text"]: c for c in GOLDEN}
    for text, response in zip(texts, responses):
        body = response.json()
        assert cosine(body["data"][0]["embedding"], vector(by_text[text])) >= 0.99999
        assert body["usage"]["prompt_tokens"] == len(by_text[text]["ids"])
        assert response.headers["x-ratelimit-limit-requests"]
    session = engine_server.session("engine@example.com")
    for _ in range(50):  # the ledger's group commit runs every 100 ms
        records = session.get("/api/usage/records", params={"model": MODEL, "limit": 500}).json()["data"]
        if len(records) >= len(texts):
            break
        time.sleep(0.1)
    counted = [r for r in records if r["status"] == 200 and r["provider"] == "embedded"]
    assert sum(r["prompt_tokens"] for r in counted) >= sum(len(by_text[t]["ids"]) for t in texts)
    assert not any(r["estimated"] for r in counted)


def test_a_full_queue_answers_429(engine_server, engine_key):
    long_text = "word " * 250

    def one(_):
        return httpx.post(engine_server.url + "/v1/embeddings", headers={"authorization": f"Bearer {engine_key}"},
                          json={"model": MODEL, "input": [long_text] * 32}, timeout=120)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = [r.status_code for r in pool.map(one, range(8))]
    # The queue holds 64 inputs: of eight requests of 32 at once, some wait and some are turned away.
    assert 200 in statuses and 429 in statuses, statuses
    assert set(statuses) <= {200, 429}


def test_models_import_list_and_broken_folders(engine_server, tmp_path):
    data = tmp_path / "data"
    def run(*args):
        return subprocess.run([str(BIN), "models", *args, "--data-dir", str(data)], capture_output=True, text=True, timeout=120)

    imported = run("import", str(MODELS / MODEL), "--name", "mini")
    assert imported.returncode == 0, imported.stderr
    assert "100%" in imported.stderr  # the progress bar
    assert (data / "models" / "mini" / "model.safetensors").exists()
    assert not [p for p in (data / "models").iterdir() if p.name.startswith(".importing")]
    listed = run("list")
    assert "mini\tembedding\t384 dimensions\tup to 256 tokens" in listed.stdout
    again = run("import", str(MODELS / MODEL), "--name", "mini")
    assert again.returncode != 0 and "already imported" in again.stderr
    assert run("import", str(MODELS / MODEL), "--name", "mini", "--if-missing").returncode == 0
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((MODELS / MODEL / "config.json").read_text())
    (broken / "model.safetensors").write_bytes(b"\x07\x00\x00\x00\x00\x00\x00\x00{\"a\":1}")
    refused = run("import", str(broken))
    assert refused.returncode != 0
    assert "model.safetensors" in refused.stderr and "tensor a" in refused.stderr
    assert not (data / "models" / "broken").exists()
    bad_name = run("import", str(MODELS / MODEL), "--name", "../escape")
    assert bad_name.returncode != 0 and "not a usable model name" in bad_name.stderr


class Hub:
    """A Hugging Face-compatible hub on a local port: `/api/models/<repo>/revision/<rev>` lists the files
    of the one repository it holds, `/<repo>/resolve/<rev>/<file>` serves them."""

    def __init__(self, repo, folder, extra_files=()):
        import http.server
        import threading
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) + list(extra_files)
        hub = self
        self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                hub.requests.append((self.path, self.headers.get("authorization")))
                listing = f"/api/models/{repo}/revision/main"
                if self.path.split("?")[0] == listing:
                    siblings = [{"rfilename": f, "size": (folder / f).stat().st_size if (folder / f).exists() else 1} for f in files]
                    return self.reply(200, json.dumps({"id": repo, "siblings": siblings}).encode())
                prefix = f"/{repo}/resolve/main/"
                if self.path.startswith(prefix) and (folder / self.path[len(prefix):]).is_file():
                    return self.reply(200, (folder / self.path[len(prefix):]).read_bytes())
                self.reply(404, b'{"error":"Repository not found"}')

            def reply(self, status, body):
                self.send_response(status)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def test_models_pull_from_a_hub(tmp_path):
    # The hub also lists files of other runtimes, which are not downloaded.
    hub = Hub("acme/MiniLM-Test", MODELS / MODEL, extra_files=["pytorch_model.bin", "onnx/model.onnx"])
    data = tmp_path / "data"

    def pull(*args, token=None):
        env = dict(__import__("os").environ, HF_TOKEN=token) if token else None
        return subprocess.run([str(BIN), "models", "pull", *args, "--endpoint", hub.url, "--data-dir", str(data)],
                              capture_output=True, text=True, timeout=120, env=env)

    try:
        pulled = pull("acme/MiniLM-Test", token="hf_secret")
        assert pulled.returncode == 0, pulled.stderr
        assert "100%" in pulled.stderr
        folder = data / "models" / "minilm-test"
        assert (folder / "model.safetensors").read_bytes() == (MODELS / MODEL / "model.safetensors").read_bytes()
        assert (folder / "1_Pooling" / "config.json").exists()
        assert not (folder / "pytorch_model.bin").exists() and not (folder / "onnx").exists()
        assert all(auth == "Bearer hf_secret" for _, auth in hub.requests)
        assert not any("pytorch_model.bin" in path for path, _ in hub.requests)
        missing = pull("acme/nothing-here")
        assert missing.returncode != 0 and "404" in missing.stderr
        bad = pull("not-a-repo")
        assert bad.returncode != 0 and "owner/model" in bad.stderr
        assert not [p for p in (data / "models").iterdir() if p.name.startswith(".")]
    finally:
        hub.stop()
