"""The database goes away under load and comes back: a PostgreSQL restart (`pg_ctl restart -m fast`)
and a connection cut without a clean shutdown (a local TCP proxy that resets every connection and
refuses new ones for a while). Through both: no 5xx but a fast 503, `/readyz` says so, nothing hangs
for the pool's timeout, and within 5 s of the database's return the instance serves again and commits
every usage record its journal held. Each test prints its timeline (answers and `/readyz` per second).

Needs the throwaway PostgreSQL that scripts/test.sh starts (ATRIUM_TEST_POSTGRES_OWNED): the restart
test restarts it."""
import os
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from conftest import ROOT, Atrium
from test_metering import Developer

POSTGRES = os.environ.get("ATRIUM_TEST_POSTGRES_URL", "")
pytestmark = pytest.mark.skipif(
    not POSTGRES or os.environ.get("ATRIUM_TEST_POSTGRES_OWNED") != "1",
    reason="needs the throwaway PostgreSQL of scripts/test.sh (these tests restart it)")

CLIENTS = 4
RECOVERY_SECONDS = 5
SLOWEST_ANSWER = 3.0  # the pool's timeout is 10 s: anything near it means a request waited for a connection


def fresh_schema():
    schema = "outage_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", POSTGRES.split("?")[0], "-qc", f"CREATE SCHEMA {schema}"], check=True, capture_output=True)
    return schema


def with_schema(url, schema):
    return url + ("&" if "?" in url else "?") + f"search_path={schema}"


def usage_rows(schema, request_ids):
    ids = ",".join(f"'{i}'" for i in request_ids)
    out = subprocess.run(
        ["psql", POSTGRES.split("?")[0], "-tAc", f"SELECT request_id, count(*) FROM {schema}.usage_records "
                                                 f"WHERE request_id IN ({ids}) GROUP BY request_id"],
        check=True, capture_output=True, text=True).stdout
    return {line.split("|")[0]: int(line.split("|")[1]) for line in out.split()}


class Load:
    """CLIENTS threads of whole chat completions, and `/readyz` every 100 ms, each answer timed."""

    def __init__(self, atrium, key):
        self.atrium, self.key = atrium, key
        self.answers, self.ready = [], []  # (start, seconds, status, request id)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.client) for _ in range(CLIENTS)] + [threading.Thread(target=self.probe)]
        self.t0 = time.time()

    def client(self):
        with httpx.Client(base_url=self.atrium.url, timeout=30, headers={"authorization": f"Bearer {self.key}"}) as http:
            while not self.stop.is_set():
                start = time.time()
                try:
                    response = http.post("/v1/chat/completions", json={"model": "echo", "messages": [{"role": "user", "content": "hi"}]})
                    status, request_id = response.status_code, response.headers.get("x-request-id")
                except httpx.HTTPError as error:
                    status, request_id = type(error).__name__, None
                self.answers.append((start, time.time() - start, status, request_id))
                if status != 200:
                    time.sleep(0.05)

    def probe(self):
        with httpx.Client(base_url=self.atrium.url, timeout=30) as http:
            while not self.stop.is_set():
                start = time.time()
                try:
                    status = http.get("/readyz").status_code
                except httpx.HTTPError as error:
                    status = type(error).__name__
                self.ready.append((start, time.time() - start, status, None))
                time.sleep(0.1)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(60)

    def timeline(self, title, events):
        lines = [f"{title}: second | answers by status | /readyz by status | slowest answer"]
        end = max(start for start, *_ in self.answers + self.ready)
        for second in range(int(end - self.t0) + 1):
            def in_second(rows):
                return [row for row in rows if int(row[0] - self.t0) == second]
            answers, ready = in_second(self.answers), in_second(self.ready)
            counts = ", ".join(f"{status}: {n}" for status, n in sorted(Counter(row[2] for row in answers).items(), key=str))
            probes = ", ".join(f"{status}: {n}" for status, n in sorted(Counter(row[2] for row in ready).items(), key=str))
            slowest = max((row[1] for row in answers), default=0)
            marks = " ".join(name for name, at in events if int(at - self.t0) == second)
            lines.append(f"  {second:3d}s | {counts or '-'} | {probes or '-'} | {slowest:.2f} s {marks}")
        return "\n".join(lines)


