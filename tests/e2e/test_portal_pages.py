"""The portal's pages over HTTP and in a real Chromium: security headers, language, CSRF, form errors
in the reader's language, escaping, and a person's first steps (sign up, log out, log in), with
screenshots at desktop and phone widths in both languages, an overflow check and an axe-core audit."""
import re
import time
import uuid

import httpx
import pytest

from browser import (WIDTHS, click_to_load, heading_becomes, horizontal_overflow, open_browser, screenshot,
                     serious_accessibility_violations, set_theme, set_width)

PUBLIC_PAGES = ["/", "/models", "/docs", "/docs/getting-started", "/docs/chat", "/docs/errors", "/docs/api", "/login", "/signup", "/password/forgot",
                "/password/reset?token=from-a-mail", "/verify-email?token=used-already", "/goodbye", "/announcements", "/changelog"]
SIGNED_IN_PAGES = ["/dashboard", "/keys", "/playground", "/account", "/organizations"]


def csrf_of(client, path):
    """Opens a page as a browser would and returns its form's CSRF token (the cookie is now set)."""
    page = client.get(path)
    assert page.status_code == 200, page.text[:500]
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def test_every_page_carries_the_security_headers(atrium):
    with httpx.Client(base_url=atrium.url) as client:
        for path in PUBLIC_PAGES + ["/no-such-page"]:
            page = client.get(path, headers={"accept": "text/html"})
            csp = page.headers["content-security-policy"]
            assert "unsafe-inline" not in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
            assert page.headers["x-content-type-options"] == "nosniff", path
            assert page.headers["referrer-policy"] == "same-origin", path
            assert page.headers["content-type"].startswith("text/html"), path
            assert "<script>" not in page.text and " style=" not in page.text, f"{path} has inline script or style"


def test_a_missing_page_is_a_readable_page_in_the_readers_language(atrium):
    english = httpx.get(atrium.url + "/no-such-page", headers={"accept": "text/html"})
    assert english.status_code == 404 and "Page not found" in english.text
    chinese = httpx.get(atrium.url + "/no-such-page", headers={"accept": "text/html", "accept-language": "zh-CN,zh;q=0.9"})
    assert chinese.status_code == 404 and "页面不存在" in chinese.text and 'lang="zh-Hans"' in chinese.text
    # The JSON APIs keep their envelope.
    assert httpx.get(atrium.url + "/v1/nothing").json()["error"]["code"] in ("unknown_url", "missing_api_key")


def test_the_language_follows_the_browser_and_the_switch_is_remembered(atrium):
    def heading(response):
        return re.search(r"<h1>(.*?)</h1>", response.text).group(1)

    assert heading(httpx.get(atrium.url + "/", headers={"accept-language": "zh-CN,zh;q=0.9,en;q=0.8"})) == "用我们的模型构建应用"
    assert heading(httpx.get(atrium.url + "/", headers={"accept-language": "zh-TW,en;q=0.5"})) == "Build with our models"
    assert heading(httpx.get(atrium.url + "/", headers={"accept-language": "fr-FR"})) == "Build with our models"
    with httpx.Client(base_url=atrium.url) as client:
        switched = client.get("/language", params={"to": "zh-Hans", "next": "/models"})
        assert switched.status_code == 303 and switched.headers["location"] == "/models"
        assert heading(client.get("/models", headers={"accept-language": "en"})) == "模型"
        # Only this site's paths are followed.
        assert client.get("/language", params={"to": "en", "next": "//evil.example/x"}).headers["location"] == "/"
        assert client.get("/language", params={"to": "en", "next": "https://evil.example/"}).headers["location"] == "/"


def test_the_model_catalog_shows_each_model_with_an_example(atrium):
    page = httpx.get(atrium.url + "/models")
    assert page.status_code == 200
    for model in ("echo", "embedder", "instruct"):
        assert f'id="model-{model}"' in page.text
    assert f"{atrium.url}/v1/embeddings" in page.text and "Operational" in page.text
    assert "per million tokens" in page.text


