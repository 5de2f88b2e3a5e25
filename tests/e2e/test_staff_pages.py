"""The staff console: find a developer, grant their organization credit and move it to another plan
(the developer sees both on their dashboard), every action in the audit log with who, what and from
where; forms refuse bad amounts and forged tokens; non-staff get 403."""
import re
import uuid

import httpx
import pytest
from selenium.webdriver.support.ui import WebDriverWait

from browser import click_to_load, heading_becomes
from test_portal_pages import chromium, sign_up  # noqa: F401  (the browser fixture)


def csrf(client, path):
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)


@pytest.fixture(scope="module")
def staff(atrium):
    email = f"staff-{uuid.uuid4().hex[:8]}@example.com"
    client = atrium.create_staff(email)  # logged in over /api: the same session cookie serves the pages
    client.email = email
    return client


def developer(atrium):
    client = httpx.Client(base_url=atrium.url)
    email = f"dev-{uuid.uuid4().hex[:8]}@example.com"
    token = csrf(client, "/signup")
    client.post("/signup", data={"csrf": token, "name": "Dev Eloper", "email": email, "password": "a good password"})
    organization = client.get("/api/auth/me").json()["organizations"][0]["id"]
    return client, email, organization


def test_staff_find_a_developer_and_their_organization(atrium, staff):
    _, email, organization = developer(atrium)
    found = staff.get("/staff", params={"q": email.upper()})
    assert found.status_code == 200 and email in found.text and f'href="/staff/organizations/{organization}"' in found.text
    assert "Nothing matches." in staff.get("/staff", params={"q": "no-such-person-" + uuid.uuid4().hex}).text
    page = staff.get(f"/staff/organizations/{organization}")
    assert page.status_code == 200 and email in page.text and "5.00 credits" in page.text


def test_a_grant_and_a_plan_change_reach_the_developer_and_the_audit_log(atrium, staff):
    dev, email, organization = developer(atrium)
    token = csrf(staff, f"/staff/organizations/{organization}")
    granted = staff.post(f"/staff/organizations/{organization}/credit", data={"csrf": token, "amount": "12.5", "note": "welcome aboard"})
    assert granted.status_code == 303
    page = staff.get(granted.headers["location"]).text
    assert "Credit granted." in page and "17.50 credits" in page
    moved = staff.post(f"/staff/organizations/{organization}/plan", data={"csrf": token, "plan": "pro"})
    assert moved.status_code == 303 and "Plan changed." in staff.get(moved.headers["location"]).text

    dashboard = dev.get("/dashboard").text
    assert '<p class="stat-value" id="balance">17.50 credits</p>' in dashboard and '<span id="plan">pro</span>' in dashboard

    audit = staff.get("/staff/audit", params={"actor": staff.email}).text
    assert "credit.grant" in audit and "+12.500000 (welcome aboard)" in audit and "plan.change" in audit and "default → pro" in audit
    assert f"organization:{organization}" in audit and "127.0.0.1" in audit
    only_plans = staff.get("/staff/audit", params={"action": "plan"}).text
    assert "plan.change" in only_plans and "credit.grant" not in only_plans
    # The API's staff actions are written to the same log.
    staff.post("/api/admin/credits", json={"organization_id": organization, "amount_micros": 1_000_000, "description": "via api"})
    assert "(via api)" in staff.get("/staff/audit").text


def test_bad_amounts_are_refused_beside_the_field_and_nothing_is_granted(atrium, staff):
    _, _, organization = developer(atrium)
    path = f"/staff/organizations/{organization}"
    token = csrf(staff, path)
    for amount in ["", "-5", "abc", "1.0000001", "1e9", "<script>"]:
        refused = staff.post(path + "/credit", data={"csrf": token, "amount": amount, "note": "x"})
        assert refused.status_code == 400 and 'id="amount-error"' in refused.text, amount
        assert "<script>" not in refused.text
    no_note = staff.post(path + "/credit", data={"csrf": token, "amount": "1", "note": ""})
    assert no_note.status_code == 400 and 'id="note-error"' in no_note.text
    assert staff.post(path + "/credit", data={"csrf": "A" * 43, "amount": "1", "note": "forged"}).status_code == 403
    assert staff.post(path + "/plan", data={"csrf": token, "plan": "platinum"}).status_code == 400
    assert "5.00 credits" in staff.get(path).text


