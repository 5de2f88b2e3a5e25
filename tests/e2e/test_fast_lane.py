"""The gateway's fast lane at the level of HTTP/1.1 bytes: pipelined requests are answered in order on
one connection, and an answer followed by `Connection: close` arrives whole before the close. The lane
writes its answers (and the usage journal's lines) at the end of the event loop's turn, so these are
the cases where a write could be lost or reordered."""
import json
import socket
import threading
import time
import uuid

import openai

from conftest import Atrium, fast_lane_answers


def request(secret, request_id, close=False):
    body = json.dumps({"model": "echo", "messages": [{"role": "user", "content": "hi"}]}).encode()
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: atrium\r\n"
        f"Authorization: Bearer {secret}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"X-Request-Id: {request_id}\r\n" + ("Connection: close\r\n" if close else "") + "\r\n")
    return head.encode() + body


def read_response(stream):
    """One response from a buffered socket file: (status, headers, body)."""
    status = int(stream.readline().split()[1])
    headers = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, value = line.decode().split(":", 1)
        headers[name.strip().lower()] = value.strip()
    return status, headers, stream.read(int(headers["content-length"]))


def warmed_key(atrium):
    """A key the fast lane serves: its first call goes through the router, which caches it."""
    email = f"lane-{uuid.uuid4().hex[:8]}@example.com"
    secret = atrium.create_user_and_key(email)
    sdk = openai.OpenAI(base_url=atrium.url + "/v1", api_key=secret, max_retries=0, timeout=20)
    sdk.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
    return email, secret


def records(atrium, email, request_id, timeout=10):
    """The organization's committed usage records of `request_id`."""
    session = atrium.session(email)
    deadline = time.time() + timeout
    while True:
        response = session.get("/api/usage/records", params={"limit": 1000})
        assert response.status_code == 200, response.text
        rows = [row for row in response.json()["data"] if row["request_id"] == request_id]
        if rows or time.time() > deadline:
            return rows
        time.sleep(0.05)


def test_pipelined_requests_are_answered_in_order(atrium: Atrium):
    _, secret = warmed_key(atrium)
    ids = [f"pipe-{uuid.uuid4().hex[:12]}" for _ in range(4)]
    before = fast_lane_answers(atrium)
    with socket.create_connection(("127.0.0.1", atrium.port), timeout=20) as connection:
        connection.sendall(b"".join(request(secret, request_id) for request_id in ids))
        stream = connection.makefile("rb")
        answers = [read_response(stream) for _ in ids]
    assert [status for status, _, _ in answers] == [200] * len(ids)
    assert [headers["x-request-id"] for _, headers, _ in answers] == ids
    assert all(json.loads(body)["choices"][0]["message"]["content"] == "Hello from up-a" for _, _, body in answers)
    assert fast_lane_answers(atrium) >= before + len(ids)


def test_an_answer_before_a_close_arrives_whole_and_is_recorded(atrium: Atrium):
    email, secret = warmed_key(atrium)
    request_id = f"close-{uuid.uuid4().hex[:12]}"
    before = fast_lane_answers(atrium)
    with socket.create_connection(("127.0.0.1", atrium.port), timeout=20) as connection:
        connection.sendall(request(secret, request_id, close=True))
        stream = connection.makefile("rb")
        status, headers, body = read_response(stream)
        assert stream.read() == b""  # then the server closes
    assert status == 200 and headers["connection"] == "close" and headers["x-request-id"] == request_id
    assert json.loads(body)["model"] == "echo"
    assert fast_lane_answers(atrium) >= before + 1
    [record] = records(atrium, email, request_id)
    assert record["status"] == 200 and record["finish_reason"] == "stop" and record["provider"] == "up-a"
    assert (record["prompt_tokens"], record["completion_tokens"], record["estimated"]) == (5, 4, False)


def test_a_connection_that_changes_keys_is_judged_for_each_key(atrium: Atrium):
    """The lane remembers the digest of a connection's last key. A request with another key, a malformed
    one, or the same key revoked meanwhile is judged, and recorded, for the key it carries."""
    email_a, secret_a = warmed_key(atrium)
    email_b, secret_b = warmed_key(atrium)
    ids = {name: f"switch-{name}-{uuid.uuid4().hex[:8]}" for name in ("a", "b", "bad", "again", "revoked")}
    malformed = secret_b[:-1] + ("x" if secret_b[-1] != "x" else "y")  # its checksum no longer holds
    with socket.create_connection(("127.0.0.1", atrium.port), timeout=20) as connection:
        stream = connection.makefile("rb")

        def ask(secret, name):
            connection.sendall(request(secret, ids[name]))
            status, headers, _ = read_response(stream)
            assert headers["x-request-id"] == ids[name]
            return status

        assert [ask(secret_a, "a"), ask(secret_b, "b"), ask(malformed, "bad"), ask(secret_a, "again")] == [200, 200, 401, 200]
        owner = atrium.session(email_a)
        [key] = owner.get("/api/keys").json()["data"]
        assert owner.delete(f"/api/keys/{key['id']}").status_code == 204
        assert ask(secret_a, "revoked") == 401
    assert len(records(atrium, email_a, ids["a"])) == 1 and len(records(atrium, email_a, ids["again"])) == 1
    assert len(records(atrium, email_b, ids["b"])) == 1
    assert records(atrium, email_a, ids["b"], timeout=0) == []


