"""The dashboard as a moderator uses it, over HTTP: queues, actions one by one and in bulk,
pin and feature, edits with their history, search, threads, readers, bans, the audit log,
invitations and the second factor; on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa

from kibitz.db.tables import comments
from kibitz.mail.worker import Worker
from tests.conftest import Inbox
from tests.factories import THREAD, flatten, post_comment, read_thread
from tests.moderators import PASSWORD, csrf, csrf_of, dashboard, log_in, submit

pytestmark = pytest.mark.usefixtures("cheap_hashing")
LIMITS = "comment.voter=1000/60,comment.ip=1000/60,edit.voter=1000/60"


async def site(make_client: Any, **settings: Any) -> tuple[Any, Any]:
    """A moderator's dashboard and a reader's browser on a site that holds new comments."""
    settings = {"moderation": "everyone", "rate_limits": LIMITS, **settings}
    admin = await dashboard(make_client, **settings)
    reader = await make_client(kb=admin.kb)
    return admin, reader


async def act(admin: Any, ids: list[int] | int, action: str, back: str = "/admin") -> str:
    if isinstance(ids, int):
        data: dict[str, Any] = {"one": f"{ids}:{action}", "back": back}
    else:
        data = {"action": action, "ids": [str(i) for i in ids], "back": back}
    r = await submit(admin, "/admin/comments/action", data)
    page = await admin.get(r.headers["location"])
    notice = re.search(r'class="notice" role="status">([^<]*)<', page.text)
    return notice.group(1) if notice else ""


async def status_of(kb: Any, comment_id: int) -> str:
    query = sa.select(comments.c.status).where(comments.c.id == comment_id)
    return str(await kb.db.read(lambda c: c.execute(query).scalar_one()))


async def test_approve_from_the_queue(make_client: Any) -> None:
    admin, reader = await site(make_client)
    held = await post_comment(reader, "Please let me in", expect=202)
    queue = await admin.get("/admin")
    assert queue.status_code == 200 and "Please let me in" in queue.text
    assert 'data-key="a"' in queue.text  # the keyboard's approve button
    assert "1 comment approved." in await act(admin, held["id"], "approve")
    page = await read_thread(reader)
    assert [c["id"] for c in page["comments"]] == [held["id"]]
    assert page["thread"]["comment_count"] == 1
    assert "Please let me in" not in (await admin.get("/admin")).text
    again = await act(admin, held["id"], "approve")
    assert "0 comments approved. Skipped: #" in again and "already approved" in again


async def test_bulk_actions(make_client: Any) -> None:
    admin, reader = await site(make_client)
    ids = [(await post_comment(reader, f"Comment {n}", expect=202))["id"] for n in range(4)]
    assert "2 comments approved." in await act(admin, ids[:2], "approve")
    assert "1 comment marked as spam." in await act(admin, ids[2:3], "spam")
    assert "1 comment rejected." in await act(admin, ids[3:], "reject")
    assert [await status_of(admin.kb, i) for i in ids] == [
        "approved",
        "approved",
        "spam",
        "rejected",
    ]
    spam = await admin.get("/admin/comments", params={"queue": "spam"})
    assert "Comment 2" in spam.text and "Comment 1" not in spam.text
    deleted = await admin.get("/admin/comments", params={"queue": "deleted"})
    assert "Comment 3" in deleted.text  # rejected ones are kept with the deleted
    assert (await read_thread(reader))["thread"]["comment_count"] == 2
    bad = await submit(
        admin, "/admin/comments/action", {"action": "approve", "ids": ["x"]}, expect=422
    )
    assert "numbers" in bad.text


async def test_pinned_comments_come_first_and_featured_ones_are_marked(make_client: Any) -> None:
    admin, reader = await site(make_client, moderation_trust_after=1)
    ids = []
    for n in range(3):
        posted = await post_comment(reader, f"Top {n}", expect=None)
        await act(admin, posted["id"], "approve")
        ids.append(posted["id"])
    reply = await post_comment(reader, "A reply", parent_id=ids[0], expect=None)
    await act(admin, reply["id"], "approve")
    await act(admin, ids[0], "pin")
    await act(admin, ids[1], "feature")
    for sort in ("newest", "oldest", "most_voted", "best"):
        page = await read_thread(reader, sort=sort)
        assert page["comments"][0]["id"] == ids[0] and page["comments"][0]["pinned"], sort
        assert sorted(c["id"] for c in page["comments"]) == sorted(ids), sort  # no repeats
    featured = [c for c in flatten(page["comments"]) if c["featured"]]
    assert [c["id"] for c in featured] == [ids[1]]
    assert "only published top-level" in await act(admin, reply["id"], "pin")
    html = (await reader.get("/discussion", params={"thread": THREAD})).text
    assert "Pinned" in html and "Featured" in html
    await act(admin, ids[0], "unpin")
    assert (await read_thread(reader, sort="oldest"))["comments"][0]["pinned"] is False


async def test_edits_keep_the_original_in_the_history(make_client: Any) -> None:
    admin, reader = await site(make_client, moderation="none")
    posted = await post_comment(reader, "I wrote something rude here")
    await submit(
        admin,
        f"/admin/comments/{posted['id']}/edit",
        {"body": "I wrote something [edited by a moderator]"},
    )
    [shown] = (await read_thread(reader))["comments"]
    assert "edited by a moderator" in shown["body_html"] and shown["edited_at"]
    detail = await admin.get(f"/admin/comments/{posted['id']}")
    assert "Edit history" in detail.text and "I wrote something rude here" in detail.text
    log = await admin.get("/admin/audit", params={"action": "edit"})
    assert "rude here" in log.text and "Admin" in log.text


async def test_a_deleted_comment_keeps_its_replies_and_can_be_restored(make_client: Any) -> None:
    admin, reader = await site(make_client, moderation="none")
    parent = await post_comment(reader, "Parent")
    reply = await post_comment(reader, "Reply", parent_id=parent["id"])
    await act(admin, parent["id"], "delete")
    page = await read_thread(reader)
    [placeholder] = page["comments"]
    assert placeholder["status"] == "deleted" and placeholder["body_html"] == ""
    assert [c["id"] for c in placeholder["replies"]] == [reply["id"]]
    assert page["thread"]["comment_count"] == 1
    detail = await admin.get(f"/admin/comments/{parent['id']}")
    assert "Parent" in detail.text  # moderators still see what it said
    await act(admin, parent["id"], "approve")
    page = await read_thread(reader)
    assert page["comments"][0]["body_html"] == "<p>Parent</p>"
    assert page["thread"]["comment_count"] == 2


async def test_hiding_a_reply_under_a_placeholder_takes_the_placeholder_away(
    make_client: Any,
) -> None:
    admin, reader = await site(make_client, moderation="none")
    parent = await post_comment(reader, "Parent")
    reply = await post_comment(reader, "Reply", parent_id=parent["id"])
    await act(admin, parent["id"], "spam")
    assert len((await read_thread(reader))["comments"]) == 1  # a placeholder for the reply
    await act(admin, reply["id"], "reject")
    page = await read_thread(reader)
    assert page["comments"] == [] and page["thread"]["comment_count"] == 0
    await act(admin, reply["id"], "approve")  # and back: the placeholder returns with it
    [placeholder] = (await read_thread(reader))["comments"]
    assert placeholder["status"] == "deleted" and placeholder["replies"][0]["id"] == reply["id"]


async def test_search_finds_words_names_and_addresses_on_either_engine(make_client: Any) -> None:
    admin, reader = await site(make_client, moderation="none")
    await post_comment(reader, "The harbour budget is a disgrace", author_name="Nadia Petrova")
    await post_comment(
        reader,
        "Ferry timetables changed",
        author_name="Bo",
        author_email="Bo@Example.org",
        thread="/elsewhere",
    )
    await post_comment(reader, "Nothing to see")

    async def found(**params: str) -> list[str]:
        page = await admin.get("/admin/comments", params={"queue": "all", **params})
        assert page.status_code == 200
        return re.findall(r'<div class="body"><p>([^<]*)</p>', page.text)

    assert await found(q="harbour") == ["The harbour budget is a disgrace"]
    assert await found(q="HARB") == ["The harbour budget is a disgrace"]  # prefixes, any case
    assert await found(q="petrova") == ["The harbour budget is a disgrace"]  # the author
    assert await found(q="budget disgrace") == ["The harbour budget is a disgrace"]
    assert await found(q="budget ferry") == []  # every word must match
    assert await found(q="bo@example.org") == ["Ferry timetables changed"]
    assert await found(q="timetables", thread=THREAD) == []
    assert await found(q='") OR 1=1 --*') == []  # operators are ignored, not run
    assert len(await found(q="   ")) == 3


async def test_search_sees_edits_and_forgets_deleted_text(make_client: Any) -> None:
    admin, reader = await site(make_client, moderation="none")
    posted = await post_comment(reader, "Original wording")
    await submit(admin, f"/admin/comments/{posted['id']}/edit", {"body": "Replacement text"})
    page = await admin.get("/admin/comments", params={"queue": "all", "q": "original"})
    assert "Replacement" not in page.text
    page = await admin.get("/admin/comments", params={"queue": "all", "q": "replacement"})
    assert "Replacement text" in page.text


async def test_threads_close_reopen_and_their_own_policy(make_client: Any) -> None:
    admin, reader = await site(make_client, moderation="none")
    await post_comment(reader, "Opening the thread")
    threads = await admin.get("/admin/threads")
    assert THREAD in threads.text and "site's (none)" in threads.text
    await submit(admin, "/admin/threads/settings", {"thread": THREAD, "state": "close"})
    refused = await post_comment(reader, "Too late", expect=403)
    assert refused["error"]["code"] == "thread_closed"
    assert (await read_thread(reader))["thread"]["closed"] is True
    await submit(admin, "/admin/threads/settings", {"thread": THREAD, "state": "reopen"})
    await submit(admin, "/admin/threads/settings", {"thread": THREAD, "moderation": "everyone"})
    assert (await post_comment(reader, "Held now", expect=202))["status"] == "pending"
    await submit(admin, "/admin/threads/settings", {"thread": THREAD, "moderation": ""})
    await post_comment(reader, "Back to the site's rule")
    bad = await submit(
        admin, "/admin/threads/settings", {"thread": THREAD, "moderation": "x"}, expect=422
    )
    assert "Pre-moderation is one of" in bad.text
    log = (await admin.get("/admin/audit")).text
    assert "close thread" in log and "reopen thread" in log and "thread policy" in log


async def test_a_threads_moderation_policy_page(make_client: Any) -> None:
    """The thread's page of its own policy: a bad value comes back with a clear error next to
    its field and changes nothing; a good one is saved and logged; an empty field is the
    site's setting again."""
    admin, reader = await site(make_client, moderation="none", moderation_max_links=2)
    await post_comment(reader, "Opening the thread")
    threads = await admin.get("/admin/threads")
    link = f"/admin/threads/policy?thread={THREAD}"
    assert link in threads.text and "(its own)" not in threads.text
    page = await admin.get(link)
    assert page.status_code == 200 and "the site's: 2" in html.unescape(page.text)
    fields = {"thread": THREAD, "max_links": "", "block_words": "", "block_domains": "",
              "offensive_threshold": "", "reports_to_hold": "", "min_fill_seconds": ""}  # fmt: skip
    for name, value, says in [
        ("max_links", "-3", "max_links is a whole number from 0 to 1000."),
        ("offensive_threshold", "150", "offensive_threshold is a whole number from 0 to 100."),
        ("reports_to_hold", "0", "reports_to_hold is a whole number from 1 to 1000."),
        ("min_fill_seconds", "soon", "min_fill_seconds is a whole number from 0 to 3600."),
        ("block_domains", "https://spam.example/x", "Blocked domains are names like"),
    ]:
        bad = await submit(admin, "/admin/threads/policy", {**fields, name: value},
                           page=link, expect=422)  # fmt: skip
        assert says in bad.text
        assert f'id="f-{name}" name="{name}"' in bad.text
        assert re.search(rf'name="{name}"[^>]*aria-invalid="true"', bad.text)
        assert value.replace("/", "") in bad.text.replace("/", "")  # what was typed stays
    assert "thread policy" not in (await admin.get("/admin/audit")).text
    saved = await submit(admin, "/admin/threads/policy",
                         {**fields, "max_links": "0", "block_words": "ferry\nharbour tax"},
                         page=link)  # fmt: skip
    page = await admin.get(saved.headers["location"])
    assert "Saved the policy of" in page.text and 'value="0"' in page.text
    assert "ferry\nharbour tax" in page.text
    assert "(its own)" in (await admin.get("/admin/threads")).text
    held = await post_comment(reader, "See [this](https://port.example/)", expect=202)
    assert held["status"] == "pending"
    log = await admin.get("/admin/audit", params={"action": "thread_policy"},
                          headers={"accept": "application/json"})  # fmt: skip
    assert "Admin" in log.text and "harbour tax" in log.text
    await submit(admin, "/admin/threads/policy", fields, page=link)
    assert (await post_comment(reader, "See [that](https://port.example/)"))["status"] == (
        "approved"
    )
    missing = await admin.post("/admin/threads/policy", data={
        **fields, "thread": "/no/such/thread", "_csrf_token": await csrf(admin, link)})  # fmt: skip
    assert missing.status_code == 404