def test_developers_cannot_open_the_console(atrium):
    dev, _, organization = developer(atrium)
    assert dev.get("/staff").status_code == 403
    assert dev.get("/staff/audit").status_code == 403
    token = csrf(dev, "/dashboard")
    assert dev.post(f"/staff/organizations/{organization}/credit", data={"csrf": token, "amount": "100", "note": "me"}).status_code == 403
    assert "5.00 credits" in dev.get("/dashboard").text


def test_a_staff_member_grants_credit_in_the_browser(atrium, staff, chromium):  # noqa: F811
    page = chromium
    _, email, organization = developer(atrium)
    page.get(atrium.url + "/")
    page.add_cookie({"name": "atrium_session", "value": staff.cookies["atrium_session"], "path": "/"})
    page.get(atrium.url + "/staff")
    heading_becomes(page, "Staff console")
    page.find_element("id", "q").send_keys(email)
    page.find_element("css selector", "form.search button").click()
    # The results are another page: wait for it rather than look at the one the click left.
    WebDriverWait(page, 10).until(lambda p: p.find_elements("xpath", f"//a[@href='/staff/organizations/{organization}']"))[0].click()
    heading_becomes(page, "Dev Eloper's organization")
    page.find_element("id", "amount").send_keys("3")
    page.find_element("id", "note").send_keys("browser grant")
    click_to_load(page, page.find_element("css selector", f'form[action="/staff/organizations/{organization}/credit"] button'))
    heading_becomes(page, "Dev Eloper's organization")
    assert page.find_element("id", "balance").text == "8.00 credits"
    page.delete_all_cookies()


def test_staff_disable_an_account_and_revoke_a_key_found_by_its_prefix(atrium, staff):
    dev, email, organization = developer(atrium)
    key = dev.post("/api/keys", json={"name": "leaked"}).json()
    token = csrf(staff, "/staff")
    found = staff.get("/staff", params={"q": key["prefix"]}).text
    assert f"<code>{key['prefix']}…</code>" in found and "leaked" in found
    assert f'<a href="/staff/organizations/{organization}">Dev Eloper&#39;s organization</a>' in found  # the key's owner
    assert staff.get("/staff", params={"q": "atr_"}).text.count("<code>atr_") == 0  # too short to list keys
    revoked = staff.post(f"/staff/keys/{key['id']}/revoke", data={"csrf": token, "organization": organization, "q": key["prefix"]})
    assert revoked.status_code == 303 and "The key is revoked." in staff.get(revoked.headers["location"]).text
    assert httpx.get(atrium.url + "/v1/models", headers={"authorization": f"Bearer {key['secret']}"}).status_code == 401

    user_id = dev.get("/api/auth/me").json()["user"]["id"]
    disabled = staff.post(f"/staff/users/{user_id}/disable", data={"csrf": token, "q": email})
    assert disabled.status_code == 303 and "The account is disabled" in staff.get(disabled.headers["location"]).text
    assert dev.get("/api/auth/me").status_code == 401  # the session ended
    refused = httpx.post(atrium.url + "/api/auth/login", json={"email": email, "password": "a good password"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "account_disabled"
    assert staff.post(f"/staff/users/{user_id}/enable", data={"csrf": token, "q": email}).status_code == 303
    assert httpx.post(atrium.url + "/api/auth/login", json={"email": email, "password": "a good password"}).status_code == 200
    log = staff.get("/staff/audit", params={"action": "user"}).text
    assert "user.disable" in log and "user.enable" in log and "key.revoke" in staff.get("/staff/audit", params={"action": "key"}).text

    # Developers cannot.
    dev2, _, _ = developer(atrium)
    assert dev2.post(f"/staff/users/{user_id}/disable", data={"csrf": csrf(dev2, "/dashboard")}).status_code == 403


def test_staff_see_providers_circuits_and_prices_with_their_history(atrium, staff):
    model = f"priced-{uuid.uuid4().hex[:6]}"
    for price in (150_000, 250_000):
        made = staff.put("/api/prices", json={"model": model, "input_micros_per_million": price, "output_micros_per_million": 2 * price})
        assert made.status_code == 201, made.text
    page = staff.get("/staff/providers")
    assert page.status_code == 200
    assert "<code>up-a</code>" in page.text and "closed (healthy;" in page.text and "echo" in page.text
    row = re.search(rf"<code>{model}</code>.*?</tr>", page.text, re.S).group(0)
    assert "0.25" in row and "Earlier prices" in row and "0.15" in row
    dev, _, _ = developer(atrium)
    assert dev.get("/staff/providers").status_code == 403
