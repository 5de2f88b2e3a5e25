"""Metering end to end: the usage ledger, prices, credits, redemption codes and rate limits, seen
through the openai SDK, the management API and the CLI."""
import time
import uuid

import httpx
import openai
import pytest

MESSAGES = [{"role": "user", "content": "Say hello"}]


class Developer:
    """A signed-up developer: a session on the management API and an API key of their personal org."""

    def __init__(self, atrium, prefix="dev"):
        self.atrium = atrium
        self.email = f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"
        made = atrium.cli("admin", "create-user", "--email", self.email, "--name", "Dev", stdin="correct horse\n")
        assert made.returncode == 0, made.stderr
        self.session = atrium.session(self.email)
        created = self.session.post("/api/keys", json={"name": "metering"})
        assert created.status_code == 201, created.text
        self.key_id = created.json()["id"]
        self.key = created.json()["secret"]
        self.organization = created.json()["organization_id"]

    def client(self, **options):
        options.setdefault("max_retries", 0)
        return openai.OpenAI(base_url=self.atrium.url + "/v1", api_key=self.key, timeout=20, **options)

    def records(self, expected, timeout=10):
        """The key's usage records, once at least `expected` of them are committed."""
        deadline = time.time() + timeout
        while True:
            response = self.session.get("/api/usage/records", params={"key_id": self.key_id, "limit": 1000})
            assert response.status_code == 200, response.text
            rows = response.json()["data"]
            if len(rows) >= expected or time.time() > deadline:
                return rows
            time.sleep(0.05)

    def credits(self):
        response = self.session.get("/api/credits", params={"limit": 1000})
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def staff(atrium):
    return atrium.create_staff(f"staff-{uuid.uuid4().hex[:8]}@example.com")


def set_price(staff, model, input_micros, output_micros):
    response = staff.put("/api/prices", json={
        "model": model, "input_micros_per_million": input_micros, "output_micros_per_million": output_micros})
    assert response.status_code == 201, response.text
    return response.json()


def test_every_request_gets_one_record_with_the_upstream_usage(atrium):
    dev = Developer(atrium)
    client = dev.client()
    whole = client.chat.completions.with_raw_response.create(model="echo", messages=MESSAGES)
    whole_id = whole.headers["x-request-id"]
    stream = client.chat.completions.with_raw_response.create(model="echo", messages=MESSAGES, stream=True)
    stream_id = stream.headers["x-request-id"]
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream.parse() if chunk.choices) == "Hello from up-a"
    client.embeddings.create(model="embedder", input=["a", "b"])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="picky", messages=MESSAGES)  # refused by the upstream
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="echo", messages=MESSAGES, temperature=7)  # refused by Atrium

    rows = {row["request_id"]: row for row in dev.records(5)}
    assert len(rows) == 5
    assert rows[whole_id]["prompt_tokens"] == 5 and rows[whole_id]["completion_tokens"] == 4
    assert rows[whole_id]["status"] == 200 and rows[whole_id]["finish_reason"] == "stop"
    assert rows[whole_id]["streamed"] is False and rows[whole_id]["estimated"] is False
    assert rows[whole_id]["provider"] == "up-a" and rows[whole_id]["model"] == "echo"
    # The client did not ask for usage in the stream, yet the ledger has the upstream's count.
    assert rows[stream_id]["streamed"] is True and rows[stream_id]["estimated"] is False
    assert (rows[stream_id]["prompt_tokens"], rows[stream_id]["completion_tokens"]) == (5, 4)
    by_status = sorted(row["status"] for row in rows.values())
    assert by_status == [200, 200, 200, 400, 400]
    embedding = next(row for row in rows.values() if row["model"] == "embedder")
    assert embedding["prompt_tokens"] == 6 and embedding["completion_tokens"] == 0
    refused = [row for row in rows.values() if row["status"] == 400]
    assert all(row["total_tokens"] == 0 and row["cost_micros"] == 0 for row in refused)


def test_usage_in_a_stream_only_reaches_clients_that_ask(atrium, upstreams):
    dev = Developer(atrium)
    client = dev.client()
    chunks = list(client.chat.completions.create(model="echo", messages=MESSAGES, stream=True))
    assert upstreams[0].state()["last_body"]["stream_options"] == {"include_usage": True}
    assert all(chunk.usage is None for chunk in chunks)
    assert all(chunk.choices for chunk in chunks)
    asked = list(client.chat.completions.create(
        model="echo", messages=MESSAGES, stream=True, stream_options={"include_usage": True}))
    assert asked[-1].choices == [] and asked[-1].usage.total_tokens == 9