def test_forms_without_a_matching_csrf_token_are_refused_and_store_nothing(atrium):
    email = f"csrf-{uuid.uuid4().hex[:8]}@example.com"
    fields = {"name": "Mallory", "email": email, "password": "long enough password"}
    with httpx.Client(base_url=atrium.url) as client:
        assert client.post("/signup", data=fields).status_code == 403  # no token, no cookie
        token = csrf_of(client, "/signup")
        assert client.post("/signup", data={**fields, "csrf": "x" * 43}).status_code == 403  # forged
        assert client.post("/signup", data={**fields, "csrf": token[:-1]}).status_code == 403
        forged = client.post("/signup", data={**fields, "csrf": "A" * 43})
        assert forged.status_code == 403 and "Not allowed" in forged.text
    # A cross-site page has no cookie of ours to match its field.
    assert httpx.post(atrium.url + "/signup", data={**fields, "csrf": token}).status_code == 403
    assert httpx.post(atrium.url + "/api/auth/login", json={"email": email, "password": fields["password"]}).status_code == 401


def test_the_signup_form_explains_each_mistake_beside_its_field(atrium):
    with httpx.Client(base_url=atrium.url) as client:
        token = csrf_of(client, "/signup")
        empty = client.post("/signup", data={"csrf": token, "name": "", "email": "", "password": ""})
        assert empty.status_code == 400
        assert empty.text.count("This field is required.") == 3
        assert 'id="name-error"' in empty.text and 'aria-invalid="true"' in empty.text

        script = "<script>alert(1)</script>"
        bad = client.post("/signup", data={"csrf": token, "name": script, "email": "not-an-email", "password": "short"})
        assert bad.status_code == 400
        assert "Enter a valid email address." in bad.text and "at least 8 characters" in bad.text
        assert script not in bad.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in bad.text

        long_password = client.post("/signup", data={"csrf": token, "name": "N", "email": "n@example.com", "password": "x" * 100})
        assert "at most 72 bytes" in long_password.text
        assert httpx.post(atrium.url + "/api/auth/login", json={"email": "n@example.com", "password": "x" * 100}).status_code == 401

        chinese = client.post("/signup", data={"csrf": token, "name": "", "email": "x@", "password": "short"},
                              headers={"accept-language": "zh-CN"})
        assert "此项为必填项。" in chinese.text and "请输入有效的电子邮箱地址。" in chinese.text and "密码至少需要 8 个字符。" in chinese.text


def test_signing_up_opens_a_session_and_logging_in_again_brings_the_reader_back(atrium):
    email = f"page-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=atrium.url) as client:
        token = csrf_of(client, "/signup")
        made = client.post("/signup", data={"csrf": token, "name": "Page Person", "email": email, "password": "a good password"})
        assert made.status_code == 303 and made.headers["location"] == "/dashboard"
        cookie = next(c for c in made.headers.get_list("set-cookie") if c.startswith("atrium_session="))
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert "Welcome, Page Person" in client.get("/dashboard").text
        assert client.post("/logout", data={"csrf": token}).status_code == 303
        away = client.get("/dashboard?tab=1")
        assert away.status_code == 303 and away.headers["location"] == "/login?next=%2Fdashboard%3Ftab%3D1"
        wrong = client.post("/login", data={"csrf": token, "email": email, "password": "not it"})
        assert wrong.status_code == 400 and "Incorrect email or password." in wrong.text
        back = client.post("/login", data={"csrf": token, "email": email, "password": "a good password", "next": "/dashboard?tab=1"})
        assert back.status_code == 303 and back.headers["location"] == "/dashboard?tab=1"
        assert client.post("/login", data={"csrf": token, "email": email, "password": "a good password", "next": "//evil.example"}).headers["location"] == "/dashboard"


@pytest.fixture(scope="module")
def chromium():
    page = open_browser()
    yield page
    page.quit()


def test_a_new_developer_signs_up_in_the_browser(atrium, chromium):
    page = chromium
    page.get(atrium.url + "/")
    heading_becomes(page, "Build with our models")
    page.find_element("link text", "Get started").click()
    heading_becomes(page, "Create an account")
    page.find_element("id", "name").send_keys("Ada Lovelace")
    page.find_element("id", "email").send_keys(f"ada-{uuid.uuid4().hex[:8]}@example.com")
    page.find_element("id", "password").send_keys("short")
    click_to_load(page, page.find_element("css selector", "form button[type=submit]"))
    heading_becomes(page, "Create an account")
    assert page.find_element("id", "password-error").text == "A password needs at least 8 characters."
    assert page.find_element("id", "name").get_attribute("value") == "Ada Lovelace"
    page.find_element("id", "password").send_keys(" but now long enough")
    page.find_element("css selector", "form button[type=submit]").click()
    heading_becomes(page, "Welcome, Ada Lovelace")
    page.find_element("css selector", "form.logout button").click()
    heading_becomes(page, "Build with our models")
    assert page.current_url.rstrip("/") == atrium.url
    assert page.find_elements("link text", "Log in")


