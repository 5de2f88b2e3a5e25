"""A key limited to some models and some client networks, set through the API and the key's page:
the gateway refuses the rest with OpenAI's 403 envelope on both of its lanes (the fast lane hands a
restricted request to the router, which refuses it), and /v1/models shows only what the key may use."""
import re
import uuid

import httpx
import openai
import pytest

from conftest import Atrium, fast_lane_answers


def developer(atrium):
    email = f"restricted-{uuid.uuid4().hex[:8]}@example.com"
    client = httpx.Client(base_url=atrium.url)
    assert client.post("/api/auth/signup", json={"email": email, "password": "a good password", "name": "R"}).status_code == 201
    key = client.post("/api/keys", json={"name": "restricted"}).json()
    return client, key


def sdk(atrium, secret):
    return openai.OpenAI(base_url=atrium.url + "/v1", api_key=secret, max_retries=0, timeout=20)


def chat(client, model, stream=False):
    messages = [{"role": "user", "content": "hi"}]
    if stream:
        return "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model=model, messages=messages, max_tokens=8, stream=True) if c.choices)
    return client.chat.completions.create(model=model, messages=messages, max_tokens=8).choices[0].message.content


def test_a_key_limited_to_some_models_is_refused_the_others_on_both_lanes(atrium):
    owner, key = developer(atrium)
    client = sdk(atrium, key["secret"])
    chat(client, "dual")  # the router lane loads the key; later calls can take the fast lane
    changed = owner.patch(f"/api/keys/{key['id']}", json={"allowed_models": ["echo", "embedder"]})
    assert changed.status_code == 200 and changed.json()["allowed_models"] == ["echo", "embedder"]

    before = fast_lane_answers(atrium)
    for _ in range(3):
        assert chat(client, "echo")
    assert fast_lane_answers(atrium) >= before + 3  # allowed calls still take the fast lane
    assert chat(client, "echo", stream=True)
    for stream in (False, True):
        with pytest.raises(openai.PermissionDeniedError) as refused:
            chat(client, "dual", stream=stream)
        assert refused.value.status_code == 403 and refused.value.code == "model_not_allowed"
        assert refused.value.body["type"] == "invalid_request_error" and "dual" in refused.value.body["message"]
    assert [m.id for m in client.models.list()] == ["echo", "embedder"]
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("dual")

    assert owner.patch(f"/api/keys/{key['id']}", json={"allowed_models": None}).json().get("allowed_models") is None
    assert chat(client, "dual")


def test_a_key_limited_to_some_networks_works_only_from_them(atrium):
    owner, key = developer(atrium)
    client = sdk(atrium, key["secret"])
    chat(client, "echo")
    assert owner.patch(f"/api/keys/{key['id']}", json={"allowed_networks": ["10.0.0.0/8", "2001:db8::/32"]}).status_code == 200
    for stream in (False, True, False):
        with pytest.raises(openai.PermissionDeniedError) as refused:
            chat(client, "echo", stream=stream)
        assert refused.value.code == "ip_not_allowed" and "127.0.0.1" in refused.value.body["message"]
    with pytest.raises(openai.PermissionDeniedError):
        client.embeddings.create(model="embedder", input="x")
    # No proxy is trusted here, so a client cannot name its own address.
    spoofing = sdk(atrium, key["secret"]).with_options(default_headers={"X-Forwarded-For": "10.0.0.1"})
    for stream in (False, True):
        with pytest.raises(openai.PermissionDeniedError) as refused:
            chat(spoofing, "echo", stream=stream)
        assert "127.0.0.1" in refused.value.body["message"]

    widened = owner.patch(f"/api/keys/{key['id']}", json={"allowed_networks": ["10.0.0.0/8", "127.0.0.0/8"]})
    assert widened.json()["allowed_networks"] == ["10.0.0.0/8", "127.0.0.0/8"]
    before = fast_lane_answers(atrium)
    for _ in range(3):
        assert chat(client, "echo")
    assert fast_lane_answers(atrium) >= before + 3


def test_bad_restrictions_are_refused_and_change_nothing(atrium):
    owner, key = developer(atrium)
    for body, param in [({"allowed_networks": ["10.0.0.0/33"]}, "allowed_networks"), ({"allowed_networks": ["example.com"]}, "allowed_networks"),
                        ({"allowed_networks": []}, "allowed_networks"), ({"allowed_models": []}, "allowed_models"),
                        ({"allowed_models": ["x" * 201]}, "allowed_models")]:
        refused = owner.patch(f"/api/keys/{key['id']}", json=body)
        assert refused.status_code == 400 and refused.json()["error"]["param"] == param, (body, refused.text)
    listed = next(k for k in owner.get("/api/keys").json()["data"] if k["id"] == key["id"])
    assert "allowed_networks" not in listed and "allowed_models" not in listed
    stranger, _ = developer(atrium)
    assert stranger.patch(f"/api/keys/{key['id']}", json={"allowed_models": ["echo"]}).status_code == 404