async def test_a_readers_history_by_address_and_cookie(make_client: Any) -> None:
    admin, reader = await site(make_client, moderation="none")
    await post_comment(reader, "First, with my address", author_email="al@example.org")
    await post_comment(reader, "Second, anonymous", thread="/other")
    other = await make_client(kb=admin.kb)
    await post_comment(other, "Someone else entirely")
    page = await admin.get("/admin/readers", params={"email": "AL@example.org"})
    assert "First, with my address" in page.text and "Second, anonymous" in page.text
    assert "Someone else" not in page.text and "2 approved" in page.text


async def test_bans_from_a_comment_then_lifted(make_client: Any) -> None:
    admin, reader = await site(make_client, moderation="none")
    posted = await post_comment(reader, "Trolling", author_email="t@example.org")
    detail = await admin.get(f"/admin/comments/{posted['id']}")
    assert 'name="kinds" value="voter" checked' in detail.text
    await submit(
        admin,
        "/admin/bans",
        {
            "comment_id": str(posted["id"]),
            "kinds": ["voter", "email"],
            "reason": "trolling",
            "days": "3",
        },
    )
    refused = await post_comment(reader, "Again", expect=403)
    assert refused["error"]["code"] == "banned"
    bans = await admin.get("/admin/bans")
    assert "trolling" in bans.text and "t@example.org" not in bans.text
    ids = re.findall(r"/admin/bans/(\d+)/lift", bans.text)
    assert len(ids) == 2
    for ban_id in ids:
        await submit(admin, f"/admin/bans/{ban_id}/lift", {})
    await post_comment(reader, "Better now")
    bad = await submit(
        admin, "/admin/bans", {"kinds": "email", "email": "not an address"}, expect=422
    )
    assert "not an e-mail address" in bad.text


