"""Each moderation policy with a comment that trips it and one that does not, through the API
a reader's browser uses; on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from kibitz import plugins
from kibitz.app import create_app
from kibitz.services import audit, policies, thread_policy
from tests.conftest import ORIGIN
from tests.factories import THREAD, flatten, post_comment, read_thread

LIMITS = "comment.voter=1000/60,comment.ip=1000/60,report.voter=1000/60,report.ip=1000/60"


async def moderated(make_client: Any, **settings: Any) -> Any:
    return await make_client(rate_limits=LIMITS, **settings)


def reader_at(kb: Any, ip: str) -> httpx.AsyncClient:
    """Another reader's browser, from another address."""
    transport = httpx.ASGITransport(app=create_app(kb=kb), client=(ip, 5555))
    return httpx.AsyncClient(transport=transport, base_url=ORIGIN)


async def shown(client: Any, thread: str = THREAD) -> list[str]:
    page = await read_thread(client, thread)
    return [c["body_html"] for c in flatten(page["comments"])]


async def me(client: Any, thread: str = THREAD) -> dict[str, Any]:
    r = await client.get("/api/v1/me", params={"thread": thread})
    assert r.status_code == 200 and r.headers["cache-control"] == "private, no-store"
    data: dict[str, Any] = r.json()
    return data


# -- pre-moderation


async def test_premoderation_none_publishes_at_once(make_client: Any) -> None:
    client = await moderated(make_client, moderation="none")
    posted = await post_comment(client, "Straight onto the page")
    assert posted["status"] == "approved"
    assert await shown(client) == ["<p>Straight onto the page</p>"]


async def test_premoderation_everyone_holds_even_trusted_commenters(make_client: Any) -> None:
    client = await moderated(make_client, moderation="everyone", moderation_trust_after=1)
    first = await post_comment(client, "One", expect=202)
    await client.kb.db.write(
        lambda c: c.exec_driver_sql(
            f"UPDATE comments SET status = 'approved' WHERE id = {first['id']}"
        )
    )
    held = await post_comment(client, "Two", expect=202)
    assert held["status"] == "pending"


async def test_first_time_commenters_wait_until_trusted(make_client: Any) -> None:
    client = await moderated(make_client, moderation="first-time", moderation_trust_after=2)
    admin = client.kb
    from kibitz.services import audit, moderation

    for n in range(2):
        held = await post_comment(client, f"Comment number {n}", expect=202)
        assert held["status"] == "pending"
        await moderation.act(admin, audit.SYSTEM, [held["id"]], "approve")
    trusted = await post_comment(client, "Now I am trusted")
    assert trusted["status"] == "approved"
    # someone else (another browser) is still a first-time commenter
    other = await make_client(kb=client.kb)
    assert (await post_comment(other, "Hello there", expect=202))["status"] == "pending"


async def test_a_thread_overrides_the_sites_mode(make_client: Any) -> None:
    client = await moderated(make_client, moderation="none")
    from kibitz.services import audit, moderation

    await post_comment(client, "Opens the thread")
    await moderation.set_thread(client.kb, audit.SYSTEM, THREAD, mode="everyone", set_mode=True)
    assert (await post_comment(client, "Held here", expect=202))["status"] == "pending"
    await post_comment(client, "Elsewhere it is not", thread="/other")


# -- content checks (they apply to trusted commenters too)


async def test_a_threads_own_policy_is_stricter_than_the_sites(make_client: Any) -> None:
    """A thread with a lower link limit, more block words and fewer reports to hold a
    comment: the same comment is held there and published elsewhere."""
    client = await moderated(
        make_client, moderation="none", moderation_max_links=2, moderation_block_words=["scam"]
    )
    kb = client.kb
    strict, relaxed = "/2021/06/strict", "/2021/06/relaxed"
    for key in (strict, relaxed):
        await post_comment(client, "Opening the discussion", thread=key)
    await thread_policy.update(kb, audit.SYSTEM, strict, values={
        "max_links": "0", "block_words": "ferry", "reports_to_hold": "1"})  # fmt: skip
    link = "See [the timetable](https://port.example/times)"
    assert (await post_comment(client, link, thread=relaxed))["status"] == "approved"
    held = await post_comment(client, link, thread=strict, expect=202)
    assert held["status"] == "pending"
    assert (await post_comment(client, "The ferry is late", thread=relaxed))["status"] == (
        "approved"
    )
    await post_comment(client, "The ferry is late", thread=strict, expect=202)
    await post_comment(client, "A scam, surely", thread=strict, expect=202)  # the site's too
    # one report is enough in the strict thread, not in the other
    other = reader_at(kb, "198.51.100.20")
    for key in (strict, relaxed):
        page = flatten((await read_thread(client, key))["comments"])
        [first] = [c for c in page if "Opening" in c["body_html"]]
        r = await other.post(f"/api/v1/comments/{first['id']}/report", json={"reason": "spam"})
        assert r.status_code == 202
    assert await shown(client, strict) == []
    assert len(await shown(client, relaxed)) == 3
    await other.aclose()
    # back to the site's settings: the same link is published
    await thread_policy.update(kb, audit.SYSTEM, strict, clear=["max_links"])
    again = await post_comment(client, "Timetable: [here](https://port.example/t2)", thread=strict)
    assert again["status"] == "approved"


