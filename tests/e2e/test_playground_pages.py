"""The playground in Chromium: a streamed chat answer arrives token by token with its token counts and
cost, a run can be stopped, embeddings compare as a table of cosine similarities, each run shows its
code, and the calls are metered under the playground's own short-lived key."""
import re
import time
import uuid

import httpx
import pytest
from selenium.webdriver.support.ui import Select, WebDriverWait

from browser import heading_becomes, open_browser
from test_portal_pages import sign_up


@pytest.fixture(scope="module")
def page():
    browser = open_browser()
    yield browser
    browser.quit()


def wait(page, condition, timeout=20):
    return WebDriverWait(page, timeout).until(lambda _: condition())


def test_a_chat_streams_into_the_page_and_is_metered(atrium, page):
    sign_up(page, atrium, "Play Ground")
    page.find_element("link text", "Playground").click()
    heading_becomes(page, "Playground")
    Select(page.find_element("id", "chat-model")).select_by_value("slow-short")  # 20 chunks, 50 ms apart
    message = page.find_element("id", "message")
    message.clear()
    message.send_keys("stream these words to me please")
    page.find_element("id", "send").click()
    seen = set()
    wait(page, lambda: seen.add(page.find_element("id", "answer").text) or "completion tokens" in page.find_element("id", "chat-stats").text)
    answer = page.find_element("id", "answer").text
    assert answer and len(seen) > 2, f"the answer did not arrive piece by piece: {seen}"
    assert re.search(r"\d+ prompt \+ \d+ completion tokens · [\d.]+ credits", page.find_element("id", "chat-stats").text)
    code = page.find_element("id", "chat-code")
    code.find_element("tag name", "summary").click()
    wait(page, lambda: len(code.find_elements("css selector", "pre")) == 4)
    python = code.find_element("css selector", 'code[data-language="python"]').text
    assert "model=\"slow-short\"" in python and "stream=True" in python and "stream these words to me please" in python, python

    # The run was a metered call of the reader's organization, under the playground's key.
    cookies = {c["name"]: c["value"] for c in page.get_cookies()}
    with httpx.Client(base_url=atrium.url, cookies=cookies) as client:
        deadline = time.time() + 10
        while "<code>slow-short</code>" not in client.get("/dashboard").text and time.time() < deadline:
            time.sleep(0.3)
        assert "<code>slow-short</code>" in client.get("/dashboard").text
        keys = client.get("/api/keys").json()["data"]
        assert [k["name"] for k in keys] == ["Playground"] and keys[0]["expires_at"] - time.time() < 3700


def test_a_run_can_be_stopped_and_regenerated(atrium, page):
    page.get(atrium.url + "/playground")
    heading_becomes(page, "Playground")
    Select(page.find_element("id", "chat-model")).select_by_value("slow")
    page.find_element("id", "send").click()
    wait(page, lambda: page.find_element("id", "stop").is_enabled())
    page.find_element("id", "stop").click()
    wait(page, lambda: page.find_element("id", "chat-stats").text == "Stopped.")
    assert page.find_element("id", "send").is_enabled()
    Select(page.find_element("id", "chat-model")).select_by_value("echo")
    page.find_element("id", "send").click()
    wait(page, lambda: "completion tokens" in page.find_element("id", "chat-stats").text)
    first = page.find_element("id", "answer").text
    page.find_element("id", "regenerate").click()
    wait(page, lambda: "completion tokens" in page.find_element("id", "chat-stats").text and page.find_element("id", "send").is_enabled())
    assert page.find_element("id", "answer").text
    # Opening the playground again replaced its key: still one.
    cookies = {c["name"]: c["value"] for c in page.get_cookies()}
    assert [k["name"] for k in httpx.get(atrium.url + "/api/keys", cookies=cookies).json()["data"]] == ["Playground"]
    assert first


def test_embeddings_compare_as_a_table_of_cosine_similarities(atrium, page):
    page.get(atrium.url + "/playground")
    heading_becomes(page, "Playground")
    page.find_element("css selector", "#embed-form button[type=submit]").click()
    wait(page, lambda: page.find_elements("css selector", "#similarities table"))
    rows = page.find_elements("css selector", "#similarities tbody tr")
    assert len(rows) == 3
    values = [[float(cell.text) for cell in row.find_elements("tag name", "td")] for row in rows]
    assert all(abs(values[i][i] - 1) < 1e-3 for i in range(3))
    assert values[0][1] == values[1][0]
    assert "prompt" in page.find_element("id", "embed-stats").text


def test_the_playground_needs_a_session_and_its_key_never_caches(atrium):
    assert httpx.get(atrium.url + "/playground").status_code == 303
    with httpx.Client(base_url=atrium.url) as client:
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/signup").text).group(1)
        client.post("/signup", data={"csrf": token, "name": "P", "email": f"p-{uuid.uuid4().hex[:8]}@example.com", "password": "a good password"})
        page = client.get("/playground")
        assert page.headers["cache-control"] == "no-store" and "atr_" not in page.text
        assert client.get("/api/keys").json()["data"] == []  # showing the page writes no key

        csrf = re.search(r'data-csrf="([^"]+)"', page.text).group(1)
        assert client.post("/playground/key", data={"csrf": "x" * 43}).status_code == 403
        assert client.post("/playground/key").status_code == 403
        made = client.post("/playground/key", data={"csrf": csrf})
        assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
        first = made.json()
        assert first["key"].startswith("atr_") and 3500 < first["expires_at"] - time.time() <= 3600
        models = lambda secret: httpx.get(atrium.url + "/v1/models", headers={"authorization": f"Bearer {secret}"})
        assert models(first["key"]).status_code == 200
        second = client.post("/playground/key", data={"csrf": csrf}).json()["key"]
        assert models(second).status_code == 200 and models(first["key"]).status_code == 401  # replaced, not piled up
        assert [k["name"] for k in client.get("/api/keys").json()["data"]] == ["Playground"]
        code = client.get("/playground/code", params={"operation": "chat", "model": "echo", "message": "hi", "temperature": "9", "seed": "7"}).json()
        assert '"seed": 7' in code["curl"] and "temperature" not in code["curl"]  # out of range: left out
