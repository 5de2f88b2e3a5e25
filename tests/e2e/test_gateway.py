"""The gateway through the official `openai` SDK, against `atrium serve` and fake upstreams."""
import time

import httpx
import openai
import pytest

MESSAGES = [{"role": "user", "content": "Say hello"}]


def test_models_are_listed(client):
    ids = {model.id for model in client.models.list()}
    assert {"echo", "dual", "embedder"} <= ids
    assert client.models.retrieve("echo").id == "echo"


def test_chat_completion(client):
    completion = client.chat.completions.create(model="echo", messages=MESSAGES)
    assert completion.choices[0].message.content == "Hello from up-a"
    assert completion.model == "echo"
    assert completion.usage.total_tokens == 9


def test_chat_stream_with_usage(client):
    stream = client.chat.completions.create(
        model="echo", messages=MESSAGES, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from up-a"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4
    assert all(c.model == "echo" for c in chunks)


def test_completions(client):
    completion = client.completions.create(model="instruct", prompt="Once upon a time")
    assert completion.choices[0].text == "Hello from up-a"


def test_embeddings(client):
    result = client.embeddings.create(model="embedder", input=["one", "two"])
    assert [d.index for d in result.data] == [0, 1]
    assert result.data[1].embedding == pytest.approx([0.2, 0.2, 0.3])
    assert result.usage.prompt_tokens == 6


def test_every_response_has_a_request_id(client):
    raw = client.chat.completions.with_raw_response.create(model="echo", messages=MESSAGES)
    assert raw.headers["x-request-id"].startswith("req_")


def test_bad_key_is_authentication_error(atrium):
    bad = openai.OpenAI(base_url=atrium.url + "/v1", api_key="atr_not_a_real_key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as error:
        bad.models.list()
    assert error.value.status_code == 401


def test_missing_scope_is_permission_denied(atrium, api_key):
    session = atrium.session("e2e@example.com")
    secret = session.post("/api/keys", json={"name": "read only", "scopes": ["model.read"]}).json()["secret"]
    limited = openai.OpenAI(base_url=atrium.url + "/v1", api_key=secret, max_retries=0)
    assert limited.models.list().data
    with pytest.raises(openai.PermissionDeniedError):
        limited.chat.completions.create(model="echo", messages=MESSAGES)


def test_revoked_key_stops_working(atrium, api_key):
    session = atrium.session("e2e@example.com")
    created = session.post("/api/keys", json={"name": "to revoke"}).json()
    doomed = openai.OpenAI(base_url=atrium.url + "/v1", api_key=created["secret"], max_retries=0)
    assert doomed.models.list().data
    assert session.delete(f"/api/keys/{created['id']}").status_code == 204
    with pytest.raises(openai.AuthenticationError):
        doomed.models.list()


def test_revocation_reaches_another_instance_within_seconds(atrium, upstreams, api_key):
    """Two instances on one database: a key revoked through one stops working on the other once its
    key cache (1 s here) expires."""
    from conftest import Atrium
    other = Atrium(upstreams, database_url=atrium.env.get("DATABASE_URL"), data_dir=atrium.data_dir, key_cache_seconds=1)
    try:
        session = atrium.session("e2e@example.com")
        created = session.post("/api/keys", json={"name": "two instances"}).json()
        on_other = openai.OpenAI(base_url=other.url + "/v1", api_key=created["secret"], max_retries=0)
        assert on_other.models.list().data
        assert session.delete(f"/api/keys/{created['id']}").status_code == 204
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                on_other.models.list()
            except openai.AuthenticationError:
                break
            time.sleep(0.2)
        with pytest.raises(openai.AuthenticationError):
            on_other.models.list()
    finally:
        assert other.stop() == 0


def test_unknown_model_is_not_found(client):
    with pytest.raises(openai.NotFoundError) as error:
        client.chat.completions.create(model="gpt-9", messages=MESSAGES)
    assert error.value.code == "model_not_found"


def test_invalid_body_is_bad_request_with_param(client):
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(model="echo", messages=MESSAGES, temperature="hot")
    assert error.value.param == "temperature"
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(model="echo", messages=MESSAGES, max_tokens=-1)
    assert error.value.param == "max_tokens"


def test_huge_body_is_413(client):
    with pytest.raises(openai.APIStatusError) as error:
        client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "x" * (5 << 20)}])
    assert error.value.status_code == 413


def test_upstream_rejection_is_passed_through(client):
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(model="picky", messages=MESSAGES)
    assert error.value.code == "bad_prompt"


def test_upstream_timeout_is_504(client):
    with pytest.raises(openai.InternalServerError) as error:
        client.chat.completions.create(model="hang", messages=MESSAGES)
    assert error.value.status_code == 504


