"""Announcements and the changelog: staff publish Markdown, developers read it escaped on the pages
and in the Atom feeds; bad input is refused beside its field; only administrators publish."""
import re
import uuid
import xml.etree.ElementTree as ET

import httpx

ATOM = "{http://www.w3.org/2005/Atom}"


def csrf(client, path):
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)


def test_staff_publish_and_developers_read_pages_and_feeds(atrium):
    staff = atrium.create_staff(f"news-{uuid.uuid4().hex[:8]}@example.com")
    token = csrf(staff, "/staff/posts")
    title = f"Faster embeddings {uuid.uuid4().hex[:6]}"
    body = "We made **embeddings** faster.\n\n- batch of 64\n- <script>alert(1)</script>\n\nSee [the guide](/docs/embeddings)."
    made = staff.post("/staff/posts", data={"csrf": token, "kind": "changelog", "title": title, "body": body})
    assert made.status_code == 303 and "Published" in staff.get(made.headers["location"]).text

    page = httpx.get(atrium.url + "/changelog").text
    assert title in page and "<strong>embeddings</strong>" in page and '<a href="/docs/embeddings">the guide</a>' in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert title not in httpx.get(atrium.url + "/announcements").text
    assert "更新日志" in httpx.get(atrium.url + "/changelog", headers={"accept-language": "zh-CN"}).text

    feed = httpx.get(atrium.url + "/changelog.atom")
    assert feed.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(feed.content)
    entry = next(e for e in root.findall(f"{ATOM}entry") if e.findtext(f"{ATOM}title") == title)
    assert entry.findtext(f"{ATOM}id").startswith("urn:uuid:")
    link = entry.find(f"{ATOM}link").get("href")
    assert link.startswith(atrium.url + "/changelog#post-") and f'id="{link.split("#")[1]}"' in page
    assert "<strong>embeddings</strong>" in entry.findtext(f"{ATOM}content") and "<script>" not in entry.findtext(f"{ATOM}content")
    assert root.findtext(f"{ATOM}updated") == entry.findtext(f"{ATOM}updated")

    post_id = link.split("#post-")[1]  # this post's, not the newest: other tests publish on the same server
    assert f"/staff/posts/{post_id}/delete" in staff.get("/staff/posts").text
    assert staff.post(f"/staff/posts/{post_id}/delete", data={"csrf": token}).status_code == 303
    assert title not in httpx.get(atrium.url + "/changelog").text
    log = staff.get("/staff/audit", params={"action": "post"}).text
    assert "post.publish" in log and "post.delete" in log


def test_bad_posts_are_refused_beside_the_field_and_only_admins_publish(atrium):
    staff = atrium.create_staff(f"news-{uuid.uuid4().hex[:8]}@example.com")
    token = csrf(staff, "/staff/posts")
    empty = staff.post("/staff/posts", data={"csrf": token, "kind": "announcement", "title": " ", "body": "text"})
    assert empty.status_code == 400 and 'id="title-error"' in empty.text and 'value="' in empty.text
    long = staff.post("/staff/posts", data={"csrf": token, "kind": "announcement", "title": "Fine", "body": "x" * 20001})
    assert long.status_code == 400 and 'id="body-error"' in long.text
    assert staff.post("/staff/posts", data={"kind": "announcement", "title": "forged", "body": "x"}).status_code == 403
    developer = httpx.Client(base_url=atrium.url)
    dev_token = csrf(developer, "/signup")
    developer.post("/signup", data={"csrf": dev_token, "name": "D", "email": f"d-{uuid.uuid4().hex[:8]}@example.com", "password": "a good password"})
    assert developer.get("/staff/posts").status_code == 403
    assert developer.post("/staff/posts", data={"csrf": dev_token, "kind": "announcement", "title": "Mine", "body": "x"}).status_code == 403
    assert "Mine" not in httpx.get(atrium.url + "/announcements").text


def test_the_newest_announcement_is_news_on_the_dashboard(atrium):
    staff = atrium.create_staff(f"news-{uuid.uuid4().hex[:8]}@example.com")
    token = csrf(staff, "/staff/posts")
    title = f"Maintenance <b>window</b> {uuid.uuid4().hex[:6]}"
    made = staff.post("/staff/posts", data={"csrf": token, "kind": "announcement", "title": title, "body": "Saturday, 02:00 UTC."})
    assert made.status_code == 303

    with httpx.Client(base_url=atrium.url) as developer:
        signup = csrf(developer, "/signup")
        developer.post("/signup", data={"csrf": signup, "name": "Reader", "email": f"r-{uuid.uuid4().hex[:8]}@example.com", "password": "a good password"})
        news = re.search(r'<p class="alert-info" id="whats-new">(.*?)</p>', developer.get("/dashboard").text).group(1)
        escaped = title.replace("<", "&lt;").replace(">", "&gt;")
        assert "What’s new:" in news and escaped in news and "<b>" not in news
        anchor = re.search(r'href="/announcements#(post-[0-9a-f-]+)"', news).group(1)
        assert f'id="{anchor}"' in developer.get("/announcements").text
        assert "最新动态：" in developer.get("/dashboard", headers={"accept-language": "zh-CN"}).text

        post_id = anchor.removeprefix("post-")
        assert staff.post(f"/staff/posts/{post_id}/delete", data={"csrf": token}).status_code == 303
        assert escaped not in developer.get("/dashboard").text  # deleted here: read again at once