class CuttingProxy:
    """A TCP proxy to PostgreSQL that can cut every connection with a reset (no clean shutdown, as a
    failing network or a killed host does) and refuse new ones for a while."""

    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.refusing_until = 0.0
        self.pairs, self.lock = [], threading.Lock()
        self.closed = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if time.time() < self.refusing_until:
                self.reset(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=2)
            except OSError:
                self.reset(client)
                continue
            # The timeout is for connecting only. Left on, a pump's recv gave up after 2 s without data
            # from PostgreSQL and closed the pair: the server's probe, asking every 2 s, sometimes lost
            # that race, saw its connection closed, and reported the database away for a moment.
            server.settimeout(None)
            with self.lock:
                self.pairs.append((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self.pump, args=(a, b), daemon=True).start()

    @staticmethod
    def pump(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @staticmethod
    def reset(sock):
        """Aborts the connection (RST). A pipe thread may be blocked reading this socket, and on Linux
        close() does not wake it and sends nothing while it reads: the connection would hang in silence
        instead of being cut (a partition, which the transaction deadline ends after 10 s). Shutting
        the reading side first wakes it."""
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass
        try:
            sock.close()
        except OSError:
            pass

    def cut(self, seconds):
        self.refusing_until = time.time() + seconds
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for client, server in pairs:
            self.reset(client)
            self.reset(server)

    def close(self):
        self.closed = True
        self.listener.close()
        self.cut(0)


def server_problems(atrium):
    """The server's own account of what failed (its warnings and errors), for a failure's message."""
    lines = (atrium.dir / "server.log").read_text(errors="replace").splitlines()
    problems = [line for line in lines if any(level in line for level in (" warning ", " error ", " critical "))]
    return "\nthe server's warnings and errors (last 30):\n" + "\n".join(problems[-30:])


def run_outage(upstreams, database_url, schema, outage, title):
    """Load for 3 s, `outage()` (returns when the database is back), load for 8 s more; the checks."""
    atrium = Atrium(upstreams, database_url=with_schema(database_url, schema), extra={"limits": "shared"}, key_cache_seconds=1)
    try:
        dev = Developer(atrium, prefix="outage")
        with Load(atrium, dev.key) as load:
            time.sleep(3)
            went = time.time()
            outage()
            back = time.time()
            time.sleep(8)
        alive = atrium.proc.poll() is None
        print("\n" + load.timeline(title, [("<- database away", went), ("<- database back", back)]))
        assert alive, "the server died: " + (atrium.dir / "server.log").read_text()[-3000:]

        statuses = Counter(status for _, _, status, _ in load.answers)
        assert set(statuses) <= {200, 503}, f"answers other than 200 and a fast 503: {statuses}"
        slowest = max(seconds for _, seconds, _, _ in load.answers)
        assert slowest < SLOWEST_ANSWER, f"a request waited {slowest:.1f} s: it should have failed fast with 503"
        settled = [row for row in load.answers if row[0] > back + RECOVERY_SECONDS]
        assert settled and all(status == 200 for _, _, status, _ in settled), \
            f"{RECOVERY_SECONDS} s after the database came back, answers are still failing: {Counter(r[2] for r in settled)}" \
            + server_problems(atrium)
        assert all(status == 200 for start, _, status, _ in load.ready if start > back + RECOVERY_SECONDS), \
            "/readyz did not recover" + server_problems(atrium)

        served = [request_id for _, _, status, request_id in load.answers if status == 200]
        deadline = time.time() + 10
        rows = usage_rows(schema, served)
        while len(rows) < len(served) and time.time() < deadline:
            time.sleep(0.5)
            rows = usage_rows(schema, served)
        missing = len(served) - len(rows)
        assert missing == 0, f"{missing} of {len(served)} served requests have no usage row"
        assert all(count == 1 for count in rows.values()), "a usage row was committed twice"
        return load
    finally:
        code = atrium.stop()
        assert code == 0, (atrium.dir / "server.log").read_text()[-3000:]


def test_a_postgresql_restart_under_load_is_survived(upstreams):
    def restart():
        subprocess.run([str(ROOT / "scripts" / "postgres.sh"), "restart"], check=True, capture_output=True)

    run_outage(upstreams, POSTGRES, fresh_schema(), restart, "PostgreSQL restart")


def test_a_connection_cut_without_a_clean_shutdown_is_survived(upstreams):
    parts = urlsplit(POSTGRES)
    proxy = CuttingProxy(parts.hostname, parts.port)
    proxied = urlunsplit((parts.scheme, f"{parts.username}@127.0.0.1:{proxy.port}", parts.path, parts.query, ""))
    try:
        def cut():
            proxy.cut(3)
            time.sleep(3)

        run_outage(upstreams, proxied, fresh_schema(), cut, "connections reset, refused for 3 s")
    finally:
        proxy.close()