async def test_the_audit_log_records_who_did_what_and_exports(make_client: Any) -> None:
    admin, reader = await site(make_client)
    held = await post_comment(reader, "Audit me", expect=202)
    await act(admin, held["id"], "approve")
    await act(admin, held["id"], "feature")
    as_csv = await admin.get("/admin/audit/export", params={"format": "csv"})
    assert as_csv.headers["content-disposition"].endswith('kibitz-audit.csv"')
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    mine = [r for r in rows if r["target"] == f"comment:{held['id']}"]
    assert [(r["actor"], r["action"]) for r in mine] == [("Admin", "approve"), ("Admin", "feature")]
    assert json.loads(mine[0]["before"])["status"] == "pending"
    assert json.loads(mine[0]["after"])["status"] == "approved"
    lines = (await admin.get("/admin/audit/export", params={"format": "jsonl"})).text.splitlines()
    assert {json.loads(line)["action"] for line in lines} >= {
        "approve",
        "feature",
        "create_account",
    }
    assert (await admin.get("/admin/audit/export", params={"format": "xml"})).status_code == 422


async def test_an_invited_moderator_makes_an_account(make_client: Any, smtp: Any) -> None:
    inbox, port = smtp
    admin = await dashboard(
        make_client, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none"
    )
    await submit(admin, "/admin/accounts/invite", {"email": "mo@example.org", "role": "moderator"})
    await Worker(admin.kb).drain()
    [mail] = inbox.to("mo@example.org")
    link = re.search(r"http://127\.0\.0\.1:8000(/admin/invite\?token=\S+)", Inbox.text(mail))
    assert link
    newcomer = await make_client(kb=admin.kb)
    page = await newcomer.get(link.group(1))
    assert page.status_code == 200 and "mo@example.org" in page.text
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert token
    form = {"_csrf_token": csrf_of(page.text), "token": token.group(1), "name": "Mo"}
    short = await newcomer.post("/admin/invite", data={**form, "password": "short"})
    assert short.status_code == 422 and "at least 10" in short.text
    done = await newcomer.post("/admin/invite", data={**form, "password": PASSWORD})
    assert done.status_code == 303
    assert (await newcomer.get("/admin/comments")).status_code == 200
    assert (await newcomer.get("/admin/accounts")).status_code == 403  # a moderator
    again = await newcomer.post("/admin/invite", data={**form, "password": PASSWORD})
    assert again.status_code == 403  # an invitation works once