async def test_more_links_than_allowed_are_held(make_client: Any) -> None:
    client = await moderated(make_client, moderation="none", moderation_max_links=2)
    two = "See https://a.example and [this](https://b.example)."
    three = two + " Also https://c.example"
    assert (await post_comment(client, two))["status"] == "approved"
    assert (await post_comment(client, three, expect=202))["status"] == "pending"


async def test_blocked_words_are_whole_words_in_any_case(make_client: Any) -> None:
    client = await moderated(
        make_client, moderation="none", moderation_block_words=["casino", "free money"]
    )
    await post_comment(client, "The Casinos of Monaco are old")  # not the word itself
    await post_comment(client, "Free moneybags are a metaphor")
    assert (await post_comment(client, "Visit our CASINO today", expect=202))["status"] == (
        "pending"
    )
    await post_comment(client, "Get FREE   money now", expect=202)
    await post_comment(client, "A comment", author_name="casino king", expect=202)


async def test_blocked_domains_and_their_subdomains_are_held(make_client: Any) -> None:
    client = await moderated(
        make_client, moderation="none", moderation_block_domains=["spam.example"]
    )
    await post_comment(client, "Read https://notspam.example/x")
    await post_comment(client, "Read https://www.spam.example/x", expect=202)
    await post_comment(client, "Read [here](http://spam.example)", expect=202)
    await post_comment(client, "Hi", author_url="https://shop.spam.example", expect=202)


async def test_repeats_of_a_recent_comment_are_held(make_client: Any) -> None:
    client = await moderated(make_client, moderation="none", moderation_repeat_seconds=3600)
    other = await make_client(kb=client.kb)
    long = "This long comment is copied and pasted across the whole site by someone."
    await post_comment(client, long)
    await post_comment(client, "Thanks!")
    # anyone repeating a long comment, in any case and spacing, is held
    assert (await post_comment(other, long.upper() + " ", expect=202))["status"] == "pending"
    # a short one only when the same reader (cookie or e-mail address) repeats it
    await post_comment(other, "Thanks!")
    await post_comment(client, "thanks", expect=202)
    await post_comment(client, "Something new entirely")


async def test_repeat_window_is_a_setting(make_client: Any) -> None:
    client = await moderated(make_client, moderation="none", moderation_repeat_seconds=0)
    await post_comment(client, "Same words again")
    await post_comment(client, "Same words again")


async def test_offensive_language_is_held_and_scored(make_client: Any) -> None:
    client = await moderated(make_client, moderation="none", moderation_offensive_threshold=90)
    calm = await post_comment(client, "I disagree strongly with the mayor's budget.")
    rude = await post_comment(client, "You are a fucking idiot", expect=202)
    assert calm["status"] == "approved" and rude["status"] == "pending"
    scores = await client.kb.db.read(
        lambda c: dict(c.exec_driver_sql("SELECT id, offensive FROM comments").all())
    )
    assert scores[rude["id"]] > 0.9 > 0.1 > scores[calm["id"]]


async def test_offensive_threshold_100_only_scores(make_client: Any) -> None:
    client = await moderated(make_client, moderation="none", moderation_offensive_threshold=100)
    assert (await post_comment(client, "What a load of shit"))["status"] == "approved"


# -- bots: the honeypot and the time taken to fill the form


async def test_a_filled_honeypot_is_spam_that_nobody_sees(make_client: Any) -> None:
    client = await moderated(make_client, moderation="none")
    fine = await post_comment(client, "I left it empty", honeypot="")
    bot = await post_comment(client, "Buy now", honeypot="http://bot.example", expect=202)
    assert fine["status"] == "approved"
    assert bot["status"] == "pending"  # the bot is told nothing useful
    assert await shown(client) == ["<p>I left it empty</p>"]
    assert (await me(client))["pending"] == []  # not even its sender sees it
    status = await client.kb.db.read(
        lambda c: c.exec_driver_sql(
            f"SELECT status FROM comments WHERE id = {bot['id']}"
        ).scalar_one()
    )
    assert status == "spam"