def test_failover_and_circuit_breaker(client, upstreams):
    a, b = upstreams
    a.set_mode("down")
    try:
        before_a = a.state()["requests"]
        answers = [client.chat.completions.create(model="dual", messages=MESSAGES).choices[0].message.content for _ in range(8)]
        assert answers == ["Hello from up-b"] * 8
        # up-a is tried until its circuit opens (2 consecutive failures), then skipped.
        assert a.state()["requests"] - before_a == 2
    finally:
        a.set_mode("up")
    time.sleep(1.5)  # the cooldown; then a trial request or a probe closes the circuit again
    seen = {client.chat.completions.create(model="dual", messages=MESSAGES).choices[0].message.content for _ in range(6)}
    assert seen == {"Hello from up-a", "Hello from up-b"}


def test_all_providers_down_is_an_error(client, upstreams):
    a, _ = upstreams
    a.set_mode("down")
    try:
        statuses = []
        for _ in range(3):
            with pytest.raises(openai.InternalServerError) as error:
                client.chat.completions.create(model="echo", messages=MESSAGES)
            statuses.append(error.value.status_code)
        # two upstream failures (502) open the circuit; then the gateway answers 503 without trying
        assert statuses == [502, 502, 503]
    finally:
        a.set_mode("up")
    time.sleep(1.5)
    assert client.chat.completions.create(model="echo", messages=MESSAGES).choices[0].message.content


def test_upstream_cut_mid_stream_raises(client):
    stream = client.chat.completions.create(model="cut", messages=MESSAGES, stream=True)
    received = []
    with pytest.raises(openai.APIError) as error:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content)
    assert received == ["Hello", " from"]
    assert "mid-stream" in str(error.value)


def test_upstream_silent_mid_stream_times_out(client):
    stream = client.chat.completions.create(model="stall", messages=MESSAGES, stream=True)
    received = []
    with pytest.raises(openai.APIError) as error:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content)
    assert received == ["Hello", " from"]
    # the idle timeout (2 s) ended it, not the upstream closing after its 30 s silence
    assert "went silent" in str(error.value)


def test_client_disconnect_cancels_the_upstream(client, upstreams):
    a, _ = upstreams
    before = a.state()["cancelled_streams"]
    stream = client.chat.completions.create(model="slow", messages=MESSAGES, stream=True)
    for i, _ in enumerate(stream):
        if i == 3:
            break
    stream.close()
    deadline = time.time() + 3
    while time.time() < deadline and a.state()["cancelled_streams"] == before:
        time.sleep(0.05)
    assert a.state()["cancelled_streams"] == before + 1


@pytest.mark.parametrize("body, param", [
    (b"{not json", None),
    (b"[1, 2, 3]", None),
    (b'{"model":"echo","messages":[{"role":"user","content":"hi"}],"stream":"yes"}', "stream"),
    (b'{"model":"echo","messages":[{"role":"user","content":"\xc3\x28"}]}', None),
    (b'{"model":"echo","messages":[{"role":"user","content":"hi"}],"unknown_field":1}', "unknown_field"),
    (b'{"model":"echo","messages":"hi"}', "messages"),
])
def test_bad_input_gets_a_400_envelope(atrium, api_key, body, param):
    response = httpx.post(atrium.url + "/v1/chat/completions", content=body,
                          headers={"authorization": f"Bearer {api_key}", "content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]
    assert error["param"] == param


def test_another_organizations_resources_are_404(atrium, api_key):
    atrium.create_user_and_key("other@example.com")
    mine = atrium.session("e2e@example.com")
    theirs = atrium.session("other@example.com")
    key = mine.post("/api/keys", json={"name": "private"}).json()
    org = key["organization_id"]
    assert theirs.delete(f"/api/keys/{key['id']}").status_code == 404
    assert theirs.get(f"/api/organizations/{org}").status_code == 404
    assert theirs.get("/api/keys", params={"organization_id": org}).status_code == 404


def test_openapi_document_is_served(atrium):
    document = httpx.get(atrium.url + "/openapi.json").json()
    assert document["openapi"].startswith("3.")


@pytest.mark.parametrize("stream", [False, True])
def test_a_field_the_catalog_says_a_provider_cannot_honour_is_refused_by_name(client, stream):
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="no-tools", messages=[{"role": "user", "content": "hi"}], tools=tools, stream=stream)
    assert refused.value.param == "tools" and refused.value.code == "unsupported_parameter"
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="no-tools", messages=[{"role": "user", "content": "hi"}], response_format={"type": "json_object"})
    assert refused.value.param == "response_format"
    answer = client.chat.completions.create(model="no-tools", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content
