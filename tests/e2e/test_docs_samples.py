"""Every sample on the docs pages runs: the curl, Python (official openai SDK) and JavaScript (Node's
fetch) code is taken from the rendered page as a reader would copy it, run against the live server
with a real key, and must succeed. The Chinese pages show the same code."""
import html
import os
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import httpx
import pytest

GUIDES = ["getting-started", "chat", "embeddings", "errors", "rate-limits"]
SAMPLE = re.compile(r'<code id="code-([a-z-]+)-(curl|python|javascript|swift)" data-sample="[^"]*">(.*?)</code>', re.S)


def samples(atrium, slug, language="en"):
    page = httpx.get(f"{atrium.url}/docs/{slug}", headers={"accept-language": language})
    assert page.status_code == 200, page.text[:300]
    found = [(operation, kind, html.unescape(code)) for operation, kind, code in SAMPLE.findall(page.text)]
    assert found, f"/docs/{slug} shows no samples"
    return found


def run(kind, code, key):
    env = {**os.environ, "ATRIUM_API_KEY": key}
    with tempfile.TemporaryDirectory() as folder:
        if kind == "curl":
            command = ["bash", "-c", code.replace("curl ", "curl -sS --fail-with-body ", 1)]
        elif kind == "python":
            (Path(folder) / "sample.py").write_text(code)
            command = [sys.executable, str(Path(folder) / "sample.py")]
        else:
            (Path(folder) / "sample.mjs").write_text(code)
            command = ["node", str(Path(folder) / "sample.mjs")]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


def test_the_guides_are_listed_in_both_languages(atrium):
    english = httpx.get(atrium.url + "/docs").text
    chinese = httpx.get(atrium.url + "/docs", headers={"accept-language": "zh-CN"}).text
    for slug in GUIDES:
        assert f'href="/docs/{slug}"' in english and f'href="/docs/{slug}"' in chinese
    assert "Getting started" in english and "快速入门" in chinese
    assert httpx.get(atrium.url + "/docs/no-such-guide", headers={"accept": "text/html"}).status_code == 404


@pytest.mark.parametrize("slug", GUIDES)
def test_every_sample_of_the_guide_runs_against_the_server(atrium, api_key, slug):
    ran = 0
    for operation, kind, code in samples(atrium, slug):
        assert atrium.url in code and "atr_" not in code  # this server, and the key from the environment
        if kind == "swift":
            assert f'URL(string: "{atrium.url}/v1/' in code
            continue
        done = run(kind, code, api_key)
        assert done.returncode == 0, f"{operation} ({kind}) failed:\n{code}\n---\n{done.stdout}\n{done.stderr}"
        output = done.stdout.strip()
        assert output, f"{operation} ({kind}) printed nothing"
        if operation == "models":
            assert "echo" in output
        if operation == "embeddings" and kind != "curl":
            assert output.splitlines()[0].split()[0] == "0"
        ran += 1
    assert ran >= 3


@pytest.mark.parametrize("slug", GUIDES)
def test_the_chinese_guide_shows_the_same_code(atrium, slug):
    assert samples(atrium, slug, "zh-CN") == samples(atrium, slug)


def test_a_failing_key_makes_the_sample_fail_loudly(atrium):
    for operation, kind, code in samples(atrium, "getting-started"):
        if operation == "chat" and kind in ("curl", "python", "javascript"):
            done = run(kind, code, "atr_not_a_real_key")
            assert done.returncode != 0, f"{kind} succeeded with a bad key"
            assert "401" in done.stdout + done.stderr or "invalid_api_key" in done.stdout + done.stderr


def test_the_api_reference_shows_every_operation_and_schema_of_the_contract(atrium):
    contract = httpx.get(atrium.url + "/openapi.json").json()
    page = httpx.get(atrium.url + "/docs/api").text
    operations = [(method, path, op) for path, item in contract["paths"].items() for method, op in item.items()
                  if method in ("get", "post", "put", "patch", "delete")]
    for method, path, op in operations:
        anchor = f'id="op-{op["operationId"]}"'
        assert anchor in page, op["operationId"]
        section = page[page.index(anchor):].split('<section class="reference-item"', 1)[0]
        assert f"{method.upper()}</span> <code>{html.escape(path)}</code>" in section
        for status in op["responses"]:
            assert f"<code>{status}</code>" in section, (op["operationId"], status)
    for name in contract["components"]["schemas"]:
        assert f'id="schema-{name}"' in page, name
    # Every link within the page has its target.
    targets = set(re.findall(r'id="([^"]+)"', page))
    assert {href for href in re.findall(r'href="#([^"]+)"', page)} <= targets
    chat = page[page.index('id="op-createChatCompletion"'):]
    assert "<code>messages</code> <span class=\"required\">required</span>" in chat
    assert "From 0 to 2." in page  # a field's bounds, from the contract
    chinese = httpx.get(atrium.url + "/docs/api", headers={"accept-language": "zh-CN"}).text
    assert "API 参考" in chinese and "请求体" in chinese and 'id="op-createChatCompletion"' in chinese


def test_a_signed_in_reader_sees_their_key_in_the_samples_and_they_still_run(atrium):
    client = httpx.Client(base_url=atrium.url)
    email = f"reader-{uuid.uuid4().hex[:8]}@example.com"
    assert client.post("/api/auth/signup", json={"email": email, "password": "a good password", "name": "Reader"}).status_code == 201
    assert "Set ATRIUM_API_KEY" not in client.get("/docs/chat").text  # no key yet: nothing to name
    key = client.post("/api/keys", json={"name": "docs"}).json()
    page = client.get("/docs/chat").text
    assert f"Set ATRIUM_API_KEY to your key {key['prefix']}…" in page and key["secret"] not in page
    found = [(op, kind, html.unescape(code)) for op, kind, code in SAMPLE.findall(page)]
    for operation, kind, code in found:
        if kind in ("curl", "python"):
            assert code.startswith("# Set ATRIUM_API_KEY"), code
            done = run(kind, code, key["secret"])
            assert done.returncode == 0, f"{operation} ({kind}):\n{code}\n---\n{done.stderr}"
