"""Starts what the end-to-end tests talk to: two fake OpenAI-compatible upstreams and the real
`atrium serve` binary (built once by `swift build`), each on a free loopback port."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("ATRIUM_BIN", ROOT / ".build" / "debug" / "atrium"))
HERE = Path(__file__).resolve().parent

# Hermetic: the settings of the user's shell (`ATRIUM_PORT`, `DATABASE_URL`, …) would reach every
# `atrium` these tests start. Only the harness's own variables stay.
for name in list(os.environ):
    harness = name.startswith(("ATRIUM_TEST_", "ATRIUM_E2E_")) or name == "ATRIUM_BIN"
    if (name.startswith("ATRIUM_") and not harness) or name == "DATABASE_URL":
        del os.environ[name]


def fast_lane_answers(atrium):
    """How many model API requests the server answered on its event loops' fast lane so far."""
    metrics = httpx.get(atrium.url + "/metrics").text
    return float(re.search(r"^atrium_fast_lane_answers_total(?:\{[^}]*\})? ([\d.e+]+)$", metrics, re.M).group(1))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


class Upstream:
    def __init__(self, label):
        self.label = label
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, str(HERE / "fake_upstream.py"), "--port", str(self.port), "--label", label])
        wait_http(self.url + "/_state")

    def state(self):
        return httpx.get(self.url + "/_state").json()

    def set_mode(self, mode):
        httpx.post(self.url + "/_control", json={"mode": mode}).raise_for_status()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)


class Atrium:
    """One `atrium serve` process with its own data directory and config."""

    def __init__(self, upstreams, grace=30, database_url=None, data_dir=None, key_cache_seconds=5, extra=None, extra_env=None):
        self.dir = Path(tempfile.mkdtemp(prefix="atrium-e2e-"))
        self.data_dir = data_dir or self.dir / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        a, b = upstreams
        config = {
            "port": self.port,
            "bcrypt_cost": 4,
            # Most tests make keys right after signing up; the account-mail tests turn this on.
            "require_verified_email": False,
            # Every test signs up from 127.0.0.1; the throttles have tests of their own.
            "signups_per_hour": 100000,
            "mail_links_per_hour": 100000,
            "shutdown_grace_seconds": grace,
            "key_cache_seconds": key_cache_seconds,
            "plans": [{"name": "pro", "requests_per_minute": 100000, "tokens_per_minute": 50000000}],
            "providers": [
                {"name": "up-a", "kind": "openai", "base_url": a.url + "/v1",
                 "circuit": {"failure_threshold": 2, "cooldown": 1},
                 "models": [
                     {"name": "echo", "upstream": "echo-a", "kind": "chat"},
                     {"name": "dual", "upstream": "echo-dual", "kind": "chat"},
                     {"name": "picky", "upstream": "reject-1", "kind": "chat"},
                     {"name": "instruct", "upstream": "echo-instruct", "kind": "completion"},
                     {"name": "embedder", "upstream": "echo-embed", "kind": "embedding"},
                     {"name": "priced", "upstream": "echo-priced", "kind": "chat"},
                     {"name": "counted", "upstream": "count-a", "kind": "chat"},
                     {"name": "unreported", "upstream": "silent-a", "kind": "chat"},
                     {"name": "no-tools", "upstream": "echo-a", "kind": "chat", "unsupported": ["tools", "tool_choice", "response_format"]},
                 ]},
                # Fails every third request: `counted` fails over from here to up-a.
                {"name": "flaky", "kind": "openai", "base_url": b.url + "/v1",
                 "circuit": {"failure_threshold": 1000, "cooldown": 1},
                 "models": [{"name": "counted", "upstream": "flaky-b", "kind": "chat"}]},
                {"name": "up-b", "kind": "openai", "base_url": b.url + "/v1",
                 "circuit": {"failure_threshold": 2, "cooldown": 1},
                 "models": [{"name": "dual", "upstream": "echo-dual", "kind": "chat"}]},
                # The misbehaving models sit on a provider of their own (same server as up-a), so the
                # failures they provoke do not open up-a's circuit under the other tests.
                {"name": "faults", "kind": "openai", "base_url": a.url + "/v1",
                 "timeouts": {"connect": 1, "first_byte": 2, "idle": 2},
                 "circuit": {"failure_threshold": 1000, "cooldown": 1},
                 "models": [
                     {"name": "slow", "upstream": "slow-200", "kind": "chat"},
                     {"name": "slow-short", "upstream": "slow-20", "kind": "chat"},
                     {"name": "cut", "upstream": "cut-1", "kind": "chat"},
                     {"name": "hang", "upstream": "hang-1", "kind": "chat"},
                     {"name": "stall", "upstream": "stall-1", "kind": "chat"},
                     {"name": "late", "upstream": "late-1", "kind": "chat"},
                 ]},
            ],
        }
        config.update(extra or {})
        (self.dir / "atrium.yaml").write_text(json.dumps(config))  # JSON is YAML
        self.env = dict(os.environ)
        self.env.update(extra_env or {})
        if database_url:
            self.env["DATABASE_URL"] = database_url
        else:
            self.env.pop("DATABASE_URL", None)
        self.log = open(self.dir / "server.log", "w")
        self.proc = subprocess.Popen(
            [str(BIN), "serve", "--config", str(self.dir / "atrium.yaml"), "--data-dir", str(self.data_dir)],
            stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        wait_http(self.url + "/healthz")

    def cli(self, *args, stdin=None):
        return subprocess.run(
            [str(BIN), *args, "--config", str(self.dir / "atrium.yaml"), "--data-dir", str(self.data_dir)],
            input=stdin, capture_output=True, text=True, env=self.env, timeout=60)

    def create_user_and_key(self, email):
        made = self.cli("admin", "create-user", "--email", email, "--name", "E2E", stdin="correct horse\n")
        assert made.returncode == 0, made.stderr
        key = self.cli("keys", "create", "--email", email, "--name", "e2e")
        assert key.returncode == 0, key.stderr
        return key.stdout.strip()

    def create_staff(self, email):
        made = self.cli("admin", "create-user", "--email", email, "--name", "Staff", "--staff", "admin", stdin="correct horse\n")
        assert made.returncode == 0, made.stderr
        return self.session(email)

    def session(self, email, password="correct horse"):
        client = httpx.Client(base_url=self.url)
        response = client.post("/api/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return client

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout)
        self.log.close()
        return self.proc.returncode


@pytest.fixture(scope="session")
def upstreams():
    if not BIN.exists():
        pytest.fail(f"{BIN} is missing: run `swift build` first")
    pair = (Upstream("up-a"), Upstream("up-b"))
    yield pair
    for upstream in pair:
        upstream.stop()


@pytest.fixture(scope="session")
def atrium(upstreams):
    server = Atrium(upstreams, database_url=os.environ.get("ATRIUM_E2E_DATABASE_URL"), key_cache_seconds=1)
    yield server
    assert server.stop() == 0, (server.dir / "server.log").read_text()[-4000:]


@pytest.fixture(scope="session")
def api_key(atrium):
    return atrium.create_user_and_key("e2e@example.com")


@pytest.fixture
def client(atrium, api_key):
    import openai
    return openai.OpenAI(base_url=atrium.url + "/v1", api_key=api_key, max_retries=0, timeout=20)