async def test_a_form_sent_too_fast_is_spam(make_client: Any) -> None:
    client = await moderated(make_client, moderation="none", moderation_min_fill_seconds=3)
    kb = client.kb
    slow = policies.form_token(kb, at=time.time() - 20)
    assert (await post_comment(client, "Took my time", form_token=slow))["status"] == "approved"
    fast = (await me(client))["form_token"]  # shown just now
    await post_comment(client, "Instant", form_token=fast, expect=202)
    await post_comment(client, "Forged", form_token="1.abc", expect=202)
    assert await shown(client) == ["<p>Took my time</p>"]


async def test_a_comment_without_the_form_token_is_held_not_lost(make_client: Any) -> None:
    """Leaving the token out does not skip the minimum fill time: the comment waits for a
    moderator (not in spam: a widget cached from before tokens still reaches someone)."""
    client = await moderated(make_client, moderation="none", moderation_min_fill_seconds=3)
    kb = client.kb
    held = await post_comment(client, "No token at all", expect=202)
    assert held["status"] == "pending"
    assert [c["body_html"] for c in (await me(client))["pending"]] == ["<p>No token at all</p>"]
    reasons = await kb.db.read(
        lambda c: c.exec_driver_sql(
            f"SELECT status, held_for FROM comments WHERE id = {held['id']}"
        ).one()
    )
    assert reasons[0] == "pending" and "no_form_token" in reasons[1]
    slow = policies.form_token(kb, at=time.time() - 20)
    assert (await post_comment(client, "With it", form_token=slow))["status"] == "approved"
    # the author's edit of a published comment has no form token, and is not held for it
    mine = await post_comment(client, "Edit me later", form_token=slow)
    r = await client.patch(f"/api/v1/comments/{mine['id']}", json={"body": "Edited, fine"})
    assert r.status_code == 200 and r.json()["status"] == "approved"
    assert await shown(client) == ["<p>Edited, fine</p>", "<p>With it</p>"]
    # with no minimum time, no token is needed
    relaxed = await moderated(make_client, moderation="none", moderation_min_fill_seconds=0)
    assert (await post_comment(relaxed, "Tokenless"))["status"] == "approved"


async def test_the_no_javascript_form_has_the_honeypot_and_the_token(make_client: Any) -> None:
    client = await moderated(make_client, moderation="none", moderation_min_fill_seconds=0)
    page = await client.get("/discussion", params={"thread": THREAD})
    assert 'name="homepage"' in page.text and 'name="form_token"' in page.text
    csrf = page.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
    token = page.text.split('name="form_token" value="', 1)[1].split('"', 1)[0]
    form = {"_csrf_token": csrf, "thread": THREAD, "author_name": "Al", "form_token": token}
    bot = await client.post("/discussion/comments", data={**form, "body": "x", "homepage": "y"})
    person = await client.post(
        "/discussion/comments", data={**form, "body": "Hello", "homepage": ""}
    )
    assert bot.status_code == person.status_code == 303
    assert "posted=pending" in bot.headers["location"]
    assert await shown(client) == ["<p>Hello</p>"]


# -- plugins


async def test_a_plugin_module_adds_checks(make_client: Any) -> None:
    client = await moderated(
        make_client, moderation="none", moderation_plugins=["tests.plugins.shouting"]
    )
    await post_comment(client, "A calm remark about the harbour")
    await post_comment(client, "THIS IS AN OUTRAGE, TRULY", expect=202)
    await post_comment(client, "Cheap watches here", expect=202)
    rows = await client.kb.db.read(
        lambda c: c.exec_driver_sql("SELECT status, held_for FROM comments ORDER BY id").all()
    )
    assert [r[0] for r in rows] == ["approved", "pending", "spam"]
    assert "shouting" in rows[1][1] and "watches" in rows[2][1]
    # a plugin may wait on the network: the checks leave the event loop for a thread
    assert not plugins.builtin_only(client.kb.settings)


async def test_own_checks_alone_run_on_the_event_loop(make_client: Any) -> None:
    client = await moderated(make_client, moderation="none", moderation_max_links=1)
    assert plugins.builtin_only(client.kb.settings)
    await post_comment(client, "A calm remark, see https://harbour.example/a")
    two = "See https://harbour.example/a and https://harbour.example/b"
    await post_comment(client, two, expect=202)  # held, by a check run on the loop