def test_an_answer_without_usage_is_estimated_on_both_lanes(atrium: Atrium):
    """An upstream whose whole answer reports no usage: the record is an estimate from the prompt and the
    generated text, the same whether the router answered (the key's first request) or the lane did."""
    email = f"lane-{uuid.uuid4().hex[:8]}@example.com"
    secret = atrium.create_user_and_key(email)
    sdk = openai.OpenAI(base_url=atrium.url + "/v1", api_key=secret, max_retries=0, timeout=20)
    ids = [f"unreported-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    before = fast_lane_answers(atrium)
    for request_id in ids:
        answer = sdk.chat.completions.create(
            model="unreported", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-request-id": request_id})
        assert answer.choices[0].message.content == "Hello from up-a" and answer.usage is None
    assert fast_lane_answers(atrium) == before + 1  # the second: the first warmed the key's cache
    [router], [lane] = records(atrium, email, ids[0]), records(atrium, email, ids[1])
    for record in (router, lane):
        assert record["estimated"] is True and record["completion_tokens"] > 0 and record["prompt_tokens"] > 0
    assert (router["prompt_tokens"], router["completion_tokens"]) == (lane["prompt_tokens"], lane["completion_tokens"])


def raw(method, path, secret=None, body=b"", fields=()):
    head = f"{method} {path} HTTP/1.1\r\nHost: atrium\r\n"
    if secret:
        head += f"Authorization: Bearer {secret}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in fields)
    if body or method == "POST":
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def test_the_lane_and_the_router_share_a_pipelined_connection_in_order(atrium: Atrium):
    """The lane frames each request from the connection's bytes: what it does not serve (a GET, a
    request carrying a prior attempt of its own, a body the schema refuses) goes to the router as it
    came, and every answer comes back in the order asked."""
    _, secret = warmed_key(atrium)
    ids = [f"mixed-{n}-{uuid.uuid4().hex[:8]}" for n in range(6)]
    chat = json.dumps({"model": "echo", "messages": [{"role": "user", "content": "hi"}]}).encode()
    requests = [
        raw("POST", "/v1/chat/completions", secret, chat, [("X-Request-Id", ids[0])]),
        raw("GET", "/v1/models", secret, fields=[("X-Request-Id", ids[1])]),
        raw("POST", "/v1/chat/completions", secret, chat, [("X-Request-Id", ids[2]), ("X-Atrium-Prior-Attempt", "up-a|connect|made up")]),
        raw("POST", "/v1/chat/completions", secret, b'{"model": "echo"}', [("X-Request-Id", ids[3])]),
        raw("POST", "/v1/chat/completions", secret, chat, [("x-request-id", ids[4])]),
        raw("POST", "/v1/chat/completions", secret, chat, [("X-REQUEST-ID", ids[5])]),
    ]
    before = fast_lane_answers(atrium)
    with socket.create_connection(("127.0.0.1", atrium.port), timeout=20) as connection:
        connection.sendall(b"".join(requests))
        stream = connection.makefile("rb")
        answers = [read_response(stream) for _ in ids]
    assert [headers["x-request-id"] for _, headers, _ in answers] == ids
    assert [status for status, _, _ in answers] == [200, 200, 200, 400, 200, 200]
    assert any(model["id"] == "echo" for model in json.loads(answers[1][2])["data"])
    # The client's own prior attempt is dropped: the router tried up-a as usual.
    assert json.loads(answers[2][2])["choices"][0]["message"]["content"] == "Hello from up-a"
    assert "messages" in json.loads(answers[3][2])["error"]["message"]
    # The first; the others arrived while the router held a request of the connection, so they followed it.
    assert fast_lane_answers(atrium) == before + 1


def test_a_request_that_arrives_a_few_bytes_at_a_time_is_served(atrium: Atrium):
    _, secret = warmed_key(atrium)
    request_id = f"dribble-{uuid.uuid4().hex[:8]}"
    before = fast_lane_answers(atrium)
    with socket.create_connection(("127.0.0.1", atrium.port), timeout=20) as connection:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        data = request(secret, request_id)
        for start in range(0, len(data), 7):
            connection.sendall(data[start:start + 7])
            time.sleep(0.002)
        status, headers, body = read_response(connection.makefile("rb"))
    assert status == 200 and headers["x-request-id"] == request_id
    assert json.loads(body)["choices"][0]["message"]["content"] == "Hello from up-a"
    assert fast_lane_answers(atrium) == before + 1


def test_a_chunked_request_leaves_the_connection_to_the_router(atrium: Atrium):
    """A body the lane would have to unchunk, it does not frame: that request and the rest of the
    connection go to NIO's decoder and the router, which answer them all."""
    _, secret = warmed_key(atrium)
    chat = json.dumps({"model": "echo", "messages": [{"role": "user", "content": "hi"}]}).encode()
    chunked = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: atrium\r\n"
        f"Authorization: Bearer {secret}\r\nTransfer-Encoding: chunked\r\nX-Request-Id: chunked-1\r\n\r\n"
        f"{len(chat) - 5:x}\r\n").encode() + chat[:-5] + f"\r\n5\r\n".encode() + chat[-5:] + b"\r\n0\r\n\r\n"
    before = fast_lane_answers(atrium)
    with socket.create_connection(("127.0.0.1", atrium.port), timeout=20) as connection:
        connection.sendall(chunked + request(secret, "after-chunked"))
        stream = connection.makefile("rb")
        answers = [read_response(stream) for _ in range(2)]
    assert [(status, headers["x-request-id"]) for status, headers, _ in answers] == [(200, "chunked-1"), (200, "after-chunked")]
    assert all(json.loads(body)["choices"][0]["message"]["content"] == "Hello from up-a" for _, _, body in answers)
    assert fast_lane_answers(atrium) == before


def test_a_head_with_two_lengths_is_refused_not_served(atrium: Atrium):
    """Two Content-Lengths could frame the request two ways: the lane leaves it to NIO's decoder, which
    refuses it, and the server goes on serving."""
    _, secret = warmed_key(atrium)
    smuggled = raw("POST", "/v1/chat/completions", secret, b'{"model":"echo"}', [("Content-Length", "0")])
    before = fast_lane_answers(atrium)
    with socket.create_connection(("127.0.0.1", atrium.port), timeout=20) as connection:
        connection.sendall(smuggled)
        reply = connection.makefile("rb").read()
    assert not reply.startswith(b"HTTP/1.1 200"), reply[:200]
    assert fast_lane_answers(atrium) == before
    sdk = openai.OpenAI(base_url=atrium.url + "/v1", api_key=secret, max_retries=0, timeout=20)
    assert sdk.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}]).choices[0].message.content


