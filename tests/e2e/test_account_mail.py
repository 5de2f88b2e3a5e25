"""Account mail end to end: a server that sends through a real SMTP conversation (STARTTLS, AUTH
PLAIN) to a fake mail server, with API keys waiting for a verified email. Verify the email, forget
and reset the password, change the password and the email, delete the account; a mail server that
refuses is retried, and staff read and retry the outbox. Every form's mistakes are shown beside the
field in the reader's language, and a forged CSRF token is refused."""
import re
import time
import uuid

import httpx
import pytest

from conftest import Atrium
from fake_smtp import FakeSMTP, self_signed_authority

PASSWORD = "a good password"


@pytest.fixture(scope="module")
def mailbox(tmp_path_factory):
    ca_file, context = self_signed_authority(tmp_path_factory.mktemp("mail"))
    server = FakeSMTP(tls_context=context, username="atrium-mailer", password="s3cret mail password")
    server.ca_file = ca_file
    yield server
    server.stop()


@pytest.fixture(scope="module")
def site(upstreams, mailbox):
    server = Atrium(
        upstreams,
        extra={"smtp_host": "127.0.0.1", "smtp_port": mailbox.port, "smtp_security": "starttls", "smtp_ca_file": str(mailbox.ca_file),
               "mail_from": "Atrium Developers <developers@atrium.example>", "require_verified_email": True},
        extra_env={"ATRIUM_SMTP_USERNAME": "atrium-mailer", "ATRIUM_SMTP_PASSWORD": "s3cret mail password"})
    yield server
    assert server.stop() == 0, (server.dir / "server.log").read_text()[-4000:]


def csrf_of(client, path):
    page = client.get(path)
    assert page.status_code == 200, page.text[:300]
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def sign_up(site, name="Mae Jemison", language="en"):
    email = f"{name.split()[0].lower()}-{uuid.uuid4().hex[:8]}@example.com"
    client = httpx.Client(base_url=site.url, headers={"accept-language": language})
    token = csrf_of(client, "/signup")
    made = client.post("/signup", data={"csrf": token, "name": name, "email": email, "password": PASSWORD})
    assert made.status_code == 303, made.text[:500]
    return client, email, token


def link_in(mail, path):
    found = re.search(re.escape(path) + r"\?token=([A-Za-z0-9]+)", mail["body"])
    assert found, mail["body"]
    return f"{path}?token={found.group(1)}"