def test_samples_become_tabs_that_remember_the_language_and_work_by_keyboard(atrium, chromium):
    from selenium.webdriver.common.keys import Keys

    page = chromium
    page.get(atrium.url + "/docs/getting-started")
    heading_becomes(page, "Getting started")
    block = page.find_element("css selector", '.samples[data-samples="chat"]')
    tabs = block.find_elements("css selector", "[role=tab]")
    assert [t.text for t in tabs] == ["curl", "Python", "JavaScript", "Swift"]
    visible = lambda: [s.get_attribute("data-language") for s in block.find_elements("css selector", ".sample") if s.is_displayed()]
    assert visible() == ["curl"]
    tabs[1].click()
    assert visible() == ["python"]
    tabs[1].send_keys(Keys.ARROW_RIGHT)
    assert visible() == ["javascript"]
    assert page.switch_to.active_element.text == "JavaScript"
    # Every sample block of the page follows, and the choice is remembered on the next page.
    assert [s.get_attribute("data-language") for s in page.find_elements("css selector", ".sample") if s.is_displayed()] == ["javascript", "javascript"]
    page.get(atrium.url + "/docs/chat")
    heading_becomes(page, "Chat and streaming")
    assert {s.get_attribute("data-language") for s in page.find_elements("css selector", ".sample") if s.is_displayed()} == {"javascript"}


def sign_up(page, atrium, name):
    page.get(atrium.url + "/signup")
    heading_becomes(page, "Create an account")
    page.find_element("id", "name").send_keys(name)
    page.find_element("id", "email").send_keys(f"{name.split()[0].lower()}-{uuid.uuid4().hex[:8]}@example.com")
    page.find_element("id", "password").send_keys("a long enough password")
    page.find_element("css selector", "form button[type=submit]").click()
    heading_becomes(page, f"Welcome, {name}")


def create_key(page, name):
    page.find_element("link text", "Keys").click()
    heading_becomes(page, "API keys")
    page.find_element("id", "name").send_keys(name)
    page.find_element("css selector", 'form[action="/keys"] button[type=submit]').click()
    heading_becomes(page, "Your new key")
    return page.find_element("id", "secret").get_attribute("value")


def run_getting_started_sample(atrium, key):
    from test_docs_samples import run, samples
    code = next(code for operation, kind, code in samples(atrium, "getting-started") if operation == "chat" and kind == "python")
    return run("python", code, key)


def test_a_developer_makes_a_key_runs_the_sample_and_revokes_the_key(atrium, chromium):
    page = chromium
    sign_up(page, atrium, "Grace Hopper")
    secret = create_key(page, "laptop")
    assert secret.startswith("atr_") and len(secret) > 30
    assert secret in page.find_element("id", "export").text
    ran = run_getting_started_sample(atrium, secret)
    assert ran.returncode == 0 and ran.stdout.strip(), ran.stderr

    page.find_element("link text", "Done").click()
    heading_becomes(page, "API keys")
    row = page.find_element("xpath", "//tr[th[normalize-space()='laptop']]")
    assert secret[:8] in row.text and secret not in page.page_source  # the secret is never shown again
    click_to_load(page, row.find_element("css selector", "button"))
    heading_becomes(page, "API keys")
    assert not page.find_elements("xpath", "//tr[th[normalize-space()='laptop']]")
    refused = run_getting_started_sample(atrium, secret)
    assert refused.returncode != 0 and "401" in refused.stderr + refused.stdout
    page.find_element("css selector", "form.logout button").click()
    heading_becomes(page, "Build with our models")


def test_a_key_form_without_a_name_says_so_and_creates_nothing(atrium):
    with httpx.Client(base_url=atrium.url) as client:
        token = csrf_of(client, "/signup")
        client.post("/signup", data={"csrf": token, "name": "Key Form", "email": f"kf-{uuid.uuid4().hex[:8]}@example.com", "password": "a good password"})
        empty = client.post("/keys", data={"csrf": token, "name": "   "})
        assert empty.status_code == 400 and "This field is required." in empty.text and "No keys yet." in empty.text
        long = client.post("/keys", data={"csrf": token, "name": "x" * 201})
        assert long.status_code == 400 and "at most 200 characters" in long.text
        script = client.post("/keys", data={"csrf": token, "name": "<img src=x onerror=alert(1)>"})
        assert script.status_code == 201 and "<img src=x" not in script.text and "&lt;img src=x onerror=alert(1)&gt;" in script.text
        assert script.headers["cache-control"] == "no-store"
        assert client.post("/keys", data={"name": "forged"}).status_code == 403
        listed = client.get("/keys").text
        assert listed.count("<tr>") == 2  # the header row and the one key made
        other = httpx.post(atrium.url + "/keys/00000000-0000-0000-0000-000000000000/revoke", data={"csrf": token})
        assert other.status_code == 403  # no CSRF cookie: refused before anything else