def test_prices_are_charged_and_versioned(atrium, staff):
    dev = Developer(atrium)
    set_price(staff, "priced", 1_000_000, 3_000_000)  # 1 micro-unit per prompt token, 3 per completion token
    time.sleep(0.1)
    client = dev.client()
    first = client.chat.completions.with_raw_response.create(model="priced", messages=MESSAGES).headers["x-request-id"]
    new_price = set_price(staff, "priced", 2_000_000, 3_000_000)
    second = client.chat.completions.with_raw_response.create(model="priced", messages=MESSAGES).headers["x-request-id"]

    rows = {row["request_id"]: row for row in dev.records(2)}
    assert rows[first]["cost_micros"] == 5 * 1 + 4 * 3
    assert rows[second]["cost_micros"] == 5 * 2 + 4 * 3
    assert rows[second]["price_id"] == new_price["id"] != rows[first]["price_id"]
    history = staff.get("/api/prices/priced").json()["data"]
    assert [price["input_micros_per_million"] for price in history[:2]] == [2_000_000, 1_000_000]

    credits = dev.credits()
    assert credits["balance_micros"] == 5_000_000 - 17 - 22
    assert sum(entry["amount_micros"] for entry in credits["data"]) == credits["balance_micros"]
    assert {entry["kind"] for entry in credits["data"]} == {"grant", "usage"}


def test_only_staff_set_prices_and_grant(atrium):
    dev = Developer(atrium)
    refused = dev.session.put("/api/prices", json={"model": "echo", "input_micros_per_million": 0, "output_micros_per_million": 0})
    assert refused.status_code == 403
    refused = dev.session.post("/api/admin/credits", json={"organization_id": dev.organization, "amount_micros": 10**9})
    assert refused.status_code == 403
    assert dev.credits()["balance_micros"] == 5_000_000


def test_no_credit_left_is_insufficient_quota(atrium, staff, upstreams):
    dev = Developer(atrium)
    taken = staff.post("/api/admin/credits", json={
        "organization_id": dev.organization, "amount_micros": -4_999_980, "kind": "adjustment", "description": "test"})
    assert taken.status_code == 200, taken.text
    assert taken.json()["balance_micros"] == 20
    set_price(staff, "priced", 1_000_000, 1_000_000)
    before = upstreams[0].state()["requests"]
    client = dev.client(max_retries=2)
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="priced", messages=MESSAGES, max_tokens=50)
    assert raised.value.code == "insufficient_quota"
    assert raised.value.body["type"] == "insufficient_quota"
    # Not forwarded, and not retried by the SDK (x-should-retry: false).
    assert upstreams[0].state()["requests"] == before
    assert len(dev.records(1)) == 1
    # A request that fits the balance still goes through (prompt estimate 11 + max_tokens 2 ≤ 20).
    client.chat.completions.create(model="priced", messages=MESSAGES, max_tokens=2)


def test_redemption_codes(atrium, staff):
    made = staff.post("/api/admin/redemption-codes", json={"amount_micros": 2_500_000, "max_redemptions": 2})
    assert made.status_code == 201, made.text
    code = made.json()["code"]
    first, second, third = Developer(atrium), Developer(atrium), Developer(atrium)
    redeemed = first.session.post("/api/credits/redeem", json={"code": code})
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json()["balance_micros"] == 7_500_000
    assert first.session.post("/api/credits/redeem", json={"code": code}).status_code == 409
    assert second.session.post("/api/credits/redeem", json={"code": code}).status_code == 200
    exhausted = third.session.post("/api/credits/redeem", json={"code": code})
    assert exhausted.status_code == 400 and exhausted.json()["error"]["code"] == "code_exhausted"
    wrong = third.session.post("/api/credits/redeem", json={"code": "ATR-nope"})
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "invalid_code"
    assert third.credits()["balance_micros"] == 5_000_000
    credits = first.credits()
    assert [entry["kind"] for entry in credits["data"]] == ["redemption", "grant"]
    past = staff.post("/api/admin/redemption-codes", json={"amount_micros": 1, "expires_at": 1})
    assert past.status_code == 400 and past.json()["error"]["param"] == "expires_at"