# -- held comments: visible to their author, and nobody else


async def test_pending_comments_show_to_their_author_only(make_client: Any) -> None:
    author = await moderated(make_client, moderation="everyone")
    other = await make_client(kb=author.kb)
    held = await post_comment(author, "Wait for me", expect=202)
    mine = await me(author)
    assert [(c["id"], c["status"]) for c in mine["pending"]] == [(held["id"], "pending")]
    assert (await me(other))["pending"] == []
    assert await shown(author) == []  # the shared, cached thread never has it
    page = await author.get("/discussion", params={"thread": THREAD})
    assert "Wait for me" in page.text and "Awaiting moderation" in page.text
    page = await other.get("/discussion", params={"thread": THREAD})
    assert "Wait for me" not in page.text


# -- reports


async def test_reports_from_enough_readers_hold_a_comment(make_client: Any) -> None:
    author = await moderated(make_client, moderation="none", moderation_reports_to_hold=3)
    posted = await post_comment(author, "Controversial take")
    reply = await post_comment(author, "My own reply", parent_id=posted["id"])
    url = f"/api/v1/comments/{posted['id']}/report"
    readers = [reader_at(author.kb, f"198.51.100.{n}") for n in range(1, 4)]
    try:
        r = await readers[0].post(url, json={"reason": "abuse", "note": "rude"})
        assert r.status_code == 202 and r.json() == {"status": "reported"}
        again = await readers[0].post(url, json={"reason": "spam"})
        assert again.json() == {"status": "already_reported"}
        await readers[1].post(url, json={"reason": "off_topic"})
        page = await read_thread(author)
        assert page["thread"]["comment_count"] == 2  # two readers are not enough
        r = await readers[2].post(url, json={"reason": "other"})
        assert r.status_code == 202
    finally:
        for c in readers:
            await c.aclose()
    page = await read_thread(author)
    [placeholder] = page["comments"]
    # held, yet its reply stays, under a placeholder; the count drops by one
    assert placeholder["status"] == "deleted" and placeholder["body_html"] == ""
    assert [c["id"] for c in placeholder["replies"]] == [reply["id"]]
    assert page["thread"]["comment_count"] == 1


async def test_one_reader_with_many_cookies_counts_once(make_client: Any) -> None:
    author = await moderated(make_client, moderation="none", moderation_reports_to_hold=2)
    posted = await post_comment(author, "Fine comment")
    for _ in range(3):
        fresh = await make_client(kb=author.kb)  # same address, new cookie jar
        r = await fresh.post(f"/api/v1/comments/{posted['id']}/report", json={"reason": "spam"})
        assert r.status_code == 202
    assert (await read_thread(author))["thread"]["comment_count"] == 1


async def test_reports_bad_input_own_comments_and_rate_limits(make_client: Any) -> None:
    author = await make_client(rate_limits="report.voter=1/3600,comment.voter=100/60")
    posted = await post_comment(author, "Mine")
    url = f"/api/v1/comments/{posted['id']}/report"
    own = await author.post(url, json={"reason": "spam"})
    assert own.status_code == 403 and own.json()["error"]["code"] == "own_comment"
    other = await make_client(kb=author.kb)
    await post_comment(other, "I have a voter cookie now")
    bad = await other.post(url, json={"reason": "boring"})
    assert bad.status_code == 422
    missing = await other.post("/api/v1/comments/999999/report", json={"reason": "spam"})
    assert missing.status_code == 404
    # one request counted above for this reader (the malformed one never got that far)
    limited = await other.post(url, json={"reason": "spam"})
    assert limited.status_code == 429 and "retry-after" in limited.headers


# -- bans


async def test_banned_readers_are_told_they_cannot_post(make_client: Any) -> None:
    from kibitz.services import audit, bans

    author = await moderated(make_client, moderation="none")
    posted = await post_comment(author, "Before the ban", author_email="troll@example.org")
    await bans.ban(
        author.kb,
        audit.SYSTEM,
        bans.BanRequest(kinds=("voter",), reason="trolling", days=7, comment_id=posted["id"]),
    )
    refused = await post_comment(author, "After the ban", expect=403)
    assert refused["error"]["code"] == "banned"
    assert "blocked comments from you until" in refused["error"]["message"]
    assert (await me(author))["ban"]["code"] == "banned"
    # the no-JavaScript page says so instead of showing the form
    page = await author.get("/discussion", params={"thread": THREAD})
    assert "blocked comments from you" in page.text and 'name="body"' not in page.text
    # a fresh browser with the same e-mail address is not banned by the voter ban ...
    other = await make_client(kb=author.kb)
    await post_comment(other, "Still fine", author_email="troll@example.org")
    # ... but is by an e-mail ban (any case, any spacing)
    await bans.ban(
        author.kb, audit.SYSTEM, bans.BanRequest(kinds=("email",), email="Troll@Example.org")
    )
    await post_comment(other, "Nope", author_email=" TROLL@example.org", expect=403)