def test_a_client_that_pipelines_megabytes_behind_a_slow_answer_is_read_in_turn(atrium: Atrium):
    """While the lane waits for an upstream, it holds what the client sends after that request, up to a
    body's and a head's worth, and then stops reading until the answer is out. Everything sent is still
    answered, in order."""
    _, secret = warmed_key(atrium)
    big = "x" * (2 << 20)
    bodies = [json.dumps({"model": "late", "messages": [{"role": "user", "content": "hi"}]}).encode()]
    bodies += [json.dumps({"model": "echo", "messages": [{"role": "user", "content": big}]}).encode() for _ in range(3)]
    ids = [f"held-{n}-{uuid.uuid4().hex[:8]}" for n in range(len(bodies))]
    before = fast_lane_answers(atrium)
    with socket.create_connection(("127.0.0.1", atrium.port), timeout=30) as connection:
        sender = threading.Thread(target=lambda: connection.sendall(b"".join(
            raw("POST", "/v1/chat/completions", secret, body, [("X-Request-Id", request_id)]) for body, request_id in zip(bodies, ids))))
        sender.start()
        stream = connection.makefile("rb")
        answers = [read_response(stream) for _ in ids]
        sender.join()
    assert [(status, headers["x-request-id"]) for status, headers, _ in answers] == [(200, request_id) for request_id in ids]
    assert json.loads(answers[0][2])["model"] == "late"
    assert fast_lane_answers(atrium) == before + len(ids)


def test_nothing_is_served_after_the_decoder_stops_reading(atrium: Atrium):
    """NIO's decoder reads no more of a connection after a request that closes it, or after CONNECT. A
    request the lane could serve, sent behind one of those, is not served out of turn: the lane leaves
    the rest of such a connection to the decoder."""
    _, secret = warmed_key(atrium)
    before = fast_lane_answers(atrium)
    with socket.create_connection(("127.0.0.1", atrium.port), timeout=10) as connection:
        connection.sendall(raw("GET", "/v1/models", secret, fields=[("Connection", "close")]) + request(secret, "after-close"))
        reply = connection.makefile("rb").read()  # until the server closes
    assert reply.startswith(b"HTTP/1.1 200") and reply.count(b"HTTP/1.1 ") == 1 and b"after-close" not in reply
    with socket.create_connection(("127.0.0.1", atrium.port), timeout=2) as connection:
        connection.sendall(b"CONNECT atrium:443 HTTP/1.1\r\nHost: atrium\r\n\r\n")
        first = connection.recv(65536)
        assert first.startswith(b"HTTP/1.1 ") and not first.startswith(b"HTTP/1.1 200"), first[:300]
        time.sleep(0.3)  # the router's answer is done: nothing of the connection is with it now
        connection.sendall(raw("GET", "/v1/models", secret) + request(secret, "after-connect"))
        later = b""
        try:
            while chunk := connection.recv(65536):
                later += chunk
        except (TimeoutError, socket.timeout):
            pass
    assert b"after-connect" not in later, later[:300]
    assert fast_lane_answers(atrium) == before