def test_rate_limit_headers_and_429(atrium, upstreams):
    dev = Developer(atrium)
    limited = dev.session.patch(f"/api/keys/{dev.key_id}", json={"rate_limits": {"requests_per_minute": 3}})
    assert limited.status_code == 200, limited.text
    assert limited.json()["rate_limits"] == {"requests_per_minute": 3, "tokens_per_minute": None}
    time.sleep(1.2)  # the key cache (1 s here) picks the new limit up
    client = dev.client()
    remaining = []
    for _ in range(3):
        response = client.chat.completions.with_raw_response.create(model="echo", messages=MESSAGES)
        assert response.headers["x-ratelimit-limit-requests"] == "3"
        remaining.append(int(response.headers["x-ratelimit-remaining-requests"]))
        assert int(response.headers["x-ratelimit-remaining-tokens"]) < int(response.headers["x-ratelimit-limit-tokens"])
        assert response.headers["x-ratelimit-reset-requests"].endswith("s")
    assert remaining == [2, 1, 0]
    before = upstreams[0].state()["requests"]
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="echo", messages=MESSAGES)
    assert raised.value.code == "rate_limit_exceeded"
    assert raised.value.body["type"] == "requests"
    assert 1 <= int(raised.value.response.headers["retry-after"]) <= 20
    assert raised.value.response.headers["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(openai.RateLimitError):  # streams are limited the same way
        client.chat.completions.create(model="echo", messages=MESSAGES, stream=True)
    assert upstreams[0].state()["requests"] == before
    assert sorted(row["status"] for row in dev.records(5)) == [200, 200, 200, 429, 429]


def test_tokens_per_minute_reserve_max_tokens(atrium):
    dev = Developer(atrium)
    assert dev.session.patch(f"/api/keys/{dev.key_id}", json={"rate_limits": {"tokens_per_minute": 300}}).status_code == 200
    time.sleep(1.2)
    client = dev.client()
    # The reservation (prompt + max_tokens) does not fit even an idle bucket: never retry.
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="echo", messages=MESSAGES, max_tokens=1000)
    assert raised.value.body["type"] == "tokens" and "Request too large" in raised.value.message
    # 200 reserved, 9 used: the rest is given back when the answer comes, so a second one fits.
    first = client.chat.completions.with_raw_response.create(model="echo", messages=MESSAGES, max_tokens=200)
    assert int(first.headers["x-ratelimit-remaining-tokens"]) < 100
    second = client.chat.completions.with_raw_response.create(model="echo", messages=MESSAGES, max_tokens=200)
    assert second.status_code == 200