async def test_the_second_factor(make_client: Any) -> None:
    admin = await dashboard(make_client)
    setup = await submit(admin, "/admin/account/totp/setup", {}, expect=200)
    assert 'src="data:image/svg+xml;base64,' in setup.text
    secret = re.search(r"Key: <code>([A-Z2-7]+)</code>", setup.text)
    signed = re.search(r'name="signed" value="([^"]+)"', setup.text)
    assert secret and signed
    wrong = await admin.post(
        "/admin/account/totp/enable",
        data={"_csrf_token": csrf_of(setup.text), "signed": signed.group(1), "code": "000000"},
    )
    assert wrong.status_code == 422
    code = pyotp.TOTP(secret.group(1)).now()
    await admin.post(
        "/admin/account/totp/enable",
        data={"_csrf_token": csrf_of(setup.text), "signed": signed.group(1), "code": code},
    )
    other = await make_client(kb=admin.kb)
    await log_in(other, "admin@example.org", expect=401)  # the password alone is not enough
    await log_in(other, "admin@example.org", code=code, expect=401)  # a used code is spent
    later = pyotp.TOTP(secret.group(1)).at(int(__import__("time").time()) + 30)
    await log_in(other, "admin@example.org", code=later)


async def test_changing_the_password_ends_other_sessions(make_client: Any) -> None:
    admin = await dashboard(make_client)
    elsewhere = await make_client(kb=admin.kb)
    await log_in(elsewhere, "admin@example.org")
    await submit(
        admin,
        "/admin/account/password",
        {"password": PASSWORD, "new_password": "another long passphrase"},
    )
    assert (await admin.get("/admin/comments")).status_code == 200
    assert (await elsewhere.get("/admin/comments")).status_code == 401
    await log_in(elsewhere, "admin@example.org", password="another long passphrase")
    wrong = await submit(
        admin, "/admin/account/password", {"password": "nope", "new_password": "x" * 12}, expect=403
    )
    assert "current password is wrong" in wrong.text


