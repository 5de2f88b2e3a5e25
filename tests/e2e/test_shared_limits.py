"""Two `atrium serve` instances on one PostgreSQL: rate limits and balances hold across both
(`limits: shared`, the default on PostgreSQL). Runs in the PostgreSQL pass of the end-to-end tests."""
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from conftest import Atrium
from test_metering import Developer, set_price

DATABASE_URL = os.environ.get("ATRIUM_E2E_DATABASE_URL", "")
pytestmark = pytest.mark.skipif(
    not DATABASE_URL.startswith("postgres"),
    reason="needs PostgreSQL (ATRIUM_E2E_DATABASE_URL); scripts/test.sh runs it in its PostgreSQL pass")

MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture(scope="module")
def second(atrium, upstreams):
    server = Atrium(upstreams, database_url=DATABASE_URL, key_cache_seconds=1)
    yield server
    assert server.stop() == 0, (server.dir / "server.log").read_text()[-4000:]


def hammer(instances, key, seconds, threads=12, **request):
    """Sends requests through the instances in turn from several threads; returns the outcomes."""
    outcomes, lock = [], threading.Lock()
    deadline = time.time() + seconds

    def worker(n):
        clients = [openai.OpenAI(base_url=i.url + "/v1", api_key=key, max_retries=0, timeout=20) for i in instances]
        turn = n
        while time.time() < deadline:
            turn += 1
            try:
                clients[turn % len(clients)].chat.completions.create(**request)
                outcome = "ok"
            except openai.RateLimitError as error:
                outcome = error.code
            with lock:
                outcomes.append(outcome)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, range(threads)))
    return outcomes


def test_one_keys_rpm_holds_across_two_instances(atrium, second):
    dev = Developer(atrium, prefix="shared")
    assert dev.session.patch(f"/api/keys/{dev.key_id}", json={"rate_limits": {"requests_per_minute": 30}}).status_code == 200
    time.sleep(1.5)  # both instances' key caches (1 s) see the limit
    start = time.time()
    outcomes = hammer([atrium, second], dev.key, seconds=4, model="echo", messages=MESSAGES)
    elapsed = time.time() - start
    served = outcomes.count("ok")
    # GCRA: the whole minute's 30 at once, then one every 2 s. Exact, not approximate: the database
    # decides every admission, so the tolerance is only the one request per 2 s the limit itself lets in.
    assert 30 <= served <= 30 + int(elapsed / 2) + 1, (served, elapsed)
    assert outcomes.count("rate_limit_exceeded") == len(outcomes) - served
    assert len(outcomes) > 60  # the limit was really pressed


def test_a_balance_never_goes_below_the_overdraft_across_two_instances(atrium, second):
    staff = atrium.create_staff(f"staff-{uuid.uuid4().hex[:8]}@example.com")
    set_price(staff, "counted", 10_000_000, 10_000_000)  # 10 micro-units a token
    dev = Developer(atrium, prefix="balance")
    taken = staff.post("/api/admin/credits", json={
        "organization_id": dev.organization, "amount_micros": -4_997_000, "kind": "adjustment", "description": "test"})
    assert taken.json()["balance_micros"] == 3_000
    time.sleep(2.5)  # the second instance reloads prices every 2 s
    outcomes = hammer([atrium, second], dev.key, seconds=3, model="counted", max_tokens=10,
                      messages=[{"role": "user", "content": "count these words please"}])
    assert outcomes.count("ok") >= 5
    assert outcomes.count("insufficient_quota") > 0
    deadline = time.time() + 10
    while time.time() < deadline:
        credits = dev.credits()
        rows = dev.records(0)
        if len(rows) == len(outcomes):
            break
        time.sleep(0.2)
    assert len(rows) == len(outcomes)
    assert credits["balance_micros"] >= 0
    assert credits["balance_micros"] == sum(entry["amount_micros"] for entry in credits["data"])
    assert credits["balance_micros"] == 5_000_000 - 4_997_000 - sum(row["cost_micros"] for row in rows)