def test_usage_summary_and_csv(atrium):
    dev = Developer(atrium)
    client = dev.client()
    for _ in range(3):
        client.chat.completions.create(model="echo", messages=MESSAGES)
    client.embeddings.create(model="embedder", input="x")
    dev.records(4)
    summary = dev.session.get("/api/usage").json()["data"]
    by_model = {bucket["model"]: bucket for bucket in summary}
    assert by_model["echo"]["requests"] == 3 and by_model["echo"]["total_tokens"] == 27
    assert by_model["echo"]["api_key_id"] == dev.key_id
    assert by_model["embedder"]["prompt_tokens"] == 3
    only = dev.session.get("/api/usage", params={"model": "embedder"}).json()["data"]
    assert [bucket["model"] for bucket in only] == ["embedder"]
    assert dev.session.get("/api/usage", params={"from": "2999-01-01"}).json()["data"] == []
    csv = dev.session.get("/api/usage", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().split("\n")
    assert lines[0] == "day,model,api_key_id,requests,prompt_tokens,completion_tokens,total_tokens,cost"
    assert any(line.split(",")[1:5] == ["echo", dev.key_id, "3", "15"] for line in lines[1:])
    bad = dev.session.get("/api/usage", params={"from": "yesterday"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "from"
    no_such_day = dev.session.get("/api/usage/records", params={"to": "2026-02-30"})
    assert no_such_day.status_code == 400 and no_such_day.json()["error"]["param"] == "to"


def test_usage_is_scoped_to_the_organization(atrium):
    owner, stranger = Developer(atrium), Developer(atrium)
    owner.client().chat.completions.create(model="echo", messages=MESSAGES)
    owner.records(1)
    peek = stranger.session.get("/api/usage", params={"organization_id": owner.organization})
    assert peek.status_code == 404
    assert stranger.session.get("/api/usage/records", params={"key_id": owner.key_id}).json()["data"] == []
    assert stranger.session.get("/api/credits", params={"organization_id": owner.organization}).status_code == 404


def test_admin_cli_grant_and_usage(atrium):
    dev = Developer(atrium)
    dev.client().chat.completions.create(model="echo", messages=MESSAGES)
    dev.records(1)
    granted = atrium.cli("admin", "grant", "--email", dev.email, "--amount", "2.5", "--description", "conference")
    assert granted.returncode == 0, granted.stderr
    assert "balance 7.500000" in granted.stdout
    assert dev.credits()["data"][0]["description"] == "conference"
    usage = atrium.cli("admin", "usage", "--email", dev.email, "--csv")
    assert usage.returncode == 0, usage.stderr
    assert f"echo,{dev.key_id},1,5,4,9" in usage.stdout
    bad = atrium.cli("admin", "grant", "--email", dev.email, "--amount", "lots")
    assert bad.returncode != 0 and "amount" in bad.stderr
    nobody = atrium.cli("admin", "usage", "--email", "nobody@example.com")
    assert nobody.returncode != 0 and "No user with email" in nobody.stderr


def test_an_organization_budget_caps_the_month_and_warns_at_its_soft_limit(atrium, staff):
    dev = Developer(atrium)
    set_price(staff, "priced", 1_000_000, 1_000_000)  # a request costs 9; it reserves 16 (prompt estimate 11 + max_tokens 5)
    budget = dev.session.put("/api/credits/budget", json={"monthly_budget_micros": 40, "alert_micros": 20})
    assert budget.status_code == 200, budget.text
    assert budget.json()["monthly_budget_micros"] == 40
    client = dev.client(max_retries=2)
    for _ in range(3):
        client.chat.completions.create(model="priced", messages=MESSAGES, max_tokens=5)
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="priced", messages=MESSAGES, max_tokens=5)
    assert raised.value.code == "insufficient_quota" and "monthly budget of your organization" in raised.value.message
    dev.records(4)
    deadline = time.time() + 5
    while time.time() < deadline:
        notices = dev.session.get("/api/notifications").json()["data"]
        if notices:
            break
        time.sleep(0.1)
    assert [notice["kind"] for notice in notices] == ["budget.soft_limit"]
    assert "0.000027" in notices[0]["message"]
    credits = dev.credits()
    assert credits["spent_this_month_micros"] == 27 and credits["budget_alert_micros"] == 20
    # A soft limit above the cap is refused; without a cap, requests go through again.
    bad = dev.session.put("/api/credits/budget", json={"monthly_budget_micros": 10, "alert_micros": 20})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "alert_micros"
    assert dev.session.put("/api/credits/budget", json={}).status_code == 400
    lifted = dev.session.put("/api/credits/budget", json={"monthly_budget_micros": None})
    assert lifted.status_code == 200 and "monthly_budget_micros" not in lifted.json()
    assert lifted.json()["budget_alert_micros"] == 20  # a field left out is kept
    client.chat.completions.create(model="priced", messages=MESSAGES, max_tokens=5)


def test_a_key_budget_caps_that_key_only(atrium, staff):
    dev = Developer(atrium)
    set_price(staff, "priced", 1_000_000, 1_000_000)
    capped = dev.session.patch(f"/api/keys/{dev.key_id}", json={"monthly_budget_micros": 20})
    assert capped.status_code == 200 and capped.json()["monthly_budget_micros"] == 20
    assert capped.json()["rate_limits"] == {"requests_per_minute": None, "tokens_per_minute": None}
    client = dev.client()
    client.chat.completions.create(model="priced", messages=MESSAGES, max_tokens=5)
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="priced", messages=MESSAGES, max_tokens=5)
    assert "monthly budget of this API key" in raised.value.message
    other = dev.session.post("/api/keys", json={"name": "uncapped"}).json()["secret"]
    openai.OpenAI(base_url=atrium.url + "/v1", api_key=other, max_retries=0).chat.completions.create(
        model="priced", messages=MESSAGES, max_tokens=5)


def test_hostile_model_names_and_huge_reservations_are_recorded_not_fatal(atrium, staff):
    dev = Developer(atrium)
    # A NUL byte in the model name (PostgreSQL text cannot hold it) must not stall the ledger.
    raw = httpx.post(atrium.url + "/v1/chat/completions", headers={"authorization": f"Bearer {dev.key}"},
                     content=b'{"model": "ec\\u0000ho-' + b"z" * 500 + b'", "messages": [{"role": "user", "content": "x"}]}')
    assert raw.status_code == 404, raw.text
    # A reservation whose cost is beyond 64-bit arithmetic at the highest price is refused (by the
    # tokens-per-minute limit, which it also breaks), and the server lives on.
    set_price(staff, "priced", 1_000_000_000_000, 1_000_000_000_000)
    with pytest.raises(openai.RateLimitError) as raised:
        dev.client().chat.completions.create(model="priced", messages=MESSAGES, max_tokens=2**31 - 1, n=128)
    assert raised.value.code in ("insufficient_quota", "rate_limit_exceeded")
    dev.client().chat.completions.create(model="echo", messages=MESSAGES)
    rows = dev.records(3)
    assert len(rows) == 3
    hostile = next(row for row in rows if row["status"] == 404)
    assert hostile["model"].startswith("echo-z") and len(hostile["model"]) == 200
    assert staff.post("/api/admin/credits", json={"organization_id": str(uuid.uuid4()), "amount_micros": 5}).status_code == 404