def test_a_new_account_verifies_its_email_by_a_link_sent_over_starttls(site, mailbox):
    client, email, token = sign_up(site)
    mail = mailbox.wait_for(lambda m: m["to"] == email)
    assert mail["tls"] and mail["user"] == "atrium-mailer" and mail["from"] == "developers@atrium.example"
    assert mail["subject"] == "Verify your email for Atrium" and "Hello Mae Jemison" in mail["body"]
    assert mail["headers"]["From"] == "Atrium Developers <developers@atrium.example>"

    # Until then the account looks around, but keys wait.
    dashboard = client.get("/dashboard").text
    assert f"we sent a link to {email}" in dashboard
    refused = client.post("/api/keys", json={"name": "too early"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "email_not_verified"
    page = client.post("/keys", data={"csrf": token, "name": "too early"})
    assert page.status_code == 400 and "Verify your email first" in page.text and "too early</th>" not in page.text
    playground = client.get("/playground")
    assert playground.status_code == 403 and "Verify your email first" in playground.text
    assert client.get("/api/keys").json()["data"] == []

    verify = link_in(mail, site.url + "/verify-email")
    done = httpx.get(verify)  # another browser, not signed in: the link alone is enough
    assert done.status_code == 200 and "Your email is verified" in done.text and email in done.text
    again = httpx.get(verify)
    assert again.status_code == 400 and "This link does not work" in again.text
    assert "we sent a link" not in client.get("/dashboard").text
    assert client.post("/api/keys", json={"name": "now"}).status_code == 201


def test_a_reader_of_chinese_gets_chinese_mail_and_can_ask_again(site, mailbox):
    client, email, token = sign_up(site, "Zhang Wei", language="zh-CN")
    first = mailbox.wait_for(lambda m: m["to"] == email)
    assert first["subject"] == "验证你在 Atrium 的邮箱" and "请打开下面的链接" in first["body"]
    resent = client.post("/verify-email/resend", data={"csrf": token})
    assert resent.status_code == 303 and resent.headers["location"] == "/account?done=verification_sent"
    assert f"我们已向 {email} 发送新的验证链接" in client.get(resent.headers["location"]).text
    second = mailbox.wait_for(lambda m: m["to"] == email and m["body"] != first["body"])
    # Only the newest link works.
    assert httpx.get(link_in(first, site.url + "/verify-email")).status_code == 400
    assert httpx.get(link_in(second, site.url + "/verify-email")).status_code == 200


def test_a_forgotten_password_is_reset_by_a_link_and_every_session_ends(site, mailbox):
    client, email, token = sign_up(site, "Rosalind Franklin")
    other = httpx.Client(base_url=site.url)
    forgot_token = csrf_of(other, "/password/forgot")

    unknown = other.post("/password/forgot", data={"csrf": forgot_token, "email": f"nobody-{uuid.uuid4().hex[:6]}@example.com"})
    known = other.post("/password/forgot", data={"csrf": forgot_token, "email": email.upper()})
    assert unknown.status_code == known.status_code == 200
    assert "a link is on its way" in unknown.text and "a link is on its way" in known.text  # the same answer either way
    empty = other.post("/password/forgot", data={"csrf": forgot_token, "email": ""})
    assert empty.status_code == 400 and "This field is required." in empty.text
    assert other.post("/password/forgot", data={"csrf": "forged" * 7, "email": email}).status_code == 403

    mail = mailbox.wait_for(lambda m: m["to"] == email and "reset" in m["subject"].lower())
    reset = link_in(mail, site.url + "/password/reset")
    form = other.get(reset)
    reset_token = re.search(r'name="token" value="([^"]+)"', form.text).group(1)
    weak = other.post("/password/reset", data={"csrf": forgot_token, "token": reset_token, "password": "short"})
    assert weak.status_code == 400 and "at least 8 characters" in weak.text
    done = other.post("/password/reset", data={"csrf": forgot_token, "token": reset_token, "password": "a brand new password"})
    assert done.status_code == 200 and "Your password is changed" in done.text
    reused = other.post("/password/reset", data={"csrf": forgot_token, "token": reset_token, "password": "yet another password"})
    assert reused.status_code == 400 and "This link does not work" in reused.text

    away = client.get("/dashboard")
    assert away.status_code == 303 and away.headers["location"].startswith("/login")
    assert httpx.post(site.url + "/api/auth/login", json={"email": email, "password": PASSWORD}).status_code == 401
    assert httpx.post(site.url + "/api/auth/login", json={"email": email, "password": "a brand new password"}).status_code == 200
    assert mailbox.wait_for(lambda m: m["to"] == email and "password changed" in m["subject"].lower())


def test_settings_change_the_password_and_the_email_with_the_current_password(site, mailbox):
    client, email, token = sign_up(site, "Katherine Johnson")
    settings = client.get("/account")
    assert settings.status_code == 200 and email in settings.text and "not verified" in settings.text

    wrong = client.post("/account/password", data={"csrf": token, "current_password": "not it", "new_password": "a brand new password"})
    assert wrong.status_code == 400 and 'id="current_password-error">The password is not right.' in wrong.text
    empty = client.post("/account/password", data={"csrf": token, "current_password": "", "new_password": ""})
    assert empty.status_code == 400 and empty.text.count("This field is required.") == 2
    chinese = client.post("/account/password", data={"csrf": token, "current_password": PASSWORD, "new_password": "short"},
                          headers={"accept-language": "zh-CN"})
    assert chinese.status_code == 400 and "密码至少需要 8 个字符。" in chinese.text
    assert client.post("/account/password", data={"current_password": PASSWORD, "new_password": "x" * 20}).status_code == 403
    changed = client.post("/account/password", data={"csrf": token, "current_password": PASSWORD, "new_password": "a brand new password"})
    assert changed.status_code == 303 and "Your password is changed" in client.get(changed.headers["location"]).text

    new_email = f"kj-{uuid.uuid4().hex[:8]}@example.com"
    script = "<script>alert(1)</script>@x.example"
    bad = client.post("/account/email", data={"csrf": token, "email": script, "password": "a brand new password"})
    assert bad.status_code == 400 and "Enter a valid email address." in bad.text and "<script>alert(1)" not in bad.text
    asked = client.post("/account/email", data={"csrf": token, "email": new_email, "password": "a brand new password"})
    assert asked.status_code == 303
    mail = mailbox.wait_for(lambda m: m["to"] == new_email)
    assert "Confirm your new email" in mail["subject"]
    assert email in client.get("/account").text  # nothing changes before the link is followed
    confirmed = client.get(link_in(mail, site.url + "/account/email/confirm").removeprefix(site.url))
    assert confirmed.status_code == 200 and new_email in confirmed.text
    assert mailbox.wait_for(lambda m: m["to"] == email and "changed" in m["subject"])
    page = client.get("/account").text
    assert new_email in page and "not verified" not in page  # the link reached the new address


def test_deleting_the_account_revokes_its_keys_and_signs_it_out(site, mailbox):
    client, email, token = sign_up(site, "Hedy Lamarr")
    verify = mailbox.wait_for(lambda m: m["to"] == email)
    httpx.get(link_in(verify, site.url + "/verify-email"))
    key = client.post("/api/keys", json={"name": "doomed"}).json()["secret"]
    assert httpx.get(site.url + "/v1/models", headers={"authorization": f"Bearer {key}"}).status_code == 200

    unconfirmed = client.post("/account/delete", data={"csrf": token, "password": PASSWORD})
    assert unconfirmed.status_code == 400 and "Tick the box to confirm." in unconfirmed.text
    wrong = client.post("/account/delete", data={"csrf": token, "password": "not it", "confirm": "yes"})
    assert wrong.status_code == 400 and "The password is not right." in wrong.text
    assert httpx.get(site.url + "/v1/models", headers={"authorization": f"Bearer {key}"}).status_code == 200

    gone = client.post("/account/delete", data={"csrf": token, "password": PASSWORD, "confirm": "yes"})
    assert gone.status_code == 303 and gone.headers["location"] == "/goodbye"
    assert "Your account is deleted" in client.get("/goodbye").text
    assert httpx.get(site.url + "/v1/models", headers={"authorization": f"Bearer {key}"}).status_code == 401
    assert client.get("/dashboard").status_code == 303
    assert httpx.post(site.url + "/api/auth/login", json={"email": email, "password": PASSWORD}).status_code == 401


def test_a_refusing_mail_server_is_retried_and_staff_read_and_retry_the_outbox(site, mailbox):
    staff = site.create_staff(f"mail-staff-{uuid.uuid4().hex[:8]}@example.com")
    email = f"patient-{uuid.uuid4().hex[:8]}@example.com"
    made = site.cli("admin", "create-user", "--email", email, "--name", "Pat", stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    mailbox.refuse(1)
    other = httpx.Client(base_url=site.url)
    other.post("/password/forgot", data={"csrf": csrf_of(other, "/password/forgot"), "email": email})

    staff_token = csrf_of(staff, "/staff/outbox")
    deadline = time.time() + 15
    # The address itself may hold "451" (it is random hex), so wait for the server's whole reply.
    while "451 4.3.0 try again later" not in (listing := staff.get("/staff/outbox", params={"to": email}).text) and time.time() < deadline:
        time.sleep(0.2)
    assert "451 4.3.0 try again later" in listing and "waiting" in listing
    assert "Mail goes to 127.0.0.1:" in listing
    mail_id = re.search(r'href="/staff/outbox/([0-9a-f-]+)"', listing).group(1)
    message = staff.get(f"/staff/outbox/{mail_id}").text
    assert 'id="mail-attempts">1<' in message and "/password/reset?token=" in message

    developer = site.session(email, PASSWORD)
    assert developer.get("/staff/outbox").status_code == 403
    assert developer.post(f"/staff/outbox/{mail_id}/retry", data={"csrf": csrf_of(developer, "/dashboard")}).status_code == 403

    retried = staff.post(f"/staff/outbox/{mail_id}/retry", data={"csrf": staff_token})
    assert retried.status_code == 303
    arrived = mailbox.wait_for(lambda m: m["to"] == email and "reset" in m["subject"].lower())
    assert "/password/reset?token=" in arrived["body"]
    deadline = time.time() + 10
    while 'id="mail-status">sent<' not in staff.get(f"/staff/outbox/{mail_id}").text and time.time() < deadline:
        time.sleep(0.2)
    assert 'id="mail-attempts">2<' in staff.get(f"/staff/outbox/{mail_id}").text
    assert "mail.retry" in staff.get("/staff/audit", params={"action": "mail"}).text


def test_without_a_mail_server_mail_goes_to_the_log_and_the_outbox(atrium):
    email = f"logged-{uuid.uuid4().hex[:8]}@example.com"
    client = httpx.Client(base_url=atrium.url)
    token = csrf_of(client, "/signup")
    client.post("/signup", data={"csrf": token, "name": "Log Reader", "email": email, "password": PASSWORD})
    deadline = time.time() + 10
    while f"to {email}: Verify" not in (log := (atrium.dir / "server.log").read_text()) and time.time() < deadline:
        time.sleep(0.2)
    assert f"to {email}: Verify your email for Atrium" in log and "/verify-email?token=" in log
    staff = atrium.create_staff(f"log-staff-{uuid.uuid4().hex[:8]}@example.com")
    listing = staff.get("/staff/outbox", params={"to": email}).text
    assert "No SMTP server is configured" in listing and "Verify your email for Atrium" in listing


@pytest.fixture(scope="module")
def chromium():
    from browser import open_browser
    page = open_browser()
    yield page
    page.quit()


def test_the_whole_journey_in_the_browser(site, mailbox, chromium):
    """Sign up → verify the email from the mail → create a key → run the getting-started sample with it
    → find the call on the dashboard by its request id → chat in the playground and watch the tokens
    arrive → revoke the key → the sample fails with 401. Then staff grant credit and change the plan,
    and the developer sees both."""
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from browser import click_to_load, heading_becomes
    from test_docs_samples import run

    page = chromium
    email = f"journey-{uuid.uuid4().hex[:8]}@example.com"
    page.get(site.url + "/")
    page.find_element("link text", "Get started").click()
    heading_becomes(page, "Create an account")
    page.find_element("id", "name").send_keys("Journey Person")
    page.find_element("id", "email").send_keys(email)
    page.find_element("id", "password").send_keys(PASSWORD)
    page.find_element("css selector", "form button[type=submit]").click()
    heading_becomes(page, "Welcome, Journey Person")
    assert email in page.find_element("css selector", ".verify-banner").text

    # The keys page says what is missing until the link is followed.
    page.find_element("link text", "Keys").click()
    heading_becomes(page, "API keys")
    page.find_element("id", "name").send_keys("early")
    page.find_element("css selector", 'form[action="/keys"] button[type=submit]').click()
    WebDriverWait(page, 10).until(lambda _: page.find_elements("id", "name-error"))
    assert "Verify your email first" in page.find_element("id", "name-error").text

    mail = mailbox.wait_for(lambda m: m["to"] == email)
    page.get(link_in(mail, site.url + "/verify-email"))
    heading_becomes(page, "Your email is verified")
    assert not page.find_elements("css selector", ".verify-banner")

    page.find_element("link text", "Create a key").click()
    heading_becomes(page, "API keys")
    page.find_element("id", "name").send_keys("journey")
    page.find_element("css selector", 'form[action="/keys"] button[type=submit]').click()
    heading_becomes(page, "Your new key")
    secret = page.find_element("id", "secret").get_attribute("value")

    page.get(site.url + "/docs/getting-started")
    heading_becomes(page, "Getting started")
    sample = page.find_element("css selector", '.samples[data-samples="chat"] .sample[data-language="python"] code').get_attribute("textContent")
    ran = run("python", sample, secret)
    assert ran.returncode == 0 and ran.stdout.strip(), ran.stderr

    # The call is on the dashboard; its request id, pasted into the search, finds it alone.
    page.find_element("link text", "Dashboard").click()
    heading_becomes(page, "Welcome, Journey Person")
    deadline = time.time() + 15
    while not page.find_elements("css selector", "section[aria-labelledby=requests-heading] tbody th code") and time.time() < deadline:
        time.sleep(0.5)
        page.refresh()
    request_id = page.find_element("css selector", "section[aria-labelledby=requests-heading] tbody th code").text
    page.find_element("id", "request_id").send_keys(request_id)
    page.find_element("css selector", "form.search button[type=submit]").click()
    WebDriverWait(page, 10).until(lambda _: "request_id=" in page.current_url)
    rows = page.find_elements("css selector", "section[aria-labelledby=requests-heading] tbody tr")
    assert len(rows) == 1 and request_id in rows[0].text and "200" in rows[0].text, [r.text for r in rows]

    page.find_element("link text", "Playground").click()
    heading_becomes(page, "Playground")
    Select(page.find_element("id", "chat-model")).select_by_value("slow-short")  # 20 chunks, 50 ms apart
    page.find_element("id", "message").clear()
    page.find_element("id", "message").send_keys("tell me a story")
    page.find_element("id", "send").click()
    seen = set()
    WebDriverWait(page, 20).until(lambda _: seen.add(page.find_element("id", "answer").text) or "completion tokens" in page.find_element("id", "chat-stats").text)
    assert len(seen) > 2, f"the answer did not arrive piece by piece: {seen}"

    page.find_element("link text", "Keys").click()
    heading_becomes(page, "API keys")
    click_to_load(page, page.find_element("xpath", "//tr[th[normalize-space()='journey']]").find_element("css selector", "button"))
    heading_becomes(page, "API keys")
    refused = run("python", sample, secret)
    assert refused.returncode != 0 and "401" in refused.stderr + refused.stdout

    # Staff grant credit and move the organization to another plan; the developer sees both.
    developer_cookie = page.get_cookie("atrium_session")["value"]
    organization = httpx.get(site.url + "/api/auth/me", cookies={"atrium_session": developer_cookie}).json()["organizations"][0]["id"]
    staff = site.create_staff(f"journey-staff-{uuid.uuid4().hex[:8]}@example.com")
    page.delete_all_cookies()
    page.add_cookie({"name": "atrium_session", "value": staff.cookies["atrium_session"], "path": "/"})
    page.get(f"{site.url}/staff/organizations/{organization}")
    heading_becomes(page, "Journey Person's organization")
    page.find_element("id", "amount").send_keys("7.5")
    page.find_element("id", "note").send_keys("journey grant")
    click_to_load(page, page.find_element("css selector", f'form[action="/staff/organizations/{organization}/credit"] button'))
    heading_becomes(page, "Journey Person's organization")
    Select(page.find_element("id", "plan-select")).select_by_value("pro")
    click_to_load(page, page.find_element("css selector", f'form[action="/staff/organizations/{organization}/plan"] button'))
    heading_becomes(page, "Journey Person's organization")
    assert page.find_element("id", "plan").text == "pro"

    page.delete_all_cookies()
    page.add_cookie({"name": "atrium_session", "value": developer_cookie, "path": "/"})
    page.get(site.url + "/dashboard")
    heading_becomes(page, "Welcome, Journey Person")
    assert page.find_element("id", "plan").text == "pro"
    balance = float(page.find_element("id", "balance").text.split()[0])
    assert 12.0 < balance <= 12.5, balance  # 5.00 to start, 7.50 granted, a few calls spent


def test_sign_ups_from_one_address_are_throttled(upstreams):
    server = Atrium(upstreams, extra={"signups_per_hour": 2})
    try:
        client = httpx.Client(base_url=server.url)
        token = csrf_of(client, "/signup")
        for index in range(2):
            made = client.post("/signup", data={"csrf": token, "name": "N", "email": f"n{index}-{uuid.uuid4().hex[:6]}@example.com", "password": PASSWORD})
            assert made.status_code == 303
            client.cookies.delete("atrium_session")
        third = client.post("/signup", data={"csrf": token, "name": "N", "email": f"n3-{uuid.uuid4().hex[:6]}@example.com", "password": PASSWORD})
        assert third.status_code == 400 and "Too many attempts" in third.text
        api = httpx.post(server.url + "/api/auth/signup", json={"email": f"n4-{uuid.uuid4().hex[:6]}@example.com", "password": PASSWORD, "name": "N"})
        assert api.status_code == 429 and api.json()["error"]["code"] == "rate_limit_exceeded" and int(api.headers["retry-after"]) > 0
    finally:
        assert server.stop() == 0