async def test_ip_bans_expire_and_lift(make_client: Any) -> None:
    from kibitz.services import audit, bans

    author = await moderated(make_client, moderation="none")
    posted = await post_comment(author, "From an address")
    [ban_id] = await bans.ban(
        author.kb, audit.SYSTEM, bans.BanRequest(kinds=("ip",), comment_id=posted["id"], days=1)
    )
    other = await make_client(kb=author.kb)  # same address
    await post_comment(other, "Same address", expect=403)
    elsewhere = reader_at(author.kb, "192.0.2.99")
    try:
        await post_comment(elsewhere, "Another address")
    finally:
        await elsewhere.aclose()
    await author.kb.db.write(lambda c: c.exec_driver_sql("UPDATE bans SET expires_at = created_at"))
    await post_comment(other, "Expired")
    await author.kb.db.write(lambda c: c.exec_driver_sql("UPDATE bans SET expires_at = NULL"))
    await post_comment(other, "Forever", expect=403)
    await bans.lift(author.kb, audit.SYSTEM, ban_id)
    await post_comment(other, "Lifted")


async def test_a_shadow_banned_reader_sees_their_comments_and_nobody_else_does(
    make_client: Any,
) -> None:
    from kibitz.services import audit, bans

    author = await moderated(make_client, moderation="none")
    posted = await post_comment(author, "Before")
    await bans.ban(
        author.kb,
        audit.SYSTEM,
        bans.BanRequest(kinds=("voter",), comment_id=posted["id"], shadow=True),
    )
    ghost = await post_comment(author, "Into the void")
    assert ghost["status"] == "approved"  # as far as they can tell
    assert [c["id"] for c in (await me(author))["pending"]] == [ghost["id"]]
    assert (await me(author))["pending"][0]["status"] == "approved"
    assert (await me(author))["ban"] is None
    assert await shown(author) == ["<p>Before</p>"]


@pytest.mark.parametrize("kind", ["voter", "ip"])
async def test_banned_readers_cannot_vote_or_report(make_client: Any, kind: str) -> None:
    from kibitz.services import audit, bans

    author = await moderated(make_client, moderation="none")
    troll = await make_client(kb=author.kb)
    target = await post_comment(author, "Target")
    theirs = await post_comment(troll, "Theirs")
    await bans.ban(author.kb, audit.SYSTEM, bans.BanRequest(kinds=(kind,), comment_id=theirs["id"]))
    if kind == "ip":
        troll = reader_at(author.kb, "203.0.113.7")  # any browser at that address
        await me(troll)  # the widget has named them
    r = await troll.post(f"/api/v1/comments/{target['id']}/vote", json={"value": -1})
    assert r.status_code == 403 and r.json()["error"]["code"] == "banned"
    r = await troll.post(f"/api/v1/comments/{target['id']}/report", json={"reason": "spam"})
    assert r.status_code == 403


async def test_an_edit_that_adds_what_would_be_held_goes_back_to_the_queue(
    make_client: Any,
) -> None:
    client = await moderated(make_client, moderation="none", moderation_max_links=1)
    posted = await post_comment(client, "An innocent remark")
    fine = await client.patch(f"/api/v1/comments/{posted['id']}", json={"body": "Still fine"})
    assert fine.status_code == 200 and fine.json()["status"] == "approved"
    spammy = "Buy at https://a.example and https://b.example"
    r = await client.patch(f"/api/v1/comments/{posted['id']}", json={"body": spammy})
    assert r.status_code == 200 and r.json()["status"] == "pending"
    page = await read_thread(client)
    assert page["comments"] == [] and page["thread"]["comment_count"] == 0
    history = await client.kb.db.read(
        lambda c: c.exec_driver_sql("SELECT body_md FROM comment_edits ORDER BY id").scalars().all()
    )
    assert history == ["An innocent remark", "Still fine"]