def test_the_key_page_sets_limits_and_restrictions_and_explains_mistakes(atrium):
    owner, key = developer(atrium)
    page = owner.get(f"/keys/{key['id']}")
    assert page.status_code == 200 and "restricted" in page.text
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    bad = owner.post(f"/keys/{key['id']}", data={
        "csrf": token, "requests_per_minute": "-5", "tokens_per_minute": "lots", "budget": "ten", "model_scope": "some",
        "networks": "10.0.0.0/8\n<script>x</script>"})
    assert bad.status_code == 400
    for message in ("Enter a whole number from 1 to 1000000000", "Enter an amount of credits", "Choose at least one model",
                    "“&lt;script&gt;x&lt;/script&gt;” is not an IP address or CIDR range."):
        assert message in bad.text, message
    assert "<script>x</script>" not in bad.text
    assert owner.get("/api/keys").json()["data"][0].get("allowed_networks") is None  # nothing stored

    saved = owner.post(f"/keys/{key['id']}", data={
        "csrf": token, "requests_per_minute": "60", "tokens_per_minute": "", "budget": "12.5", "model_scope": "some",
        "model.echo": "on", "networks": "127.0.0.0/8\n\n::1"})
    assert saved.status_code == 303 and "Saved." in owner.get(saved.headers["location"]).text
    stored = next(k for k in owner.get("/api/keys").json()["data"] if k["id"] == key["id"])
    assert stored["rate_limits"]["requests_per_minute"] == 60 and stored["rate_limits"].get("tokens_per_minute") is None
    assert stored["monthly_budget_micros"] == 12_500_000
    assert stored["allowed_models"] == ["echo"] and stored["allowed_networks"] == ["127.0.0.0/8", "::1/128"]
    with pytest.raises(openai.PermissionDeniedError):
        chat(sdk(atrium, key["secret"]), "dual")
    assert chat(sdk(atrium, key["secret"]), "echo")
    assert owner.post(f"/keys/{key['id']}", data={"requests_per_minute": "1"}).status_code == 403  # no CSRF token
    other, _ = developer(atrium)
    assert other.get(f"/keys/{key['id']}").status_code == 404


def test_behind_a_trusted_proxy_the_client_it_names_counts(upstreams):
    """With `trusted_proxies` naming the proxy (127.0.0.1, where these requests come from), a key's
    networks are checked against the client in X-Forwarded-For on both lanes (its rightmost untrusted
    entry: the proxy appends, the client may have written the rest), and sign-ups are throttled per
    forwarded client instead of all together per proxy."""
    server = Atrium(upstreams, extra={"trusted_proxies": ["127.0.0.1"], "signups_per_hour": 2})
    try:
        owner, key = developer(server)
        assert owner.patch(f"/api/keys/{key['id']}", json={"allowed_networks": ["203.0.113.0/24"]}).status_code == 200
        def via(forwarded):
            return sdk(server, key["secret"]).with_options(default_headers={"X-Forwarded-For": forwarded})
        assert chat(via("203.0.113.7"), "echo")  # the router lane loads the key; later calls can take the fast lane
        before = fast_lane_answers(server)
        for forwarded in ("203.0.113.7", "198.51.100.1, 203.0.113.7"):
            assert chat(via(forwarded), "echo") and chat(via(forwarded), "echo", stream=True)
        assert fast_lane_answers(server) >= before + 2
        for forwarded, seen in (("203.0.113.7, 198.51.100.1", "198.51.100.1"), ("not an address", "127.0.0.1")):
            for stream in (False, True):
                with pytest.raises(openai.PermissionDeniedError) as refused:
                    chat(via(forwarded), "echo", stream=stream)
                assert refused.value.code == "ip_not_allowed" and seen in refused.value.body["message"]

        def sign_up(forwarded):
            return httpx.post(server.url + "/api/auth/signup", headers={"X-Forwarded-For": forwarded},
                              json={"email": f"p-{uuid.uuid4().hex[:8]}@example.com", "password": "a good password", "name": "P"}).status_code
        assert [sign_up("198.51.100.20") for _ in range(3)] == [201, 201, 429]
        assert sign_up("198.51.100.21") == 201  # another client behind the same proxy
    finally:
        assert server.stop() == 0