async def test_approving_drops_the_cached_thread_page(make_client: Any) -> None:
    admin, reader = await site(make_client)
    first = await reader.get("/api/v1/comments", params={"thread": THREAD})
    held = await post_comment(reader, "Held", expect=202)
    cached = await reader.get(
        "/api/v1/comments",
        params={"thread": THREAD},
        headers={"if-none-match": first.headers["etag"]},
    )
    assert cached.status_code in (200, 304)
    await act(admin, held["id"], "approve")
    fresh = await reader.get(
        "/api/v1/comments",
        params={"thread": THREAD},
        headers={"if-none-match": first.headers["etag"]},
    )
    assert fresh.status_code == 200 and fresh.json()["comments"][0]["id"] == held["id"]
    counts = await reader.get("/api/v1/counts/", params={"thread": THREAD})
    assert counts.json()["counts"][THREAD] == 1


async def test_the_dashboard_page_passes_its_own_csp(make_client: Any) -> None:
    admin, reader = await site(make_client)
    await post_comment(reader, "<script>alert(1)</script> **bold**", expect=202)
    page = await admin.get("/admin")
    assert "content-security-policy" in page.headers
    assert "<script>alert" not in page.text and "<strong>bold</strong>" in page.text
    assert '<script src="/static/admin.js" defer></script>' in page.text
    token = await csrf(admin, "/admin")
    assert token


async def test_a_conversation_closed_to_replies(make_client: Any) -> None:
    admin, reader = await site(make_client, moderation="none")
    top = await post_comment(reader, "A heated first comment")
    reply = await post_comment(reader, "A heated reply", parent_id=top["id"])
    other = await post_comment(reader, "Another conversation")
    assert "1 comment closed to replies." in await act(admin, top["id"], "close_replies")
    page = await read_thread(reader)
    closed = next(c for c in page["comments"] if c["id"] == top["id"])
    assert closed["replies_closed"] is True and closed["replies"][0]["id"] == reply["id"]
    for parent in (top["id"], reply["id"]):  # nowhere in the conversation
        refused = await post_comment(reader, "Me too", parent_id=parent, expect=403)
        assert refused["error"]["code"] == "replies_closed"
    await post_comment(reader, "Elsewhere is fine", parent_id=other["id"])
    html = (await reader.get("/discussion", params={"thread": THREAD})).text
    assert f"reply={other['id']}" in html and f"reply={top['id']}" not in html
    assert f"reply={reply['id']}" not in html
    queue = (await admin.get("/admin/comments", params={"queue": "approved"})).text
    assert "replies closed" in queue and "Reopen replies" in queue
    assert "only a top-level" in await act(admin, reply["id"], "close_replies")
    assert "1 comment open to replies again." in await act(admin, top["id"], "open_replies")
    await post_comment(reader, "Calmer now", parent_id=reply["id"])
