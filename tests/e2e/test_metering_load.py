"""The ledger under load and faults: concurrent requests with failovers, upstream errors and client
disconnects mixed in, and a `kill -9` of the server in the middle of load."""
import random
import signal
import sqlite3
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai

from conftest import Atrium
from test_metering import Developer, set_price


def chat_body(i):
    return [{"role": "user", "content": "word " * (i % 37) + f"request {i}"}]


def run_one(dev, i, rng):
    """Sends request `i` of a mixed workload; returns (kind, request id or None, served)."""
    client = dev.client()
    kind = rng.choices(["whole", "stream", "disconnect", "rejected"], weights=[50, 25, 12, 13])[0]
    try:
        if kind == "whole":
            response = client.chat.completions.with_raw_response.create(model="counted", messages=chat_body(i))
            response.parse()
            return kind, response.headers["x-request-id"], True
        if kind == "stream":
            options = {"stream_options": {"include_usage": True}} if i % 2 else {}
            response = client.chat.completions.with_raw_response.create(
                model="counted", messages=chat_body(i), stream=True, **options)
            chunks = list(response.parse())
            assert chunks, "an empty stream"
            return kind, response.headers["x-request-id"], True
        if kind == "disconnect":
            with httpx.stream("POST", dev.atrium.url + "/v1/chat/completions", timeout=20,
                              headers={"authorization": f"Bearer {dev.key}"},
                              json={"model": "slow-short", "messages": chat_body(i), "stream": True}) as response:
                request_id = response.headers["x-request-id"]
                next(response.iter_bytes())  # the first chunk, then the client goes away
            return kind, request_id, False
        client.chat.completions.create(model="picky", messages=chat_body(i))
        raise AssertionError("picky was accepted")
    except openai.BadRequestError as error:
        return kind, error.response.headers["x-request-id"], False


def test_concurrent_load_is_metered_exactly(atrium, upstreams):
    staff = atrium.create_staff(f"staff-{uuid.uuid4().hex[:8]}@example.com")
    set_price(staff, "counted", 1_500_000, 2_500_000)
    dev = Developer(atrium, prefix="load")
    flaky_before = upstreams[1].state()["flaky_calls"]
    plan = [(i, random.Random(i)) for i in range(400)]
    with ThreadPoolExecutor(24) as pool:
        results = list(pool.map(lambda job: run_one(dev, *job), plan))

    rows = dev.records(len(results), timeout=30)
    # One record per request, none twice.
    assert len(rows) == len(results)
    assert len({row["request_id"] for row in rows}) == len(rows)
    by_id = {row["request_id"]: row for row in rows}
    assert {request_id for _, request_id, _ in results} == set(by_id)

    # Served requests carry exactly the usage the upstreams reported for them, and only they are 200s.
    reported = {**upstreams[0].state()["usage"], **upstreams[1].state()["usage"]}
    served = [request_id for _, request_id, ok in results if ok]
    assert sorted(row["request_id"] for row in rows if row["status"] == 200) == sorted(served)
    for request_id in served:
        row = by_id[request_id]
        assert [row["prompt_tokens"], row["completion_tokens"]] == reported[request_id], row
        assert row["estimated"] is False
    assert sum(by_id[r]["total_tokens"] for r in served) == sum(sum(reported[r]) for r in served)

    # Disconnects are recorded as such (an estimate), rejections cost nothing.
    kinds = {request_id: kind for kind, request_id, _ in results}
    for row in rows:
        if kinds[row["request_id"]] == "disconnect":
            assert row["status"] == 499 and row["streamed"] is True
        if kinds[row["request_id"]] == "rejected":
            assert row["status"] == 400 and row["cost_micros"] == 0

    # Failovers happened (the flaky provider failed every third call), and the balance is the ledger.
    assert upstreams[1].state()["flaky_calls"] - flaky_before >= 30
    credits = dev.credits()
    assert credits["balance_micros"] == sum(entry["amount_micros"] for entry in credits["data"])
    assert credits["balance_micros"] == 5_000_000 - sum(row["cost_micros"] for row in rows)
    assert sum(row["cost_micros"] for row in rows if row["status"] == 200) > 0


def ledger_ids(data_dir):
    with sqlite3.connect(f"file:{data_dir / 'atrium.db'}?mode=ro", uri=True) as db:
        return [row[0] for row in db.execute("SELECT request_id FROM usage_records")]


def test_kill_9_loses_no_completed_request(upstreams):
    # Commits every 3 s, so the kill lands while the records are only in the journal.
    first = Atrium(upstreams, extra={"usage_commit_interval_ms": 3000})
    key = first.create_user_and_key(f"crash-{uuid.uuid4().hex[:8]}@example.com")
    completed, lock, stop = [], threading.Lock(), threading.Event()

    def load(worker):
        client = openai.OpenAI(base_url=first.url + "/v1", api_key=key, max_retries=0, timeout=5)
        i = 0
        while not stop.is_set():
            i += 1
            try:
                if i % 4 == 0:
                    response = client.chat.completions.with_raw_response.create(
                        model="counted", messages=chat_body(i), stream=True)
                    list(response.parse())
                else:
                    response = client.chat.completions.with_raw_response.create(model="counted", messages=chat_body(i))
                    response.parse()
            except (openai.APIConnectionError, openai.APIError, httpx.HTTPError):
                return
            with lock:
                completed.append(response.headers["x-request-id"])

    threads = [threading.Thread(target=load, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(10)
    stop.set()
    for thread in threads:
        thread.join(10)
    first.log.close()
    with lock:
        done = list(completed)
    assert len(done) > 20
    missing_at_kill = set(done) - set(ledger_ids(first.data_dir))
    assert missing_at_kill, "every record was committed before the kill; the test proves nothing"

    second = Atrium(upstreams, data_dir=first.data_dir)
    try:
        deadline = time.time() + 20
        while time.time() < deadline and not set(done) <= set(ledger_ids(first.data_dir)):
            time.sleep(0.1)
        ids = ledger_ids(first.data_dir)
        assert set(done) <= set(ids), f"{len(set(done) - set(ids))} completed requests are not in the ledger"
        assert len(ids) == len(set(ids)), "a request was recorded twice"
    finally:
        assert second.stop() == 0