@pytest.mark.parametrize("language", ["en-US", "zh-CN"])
def test_every_page_fits_a_phone_passes_axe_and_is_screenshotted(atrium, language):
    page = open_browser(language=language)
    try:
        tag = "en" if language == "en-US" else "zh"
        problems = []
        # A signed-in reader with a key, for the account pages.
        email = f"shots-{uuid.uuid4().hex[:8]}@example.com"
        session = httpx.post(atrium.url + "/api/auth/signup", json={"email": email, "password": "a good password", "name": "Screen Shot"})
        cookie = session.cookies["atrium_session"]
        key = httpx.post(atrium.url + "/api/keys", json={"name": "production server"}, cookies={"atrium_session": cookie}).json()["secret"]
        for model, path, body in [("echo", "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}),
                                  ("instruct", "/v1/completions", {"prompt": "Once", "max_tokens": 8}),
                                  ("embedder", "/v1/embeddings", {"input": ["a", "b"]})]:
            httpx.post(atrium.url + path, json={"model": model, **body}, headers={"authorization": f"Bearer {key}"})
        time.sleep(1.5)  # the usage's group commit, so the dashboard has something to show
        organization = httpx.get(atrium.url + "/api/auth/me", cookies={"atrium_session": cookie}).json()["organizations"][0]["id"]
        staff = atrium.create_staff(f"staff-shots-{uuid.uuid4().hex[:8]}@example.com")
        staff.post("/api/admin/credits", json={"organization_id": organization, "amount_micros": 2_500_000, "description": "screenshots"})
        staff_pages = ["/staff?q=shots", f"/staff/organizations/{organization}", "/staff/audit", "/staff/outbox", "/staff/posts", "/staff/providers"]
        staff.post("/staff/posts", data={"csrf": re.search(r'name="csrf" value="([^"]+)"', staff.get("/staff/posts").text).group(1),
                                         "kind": "announcement", "title": "Scheduled maintenance on Saturday",
                                         "body": "The API stays up; **the portal** may be slow for a few minutes.\n\n- 02:00 to 02:30 UTC\n- nothing to do on your side"})
        key_id = httpx.get(atrium.url + "/api/keys", cookies={"atrium_session": cookie}).json()["data"][0]["id"]
        account_pages = [f"/organizations/{organization}", f"/keys/{key_id}"]
        for path in PUBLIC_PAGES + ["/no-such-page"] + SIGNED_IN_PAGES + account_pages + staff_pages:
            if path == SIGNED_IN_PAGES[0]:
                page.add_cookie({"name": "atrium_session", "value": cookie, "path": "/"})
            if path == staff_pages[0]:
                page.add_cookie({"name": "atrium_session", "value": staff.cookies["atrium_session"], "path": "/"})
            name = path.strip("/").split("?")[0].replace("/", "-").split("-0")[0] or "home"
            name = "staff-organization" if path.startswith("/staff/organizations/") else name
            name = "organization" if path.startswith("/organizations/") else "key" if path.startswith("/keys/") else name
            for width_name, width in WIDTHS.items():
                set_width(page, width)
                for theme in ("light", "dark"):
                    set_theme(page, theme)
                    page.get(atrium.url + path)
                    assert page.find_element("tag name", "html").get_attribute("lang") == ("en" if tag == "en" else "zh-Hans")
                    assert page.current_url == atrium.url + path, f"{path} sent the reader to {page.current_url}"
                    if overflow := horizontal_overflow(page, width):
                        problems.append(f"{path} at {width}px is {overflow}px too wide")
                    if width_name == "desktop":
                        problems += [f"{path} ({theme}): {v}" for v in serious_accessibility_violations(page)]
                    screenshot(page, f"{name}-{tag}-{width_name}-{theme}", width)
        assert not problems, "\n".join(problems)
    finally:
        page.quit()
