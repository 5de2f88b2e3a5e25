"""Start-up, readiness, metrics and graceful shutdown of a server of its own."""
import signal
import threading
import time

import httpx
import openai
import pytest

from conftest import Atrium


def test_sigterm_drains_an_in_flight_stream(upstreams):
    server = Atrium(upstreams, grace=30)
    key = server.create_user_and_key("drain@example.com")
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=30)
    stream = client.chat.completions.create(model="slow-short", messages=[{"role": "user", "content": "x"}], stream=True)
    pieces = []
    for i, chunk in enumerate(stream):
        pieces.append(chunk.choices[0].delta.content if chunk.choices else None)
        if i == 2:
            server.proc.send_signal(signal.SIGTERM)
            time.sleep(0.2)
            try:
                httpx.get(server.url + "/healthz", timeout=1)
                refused = False
            except httpx.HTTPError:
                refused = True
            assert refused, "a new connection was accepted after SIGTERM"
    assert [p for p in pieces if p] == [f" w{i}" for i in range(20)]
    assert server.proc.wait(15) == 0


def fast_lane_answers(atrium):
    for line in httpx.get(atrium.url + "/metrics").text.splitlines():
        if line.startswith("atrium_fast_lane_answers_total"):
            return float(line.split()[-1])
    return 0.0


def test_whole_requests_take_the_fast_lane_and_streams_do_not(atrium, client):
    client.models.list()  # the key is verified (and cached) by the router
    before = fast_lane_answers(atrium)
    for _ in range(3):
        assert client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "x"}]).choices
    assert fast_lane_answers(atrium) == before + 3
    list(client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "x"}], stream=True))
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "x"}], temperature=9)
    assert fast_lane_answers(atrium) == before + 3


def upstream_answers(atrium):
    """Successful chat completions sent to any provider, as /metrics counts them."""
    total = 0.0
    for line in httpx.get(atrium.url + "/metrics").text.splitlines():
        if line.startswith("atrium_upstream_requests_total{") and 'outcome="ok"' in line and 'operation="chat/completions"' in line:
            total += float(line.split()[-1])
    return total


def test_readiness_and_metrics(atrium, client):
    before = upstream_answers(atrium)
    client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "x"}])
    client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "y"}])
    assert upstream_answers(atrium) == before + 2
    ready = httpx.get(atrium.url + "/readyz").json()
    assert ready["database"] == "up"
    assert {p["name"] for p in ready["providers"]} == {"up-a", "up-b", "faults", "flaky"}
    metrics = httpx.get(atrium.url + "/metrics").text
    assert 'atrium_http_requests_total{route="/v1/chat/completions"' in metrics
    assert "atrium_upstream_latency_seconds" in metrics
    assert 'atrium_tokens_total{model="echo",kind="completion"}' in metrics
