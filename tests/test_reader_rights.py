"""A reader downloads, then erases, everything kibitz holds about their e-mail address;
afterwards no table (nor the search index) holds a trace of it. Moderators can do the same."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection

from kibitz.db.tables import audit_log, ledger, metadata, outbox
from kibitz.mail.worker import Worker
from kibitz.services import audit, bans, rights
from tests import stripe_events as se
from tests.conftest import Inbox
from tests.factories import flatten, post_comment, read_thread, vote
from tests.funding_factories import make_campaign
from tests.moderators import csrf, csrf_of, dashboard, submit

pytestmark = pytest.mark.usefixtures("cheap_hashing")
VICTIM = "Victoria.Unique@Example.org"
NAME = "Victoria Zanzibar"
MARK = "zebrafishmarker"
LIMITS = "comment.voter=1000/60,comment.ip=1000/60,subscribe.email=1000/3600,edit.voter=1000/60"


def mail_settings(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": "none",
        "rate_limits": LIMITS,
        **extra,
    }


def traces(conn: Connection, needles: list[str]) -> list[str]:
    """Every table and column where any needle (case-insensitive) still appears."""
    names = [t.name for t in metadata.sorted_tables]
    if conn.dialect.name == "sqlite":  # also the search index's own tables
        names += [
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'comments_fts%'"
            )
        ]
    found = []
    for name in names:
        result = conn.exec_driver_sql(f'SELECT * FROM "{name}"')
        columns = list(result.keys())
        for row in result:
            for column, value in zip(columns, row, strict=True):
                if isinstance(value, memoryview):
                    value = bytes(value)
                if isinstance(value, bytes):
                    value = value.decode("latin-1")
                if not isinstance(value, str):
                    continue
                for needle in needles:
                    if needle.lower() in value.lower():
                        found.append(f"{name}.{column} has {needle!r}")
    return found


async def victims_data(make_client: Any, port: int, **extra: Any) -> dict[str, Any]:
    """A site where Victoria commented, replied, edited, voted, reported and subscribed,
    and where others did too."""
    victim = await make_client(**mail_settings(port, moderator_emails=["mod@example.org"], **extra))
    kb = victim.kb
    other = await make_client(kb=kb)
    worker = Worker(kb)
    theirs = await post_comment(
        other,
        "Another reader's view",
        author_name="Olga",
        author_email="olga@example.org",
        notify="thread",
    )
    await worker.drain()
    # Olga confirms, so that mail about Victoria's comments reaches her
    await kb.db.write(
        lambda c: c.exec_driver_sql("UPDATE subscribers SET confirmed_at = created_at")
    )
    first = await post_comment(
        victim,
        f"My {MARK} opinion",
        author_name=NAME,
        author_email=VICTIM,
        notify="replies",
        author_url="https://vz.example",
    )
    alone = await post_comment(
        victim,
        f"Second {MARK} thought",
        author_name=NAME,
        author_email=VICTIM.lower(),
        thread="/other",
    )
    reply = await post_comment(
        other, "Olga answers Victoria", author_name="Olga", parent_id=first["id"]
    )
    r = await victim.patch(f"/api/v1/comments/{alone['id']}", json={"body": f"Edited {MARK}"})
    assert r.status_code == 200
    await vote(victim, theirs["id"], 1)
    r = await victim.post(
        f"/api/v1/comments/{theirs['id']}/report", json={"reason": "other", "note": f"{MARK} note"}
    )
    assert r.status_code == 202
    await bans.ban(
        kb, audit.SYSTEM, bans.BanRequest(kinds=("email",), email=VICTIM, days=1, reason="spam run")
    )
    await bans.lift(kb, audit.SYSTEM, (await bans.listing(kb))[0].id)
    await worker.drain()
    return {
        "victim": victim,
        "other": other,
        "kb": kb,
        "first": first,
        "alone": alone,
        "reply": reply,
        "theirs": theirs,
        "worker": worker,
    }


async def ask(client: Any, inbox: Inbox, worker: Worker) -> tuple[str, str]:
    """The reader asks on /my-data; returns the two links of the mail."""
    page = await client.get("/my-data")
    r = await client.post("/my-data", data={"_csrf_token": csrf_of(page.text), "email": VICTIM})
    assert r.status_code == 200 and "on its way" in r.text
    await worker.drain()
    [mail] = [m for m in inbox.to(VICTIM) if "Your data" in m["Subject"]]
    links = re.findall(r"http://127\.0\.0\.1:8000(/my-data/\w+\?token=\S+)", Inbox.text(mail))
    assert len(links) == 2
    return links[0], links[1]


async def test_export_holds_everything_about_the_address(make_client: Any, smtp: Any) -> None:
    inbox, port = smtp
    data = await victims_data(make_client, port)
    download, _ = await ask(data["victim"], inbox, data["worker"])
    r = await data["other"].get(download)  # the link alone is the key: any browser
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    exported = r.json()
    assert exported["email"] == VICTIM.lower()
    texts = sorted(c["text"] for c in exported["comments"])
    assert texts == [f"Edited {MARK}", f"My {MARK} opinion"]
    [edited] = [c for c in exported["comments"] if c["edits"]]
    assert edited["edits"][0]["text_before"] == f"Second {MARK} thought"
    assert [v["comment"] for v in exported["votes"]] == [data["theirs"]["id"]]
    assert exported["reports"][0]["note"] == f"{MARK} note"
    assert [s["kind"] for s in exported["subscriptions"]["items"]] == ["replies"]
    assert "Olga" not in json.dumps(exported)  # nobody else's data


async def test_nobody_learns_whether_an_address_is_known(make_client: Any, smtp: Any) -> None:
    inbox, port = smtp
    client = await make_client(**mail_settings(port))
    token = await csrf(client, "/my-data")
    r = await client.post("/my-data", data={"_csrf_token": token, "email": "nobody@example.org"})
    assert r.status_code == 200 and "on its way" in r.text
    api = await client.post("/api/v1/rights", json={"email": "nobody@example.org"})
    assert api.status_code == 202 and api.json() == {"status": "mail_sent_if_known"}
    await Worker(client.kb).drain()
    assert inbox.to("nobody@example.org") == []
    bad = await client.post("/api/v1/rights", json={"email": "not an address"})
    assert bad.status_code == 422
    forged = await client.get("/my-data/export", params={"token": "123|x@example.org.abc"})
    assert forged.status_code == 403
    stale = rights.link_token(client.kb, "erase", VICTIM, at=1_000_000)
    assert (await client.get("/my-data/erase", params={"token": stale})).status_code == 403
    # an export link does not erase
    export = rights.link_token(client.kb, "export", VICTIM)
    assert (await client.get("/my-data/erase", params={"token": export})).status_code == 403


async def test_requests_are_rate_limited_per_address(make_client: Any) -> None:
    client = await make_client(rate_limits="rights.email=2/3600,rights.ip=100/3600")
    for _ in range(2):
        assert (await client.post("/api/v1/rights", json={"email": VICTIM})).status_code == 202
    r = await client.post("/api/v1/rights", json={"email": VICTIM.upper()})
    assert r.status_code == 429


async def test_erasure_leaves_nothing_behind(make_client: Any, smtp: Any) -> None:
    inbox, port = smtp
    data = await victims_data(make_client, port, erasure_mode="delete")
    kb = data["kb"]
    voter = await kb.db.read(
        lambda c: c.exec_driver_sql(
            f"SELECT voter_id FROM comments WHERE id = {data['first']['id']}"
        ).scalar_one()
    )
    needles = [VICTIM, NAME, MARK, "vz.example", voter]
    assert len(await kb.db.read(lambda c: traces(c, needles))) > 10  # the check can fail
    _, erase = await ask(data["victim"], inbox, data["worker"])
    page = await data["victim"].get(erase)
    assert page.status_code == 200 and "Erase everything about" in page.text
    token = unquote(erase.split("token=", 1)[1])
    done = await data["victim"].post(
        "/my-data/erase", data={"_csrf_token": csrf_of(page.text), "token": token}
    )
    assert done.status_code == 200 and "2 comments, 1 vote, 1 report" in done.text
    assert await kb.db.read(lambda c: traces(c, needles)) == []
    # the discussion stays whole for everyone else
    page = await read_thread(data["other"])
    shown = {c["id"]: c for c in flatten(page["comments"])}
    assert shown[data["first"]["id"]]["status"] == "deleted"  # a placeholder for Olga's reply
    assert data["reply"]["id"] in shown and page["thread"]["comment_count"] == 2
    assert shown[data["theirs"]["id"]]["votes"]["up"] == 0
    assert (await read_thread(data["other"], "/other"))["comments"] == []
    olga = await kb.db.read(
        lambda c: c.exec_driver_sql(
            "SELECT count(*) FROM subscribers WHERE email_key = 'olga@example.org'"
        ).scalar_one()
    )
    assert olga == 1
    # the search index forgot the text
    admin = await dashboard(make_client, kb=kb)
    found = await admin.get("/admin/comments", params={"queue": "all", "q": MARK})
    assert "Nothing here for" in found.text
    # the erasure is in the audit log, without the address
    log = await admin.get("/admin/audit", params={"action": "erase"})
    assert "the reader" in log.text and VICTIM.lower() not in log.text.lower()


async def test_anonymising_keeps_the_text_without_its_author(make_client: Any, smtp: Any) -> None:
    _, port = smtp
    data = await victims_data(make_client, port, erasure_mode="anonymise")
    kb = data["kb"]
    admin = await dashboard(make_client, kb=kb)
    await submit(
        admin, "/admin/readers/erase", {"email": VICTIM, "confirm": "erase"}, page="/admin/readers"
    )
    left = await kb.db.read(lambda c: traces(c, [VICTIM, NAME, "vz.example"]))
    assert left == []
    page = await read_thread(data["other"])
    [first] = [c for c in page["comments"] if c["id"] == data["first"]["id"]]
    assert MARK in first["body_html"] and first["author"] == {"name": "Guest", "url": None}
    outboxed = await kb.db.read(lambda c: c.execute(sa.select(outbox.c.payload)).scalars().all())
    assert not [p for p in outboxed if VICTIM.lower() in p.lower()]


async def test_moderators_export_and_erase_from_the_dashboard(make_client: Any) -> None:
    admin = await dashboard(make_client, rate_limits=LIMITS)
    reader = await make_client(kb=admin.kb)
    await post_comment(reader, f"Hello {MARK}", author_email=VICTIM, author_name=NAME)
    page = await admin.get("/admin/readers", params={"email": VICTIM})
    assert MARK in page.text
    r = await submit(
        admin, "/admin/readers/export", {"email": VICTIM}, page="/admin/readers", expect=200
    )
    assert r.json()["comments"][0]["text"] == f"Hello {MARK}"
    # the download is in the audit log: who, when, about whom (a keyed hash, not the address)
    log = await admin.get("/admin/audit", params={"action": "export_reader"}, headers={
        "accept": "text/html"})  # fmt: skip
    assert "export_reader" in log.text and "Admin" in log.text
    assert VICTIM.lower() not in log.text.lower() and NAME not in log.text
    [(target, after)] = await admin.kb.db.read(
        lambda c: c.execute(
            sa.select(audit_log.c.target, audit_log.c.after).where(
                audit_log.c.action == "export_reader"
            )
        ).all()
    )
    assert target == rights.audit_target(admin.kb, VICTIM.lower())
    assert json.loads(after) == {"comments": 1, "gifts": 0}
    refused = await submit(
        admin,
        "/admin/readers/erase",
        {"email": VICTIM, "confirm": "no"},
        page="/admin/readers",
        expect=422,
    )
    assert "erase" in refused.text
    await submit(
        admin, "/admin/readers/erase", {"email": VICTIM, "confirm": "erase"}, page="/admin/readers"
    )
    assert await admin.kb.db.read(lambda c: traces(c, [VICTIM, NAME, MARK])) == []
    erased = await admin.kb.db.read(
        lambda c: c.execute(
            sa.select(audit_log.c.target).where(audit_log.c.action == "erase")
        ).scalar_one()
    )
    assert erased == target  # the download and the erasure name the same reader


# -- donors: an address that only gave money

SHOWN_AS = "Vicky of Zanzibar"


async def victims_gifts(make_client: Any, **extra: Any) -> dict[str, Any]:
    """Victoria gave once and monthly through Stripe, and once by bank transfer (recorded in
    the dashboard), with a public name and a message; Olga gave too. Victoria never commented."""
    admin = await dashboard(make_client, site_name="SouthFront", **se.STRIPE, **extra)
    kb = admin.kb
    await make_campaign(kb)
    once = se.session(
        "cs_v1", email=VICTIM, name=NAME, payment_intent="pi_v1", customer="cus_v1",
        metadata=se.meta(public_name=SHOWN_AS, message=f"{MARK} for the reporters"),
    )  # fmt: skip
    await se.deliver(admin, se.event("checkout.session.completed", once))
    monthly = se.session(
        "cs_v2", mode="subscription", amount=1000, subscription="sub_v", customer="cus_v2",
        email=VICTIM, name=NAME, metadata=se.meta(public_name=SHOWN_AS, message=MARK),
    )  # fmt: skip
    await se.deliver(admin, se.event("checkout.session.completed", monthly))
    paid = se.invoice("in_v1", subscription="sub_v", email=VICTIM, customer="cus_v2",
                      payment_intent="pi_in_v1",
                      metadata=se.meta(public_name=SHOWN_AS, message=MARK))  # fmt: skip
    await se.deliver(admin, se.event("invoice.paid", paid))
    olga = se.session("cs_o", email="olga@example.org", name="Olga", payment_intent="pi_o",
                      metadata=se.meta(public_name="Olga", message="Keep it up"))  # fmt: skip
    await se.deliver(admin, se.event("checkout.session.completed", olga))
    entries = "/admin/funding/campaigns/support/entries"
    await submit(admin, entries, {
        "kind": "donation", "amount": "40", "date": "2021-06-03", "method": "bank_transfer",
        "name": NAME, "email": VICTIM, "display": "name", "public_name": SHOWN_AS,
        "message": f"By bank, {MARK}", "reference": "bank-v",
    }, page=entries)  # fmt: skip
    return {"admin": admin, "kb": kb}


async def ledger_money(kb: Any) -> list[tuple[Any, ...]]:
    query = sa.select(
        ledger.c.id, ledger.c.amount, ledger.c.counted_amount, ledger.c.occurred_at,
        ledger.c.provider_ref, ledger.c.donor_id,
    ).order_by(ledger.c.id)  # fmt: skip
    return [tuple(r) for r in await kb.db.read(lambda c: c.execute(query).all())]


async def test_a_donors_gifts_are_in_their_download(make_client: Any) -> None:
    data = await victims_gifts(make_client)
    kb = data["kb"]
    token = rights.link_token(kb, "export", VICTIM)
    r = await data["admin"].get("/my-data/export", params={"token": token})
    assert r.status_code == 200
    given = r.json()["donations"]
    assert given["donor"]["email"] == VICTIM and given["donor"]["name"] == NAME
    assert [(g["amount"], g["frequency"], g["shown_as"]) for g in given["gifts"]] == [
        ("25.00", "one_time", SHOWN_AS), ("10.00", "monthly", SHOWN_AS),
        ("40.00", "one_time", SHOWN_AS),
    ]  # fmt: skip
    assert given["gifts"][0]["message"] == f"{MARK} for the reporters"
    assert [(m["amount"], m["status"]) for m in given["monthly_gifts"]] == [("10.00", "active")]
    assert "Olga" not in json.dumps(given) and "Keep it up" not in json.dumps(given)
    # an address that only gave money is known: the reader gets the links
    await rights.request(kb, VICTIM)
    mails = await kb.db.read(lambda c: c.execute(sa.select(outbox.c.idempotency_key)).all())
    assert any(m[0].startswith("rights:") for m in mails)


@pytest.mark.parametrize("mode", ["delete", "anonymise"])
async def test_erasing_a_donor_keeps_only_the_amounts(make_client: Any, mode: str) -> None:
    data = await victims_gifts(make_client, erasure_mode=mode)
    kb, admin = data["kb"], data["admin"]
    needles = [VICTIM, NAME, SHOWN_AS, MARK]
    before = await kb.db.read(lambda c: traces(c, needles))
    for place in ("donors.email", "donors.name", "ledger_entries.public_name",
                  "ledger_entries.message", "outbox.payload", "audit_log.after"):  # fmt: skip
        assert any(t.startswith(place) for t in before), place  # the check can fail
    money_before = await ledger_money(kb)
    page = await admin.get("/funding/support", params={"period": "2021-06"})
    assert SHOWN_AS in page.text and "Olga" in page.text
    bar = (await admin.get("/api/v1/funding/support", params={"period": "2021-06"})).json()

    erase = rights.link_token(kb, "erase", VICTIM)
    form = await admin.get("/my-data/erase", params={"token": erase})
    assert "Gifts you made stay in the accounts" in form.text
    done = await admin.post(
        "/my-data/erase", data={"_csrf_token": csrf_of(form.text), "token": erase}
    )
    assert done.status_code == 200 and "3 gifts kept as amounts only" in done.text

    assert await kb.db.read(lambda c: traces(c, needles)) == []
    # the bookkeeping is whole: every entry, every amount, every reference, every total
    assert await ledger_money(kb) == money_before
    again = (await admin.get("/api/v1/funding/support", params={"period": "2021-06"})).json()
    assert again["raised"] == bar["raised"]
    page = await admin.get("/funding/support", params={"period": "2021-06"})
    assert SHOWN_AS not in page.text and "Olga" in page.text and "Keep it up" in page.text
    # the dashboard's log of the gift recorded by hand still says how much
    logged = await kb.db.read(
        lambda c: c.execute(
            sa.select(audit_log.c.after).where(audit_log.c.action == "ledger_donation")
        ).scalar_one()
    )
    assert json.loads(logged)["amount"] == "40.00"
    # nobody else's gifts changed
    olga = await kb.db.read(
        lambda c: c.execute(
            sa.select(ledger.c.public_name, ledger.c.message).where(
                ledger.c.provider_ref.contains("pi_o")
            )
        ).one()
    )
    assert tuple(olga) == ("Olga", "Keep it up")
