"""The dashboard over HTTP: a call made with a key is found by its request id (in its own organization
only), the latest requests and the 30-day chart show it, and both download as CSV."""
import csv
import html
import io
import re
import time
import uuid

import httpx
import openai


def developer(atrium):
    """A signed-in page client and an API key of the same new organization."""
    client = httpx.Client(base_url=atrium.url)
    page = client.get("/signup")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    made = client.post("/signup", data={"csrf": token, "name": "Dash Board", "email": f"dash-{uuid.uuid4().hex[:8]}@example.com",
                                          "password": "a good password"})
    assert made.status_code == 303
    key = client.post("/api/keys", json={"name": "dash"}).json()["secret"]
    return client, key


def call(atrium, key, request_id):
    sdk = openai.OpenAI(base_url=atrium.url + "/v1", api_key=key, max_retries=0, timeout=20)
    return sdk.chat.completions.with_raw_response.create(
        model="echo", messages=[{"role": "user", "content": "hello dashboard"}], max_tokens=8, extra_headers={"x-request-id": request_id})


def find(client, request_id, timeout=15):
    """The dashboard's answer to a search, once the call's usage is committed (group commits: a second)."""
    deadline = time.time() + timeout
    while True:
        page = client.get("/dashboard", params={"request_id": request_id})
        if request_id in page.text and "No call of this organization" not in page.text or time.time() > deadline:
            return page
        time.sleep(0.3)


def test_a_call_is_found_on_the_dashboard_by_its_request_id(atrium):
    client, key = developer(atrium)
    request_id = f"dash-{uuid.uuid4().hex[:10]}"
    answered = call(atrium, key, request_id)
    assert answered.headers["x-request-id"] == request_id
    page = find(client, request_id)
    assert page.status_code == 200
    row = re.search(r"<tr><td>[^<]*</td><th scope=\"row\"><code>" + request_id + r"</code>.*?</tr>", page.text, re.S)
    assert row, page.text[-3000:]
    assert "<code>echo</code>" in row.group(0) and ">200<" in row.group(0)
    assert "Search result" in page.text

    overview = client.get("/dashboard").text
    assert request_id in overview and "Latest requests" in overview
    assert '<svg viewBox="0 0 720 220" role="img"' in overview and "echo · " in overview  # a bar with its hover title
    assert "Credit balance" in overview and "Spent this month" in overview

    missing = client.get("/dashboard", params={"request_id": "req_nothing_like_it"}).text
    assert "No call of this organization has the request id “req_nothing_like_it”" in missing


def test_another_organizations_call_cannot_be_found(atrium):
    owner, key = developer(atrium)
    request_id = f"private-{uuid.uuid4().hex[:10]}"
    call(atrium, key, request_id)
    assert request_id in find(owner, request_id).text
    stranger, _ = developer(atrium)
    page = stranger.get("/dashboard", params={"request_id": request_id})
    assert "No call of this organization" in page.text and f"<code>{request_id}</code>" not in page.text
    assert request_id not in stranger.get("/dashboard/requests.csv").text


def test_what_the_dashboard_shows_downloads_as_csv(atrium):
    client, key = developer(atrium)
    request_id = f"-csv-{uuid.uuid4().hex[:8]}"  # a leading "-" would run as a formula in a spreadsheet
    call(atrium, key, request_id)
    find(client, request_id)
    requests = client.get("/dashboard/requests.csv")
    assert requests.headers["content-type"].startswith("text/csv") and "attachment" in requests.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(requests.text)))
    assert rows and rows[0]["request_id"] == "'" + request_id and rows[0]["model"] == "echo" and rows[0]["status"] == "200"
    usage = list(csv.DictReader(io.StringIO(client.get("/dashboard/usage.csv").text)))
    assert any(row["model"] == "echo" and int(row["requests"]) >= 1 for row in usage)
    assert client.get("/dashboard/requests.csv", params={"request_id": "none-such"}).text.count("\n") == 1  # the header alone


def test_the_dashboard_needs_a_session(atrium):
    away = httpx.get(atrium.url + "/dashboard/requests.csv")
    assert away.status_code == 303 and away.headers["location"].startswith("/login?next=")


def test_a_refused_call_shows_what_the_client_was_told(atrium):
    client, key = developer(atrium)
    sdk = openai.OpenAI(base_url=atrium.url + "/v1", api_key=key, max_retries=0, timeout=20)
    refused_id = f"refused-{uuid.uuid4().hex[:10]}"
    try:
        sdk.chat.completions.create(
            model="no-tools", messages=[{"role": "user", "content": "hi"}], max_tokens=8, extra_headers={"x-request-id": refused_id},
            tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}])
        raise AssertionError("the call should have been refused")
    except openai.BadRequestError as error:
        told = error.body["message"]
    upstream_id = f"upstream-{uuid.uuid4().hex[:10]}"
    try:
        sdk.chat.completions.create(model="picky", messages=[{"role": "user", "content": "hi"}], max_tokens=8, extra_headers={"x-request-id": upstream_id})
        raise AssertionError("the upstream should have refused")
    except openai.BadRequestError as error:
        upstream_told = error.body["message"]

    for request_id, message in ((refused_id, told), (upstream_id, upstream_told)):
        page = find(client, request_id)
        row = re.search(r"<tr><td>[^<]*</td><th scope=\"row\"><code>" + request_id + r"</code>.*?</tr>", page.text, re.S).group(0)
        assert '<span class="status failed">400</span>' in row
        assert f'<td class="error-text">{html.escape(message, quote=True).replace("&#x27;", "&#39;")}</td>' in row, (row, message)
    rows = list(csv.DictReader(io.StringIO(client.get("/dashboard/requests.csv", params={"request_id": refused_id}).text)))
    assert rows[0]["error"] == told and rows[0]["status"] == "400"
