"""Organizations on pages: create one, switch to it (the dashboard, keys and playground then act in
it), invite by link and by email, accept, change roles, remove, leave; mistakes beside their fields,
a forged CSRF token refused, and nobody sees an organization they are not in."""
import re
import time
import uuid

import httpx


def csrf(client, path="/dashboard"):
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)


def person(atrium, name):
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    client = httpx.Client(base_url=atrium.url)
    token = csrf(client, "/signup")
    assert client.post("/signup", data={"csrf": token, "name": name, "email": email, "password": "a good password"}).status_code == 303
    return client, email, token


def organization_id(response):
    return re.search(r"/organizations/([0-9a-f-]{32,36})", response.headers["location"]).group(1)


def test_a_team_is_created_switched_to_and_used_by_the_other_pages(atrium):
    owner, _, token = person(atrium, "Olga")
    assert "personal" in owner.get("/organizations").text
    empty = owner.post("/organizations", data={"csrf": token, "name": "  "})
    assert empty.status_code == 400 and "This field is required." in empty.text
    made = owner.post("/organizations", data={"csrf": token, "name": "Rocket <Team>"})
    assert made.status_code == 303
    team = organization_id(made)
    page = owner.get(f"/organizations/{team}").text
    assert "Rocket &lt;Team&gt;" in page and "<Team>" not in page and ">current<" in page

    # The pages now act in the team: a key made on /keys belongs to it.
    owner.post("/keys", data={"csrf": token, "name": "team key"})
    in_team = owner.get("/api/keys", params={"organization_id": team}).json()["data"]
    assert [k["name"] for k in in_team] == ["team key"]
    assert owner.get("/api/keys").json()["data"] == []  # the personal organization has none
    personal = re.search(r'name="organization" value="([0-9a-f-]+)"', owner.get("/organizations").text).group(1)
    back = owner.post("/organizations/switch", data={"csrf": token, "organization": personal})
    assert back.status_code == 303 and back.headers["location"] == "/dashboard"
    assert "team key" not in owner.get("/keys").text

    stranger, _, stranger_token = person(atrium, "Sven")
    assert stranger.get(f"/organizations/{team}").status_code == 404
    assert stranger.post("/organizations/switch", data={"csrf": stranger_token, "organization": team}).status_code == 404
    assert owner.post("/organizations", data={"name": "forged"}).status_code == 403


def test_invitations_by_link_and_email_roles_removal_and_leaving(atrium):
    owner, owner_email, token = person(atrium, "Ada")
    team = organization_id(owner.post("/organizations", data={"csrf": token, "name": "Analytical Engines"}))

    bad = owner.post(f"/organizations/{team}/invitations", data={"csrf": token, "email": "not-an-email", "role": "member"})
    assert bad.status_code == 400 and "Enter a valid email address." in bad.text
    linked = owner.post(f"/organizations/{team}/invitations", data={"csrf": token, "email": "", "role": "admin"})
    assert linked.status_code == 201 and linked.headers["cache-control"] == "no-store"
    link = re.search(r'id="invitation-link" type="text" readonly value="([^"]+)"', linked.text).group(1)
    assert link.startswith(atrium.url + "/invitations/")

    charles, charles_email, charles_token = person(atrium, "Charles")
    offer = charles.get(link.removeprefix(atrium.url))
    assert offer.status_code == 200 and "Analytical Engines" in offer.text and "Admin" in offer.text
    joined = charles.post(link.removeprefix(atrium.url) + "/accept", data={"csrf": charles_token})
    assert joined.status_code == 303 and joined.headers["location"] == f"/organizations/{team}?done=joined"
    assert "Welcome: you are a member now." in charles.get(joined.headers["location"]).text
    again = charles.post(link.removeprefix(atrium.url) + "/accept", data={"csrf": charles_token})
    assert again.status_code == 404 and "This invitation does not work" in again.text

    # By email: mailed (here, to the log), and only that address may accept.
    mary, mary_email, mary_token = person(atrium, "Mary")
    sent = owner.post(f"/organizations/{team}/invitations", data={"csrf": token, "email": mary_email, "role": "member"})
    assert sent.status_code == 303 and "The invitation is on its way." in owner.get(sent.headers["location"]).text
    deadline = time.time() + 10
    while f"to {mary_email}" not in (log := (atrium.dir / "server.log").read_text()) and time.time() < deadline:
        time.sleep(0.2)
    mailed = re.search(rf"to {re.escape(mary_email)}: .*?(/invitations/[A-Za-z0-9]+)", log, re.S).group(1)
    wrong = charles.post(mailed + "/accept", data={"csrf": charles_token})
    assert wrong.status_code == 403 and f"This invitation is for {mary_email}" in wrong.text
    unverified = mary.post(mailed + "/accept", data={"csrf": mary_token})
    assert unverified.status_code == 403 and "Verify your email first" in unverified.text
    mary_link = re.search(rf"to {re.escape(mary_email)}: Verify.*?(/verify-email\?token=[A-Za-z0-9]+)", log, re.S).group(1)
    assert mary.get(mary_link).status_code == 200
    assert mary.post(mailed + "/accept", data={"csrf": mary_token}).status_code == 303

    members = owner.get(f"/organizations/{team}").text
    for email in (owner_email, charles_email, mary_email):
        assert email in members
    mary_id = re.search(rf"{re.escape(mary_email)}.*?/members/([0-9a-f-]+)/role", members, re.S).group(1)

    # An admin cannot make an owner; the owner can; a member cannot manage at all.
    charles_csrf = csrf(charles)
    refused = charles.post(f"/organizations/{team}/members/{mary_id}/role", data={"csrf": charles_csrf, "role": "owner"})
    assert refused.status_code == 400 and "You are not allowed to do that." in refused.text
    assert owner.post(f"/organizations/{team}/members/{mary_id}/role", data={"csrf": token, "role": "admin"}).status_code == 303
    mary_csrf = csrf(mary)
    charles_id = re.search(rf"{re.escape(charles_email)}.*?/members/([0-9a-f-]+)/role", owner.get(f"/organizations/{team}").text, re.S).group(1)
    assert owner.post(f"/organizations/{team}/members/{charles_id}/remove", data={"csrf": token}).status_code == 303
    assert charles.get(f"/organizations/{team}").status_code == 404

    # The last owner cannot leave while others remain; a member can.
    stuck = owner.post(f"/organizations/{team}/leave", data={"csrf": token})
    assert stuck.status_code == 400 and "keeps at least one owner" in stuck.text
    assert mary.post(f"/organizations/{team}/leave", data={"csrf": mary_csrf}).status_code == 303
    assert mary.get(f"/organizations/{team}").status_code == 404
