"""Funding in the dashboard, as a publisher and a moderator use it over HTTP: campaigns, gifts
recorded by hand, refunds and adjustments as new entries, the CSV preview and confirmation,
reports with the chart, the export and the ledger's health; on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from kibitz.db.tables import audit_log, campaign_totals, ledger, provider_events
from kibitz.services import funding
from tests.funding_factories import give, make_campaign
from tests.moderators import csrf, dashboard, log_in, make_account, submit

pytestmark = pytest.mark.usefixtures("cheap_hashing")
CAMPAIGN = "/admin/funding/campaigns/support"
JUNE = datetime(2021, 6, 15, 12, tzinfo=UTC)


def notice(html: str) -> str:
    found = re.search(r'class="notice" role="status">([^<]*)<', html)
    return found.group(1) if found else ""


async def entries(kb: Any) -> list[Any]:
    query = sa.select(ledger).order_by(ledger.c.id)
    return list(await kb.db.read(lambda c: list(c.execute(query))))


async def audit_rows(kb: Any) -> list[Any]:
    """The audit log, without the accounts the tests made."""
    query = sa.select(audit_log).order_by(audit_log.c.id)
    rows = await kb.db.read(lambda c: list(c.execute(query)))
    return [r for r in rows if r.action != "create_account"]


async def record(admin: Any, expect: int = 303, **fields: str) -> Any:
    data = {"kind": "donation", "display": "anonymous", "method": "bank_transfer", **fields}
    return await submit(admin, f"{CAMPAIGN}/entries", data, page=f"{CAMPAIGN}/entries",
                        expect=expect)  # fmt: skip


async def test_a_campaign_made_and_kept_from_the_dashboard(make_client: Any) -> None:
    admin = await dashboard(make_client)
    kb = admin.kb
    assert (await admin.get("/admin/funding")).status_code == 200
    made = await submit(
        admin, "/admin/funding/create",
        {"name": "Support us", "slug": "support", "period": "monthly", "goal": "5,000",
         "currency": "usd", "start": "2021-06", "wall": "on"},
        page="/admin/funding/create",
    )  # fmt: skip
    assert made.headers["location"].startswith(CAMPAIGN)
    page = await admin.get(made.headers["location"])
    assert "Campaign support created." in notice(page.text)
    # a gift by bank transfer, with the donor's private details and no public name
    r = await record(admin, amount="120", date="2021-06-03", name="Jo Doe",
                     email="jo@example.org", reference="bank-1", message="Keep going")  # fmt: skip
    assert notice((await admin.get(r.headers["location"])).text) == "Gift #1 recorded."
    again = await record(admin, amount="120", date="2021-06-03", reference="bank-1")
    assert "Already recorded" in notice((await admin.get(again.headers["location"])).text)
    # another currency needs its rate; the form comes back with what was typed
    token = await csrf(admin, f"{CAMPAIGN}/entries")
    no_rate = await admin.post(f"{CAMPAIGN}/entries", data={
        "_csrf_token": token, "kind": "donation", "amount": "20", "currency": "EUR",
        "method": "paypal", "display": "name", "public_name": "Ana", "date": "2021-06-04",
    })  # fmt: skip
    assert no_rate.status_code == 422 and "needs the rate" in no_rate.text
    assert 'value="Ana"' in no_rate.text and 'aria-invalid="true"' in no_rate.text
    await record(admin, amount="20", currency="EUR", rate="1.0842", method="paypal",
                 display="name", public_name="Ana", date="2021-06-04")  # fmt: skip
    # a refund is a new entry, in the gift's month, never more than is left
    form = await admin.get(f"{CAMPAIGN}/entries", params={"kind": "refund", "reverses": 1})
    assert "120.00 $ left to refund" in form.text and 'value="120.00"' in form.text
    too_much = await submit(admin, f"{CAMPAIGN}/entries",
                            {"kind": "refund", "amount": "200", "reverses": "1",
                             "date": "2021-07-02"}, expect=422)  # fmt: skip
    assert "Only 120.00 $ of donation 1 is left to reverse" in too_much.text
    await record(admin, kind="refund", amount="20", reverses="1", date="2021-07-02")
    await record(admin, kind="adjustment", amount="-4.20", period="2021-06", note="bank fees")
    rows = await entries(kb)
    assert [(e.kind, e.amount, e.counted_amount) for e in rows] == [
        ("donation", 12000, 12000), ("donation", 2000, 2168), ("refund", -2000, -2000),
        ("adjustment", -420, -420),
    ]  # fmt: skip
    assert rows[1].display == "name" and rows[0].display == "anonymous"
    bar = await funding.bar(kb, "support", "2021-06")
    assert bar is not None and bar.raised == 12000 + 2168 - 2000 - 420
    page = await admin.get(CAMPAIGN, params={"period": "2021-06"})
    assert "Jo Doe &lt;jo@example.org&gt;" in page.text and "Keep going" in page.text
    assert "= 21.68 $ at 1.0842" in page.text
    # editing: the goal changes, the default ticks follow, the ledger is untouched
    form = (await admin.get(CAMPAIGN)).text
    assert 'name="goal" type="text" value="5000.00"' in form
    assert 'name="milestones" type="text" value=""' in form
    await submit(admin, CAMPAIGN, {"name": "Support us", "goal": "6000", "milestones": "",
                 "suggested": "5, 10", "min": "2", "max": "1000", "wall": "on", "end": ""},
                 page=CAMPAIGN)  # fmt: skip
    # from this month on; June 2021 keeps the goal it had
    bar = await funding.bar(kb, "support")
    assert bar is not None and bar.goal == 600000
    assert [t.amount for t in bar.ticks] == [0, 300000, 600000]
    june = await funding.bar(kb, "support", "2021-06")
    assert june is not None and june.goal == 500000 and "of 5,000 $ goal" in june.sentence
    bad = await submit(admin, CAMPAIGN, {"name": "Support us", "goal": "0"}, expect=422)
    assert "more than zero" in bad.text
    assert len(await entries(kb)) == 4
    # every change is in the audit log, and the log never names a donor
    logged = await audit_rows(kb)
    assert [r.action for r in logged] == [
        "create_campaign", "ledger_donation", "ledger_donation", "ledger_refund",
        "ledger_adjustment", "update_campaign",
    ]  # fmt: skip
    assert all(r.actor == "Admin" for r in logged)
    everything = " ".join(f"{r.before} {r.after}" for r in logged)
    assert "jo@example.org" not in everything and "Jo Doe" not in everything
    assert '"goal": 600000' in logged[-1].after


async def test_moderators_see_totals_but_never_donors(make_client: Any) -> None:
    admin = await dashboard(make_client)
    kb = admin.kb
    campaign = await make_campaign(kb)
    await give(kb, campaign, 5000, donor_name="Jo Doe", donor_email="jo@example.org",
               message="From a secret friend", method="bank_transfer")  # fmt: skip
    await give(kb, campaign, 2500, public_name="Ana")
    moderator = await make_client(kb=kb)
    await make_account(kb, email="mo@example.org", name="Mo", role="moderator")
    await log_in(moderator, "mo@example.org")
    for path in ("/admin/funding", CAMPAIGN, f"{CAMPAIGN}?period=2021-06", f"{CAMPAIGN}/report"):
        page = await moderator.get(path)
        assert page.status_code == 200, path
        for secret in ("jo@example.org", "Jo Doe", "secret friend"):
            assert secret not in page.text, (path, secret)
    shown = (await moderator.get(f"{CAMPAIGN}?period=2021-06")).text
    assert "Ana" in shown and "anonymous" in shown and "75 $ raised" in shown
    assert "shown to admins only" in (await moderator.get(f"{CAMPAIGN}/report")).text
    token = await csrf(moderator, "/admin/funding")
    for method, path in [
        ("GET", "/admin/funding/export"), ("GET", f"{CAMPAIGN}/entries"),
        ("POST", f"{CAMPAIGN}/entries"), ("POST", CAMPAIGN), ("POST", "/admin/funding/create"),
        ("GET", f"{CAMPAIGN}/import"), ("POST", f"{CAMPAIGN}/import"),
        ("POST", "/admin/funding/recount"),
    ]:  # fmt: skip
        r = await moderator.request(method, path, data={"_csrf_token": token, "amount": "9"}
                                    if method == "POST" else None)  # fmt: skip
        assert r.status_code == 403, (method, path, r.status_code)
    assert len(await entries(kb)) == 2
    report = (await admin.get(f"{CAMPAIGN}/report")).text
    assert "jo@example.org" in report  # the admin's report has the donor list


GIFTS = """date,amount,currency,rate,method,name,email,public_name,reference
2021-06-05,30,,,cash,Jo,jo@example.org,,C1
2021-06-06,x,,,cash,,,,C2
2021-07-01,"1,000",,,paypal,,,Ana,C3
2021-07-02,10,EUR,,paypal,,,,C4
"""


async def upload(client: Any, text: str, step: str = "preview", **extra: Any) -> Any:
    token = await csrf(client, f"{CAMPAIGN}/import")
    files = {"file": ("gifts.csv", text.encode(), "text/csv")} if step == "preview" else None
    data = {"_csrf_token": token, "step": step, **extra}
    if step == "confirm":
        data["csv"] = text
    return await client.post(f"{CAMPAIGN}/import", data=data, files=files)


async def test_a_csv_of_gifts_is_previewed_then_recorded(make_client: Any) -> None:
    admin = await dashboard(make_client)
    kb = admin.kb
    await make_campaign(kb)
    assert (await admin.get(f"{CAMPAIGN}/import")).status_code == 200
    preview = await upload(admin, GIFTS)
    assert preview.status_code == 200, preview.text[:500]
    text = preview.text
    assert "Preview: nothing is recorded yet" in text
    assert "<strong>2</strong> would be recorded" in text and "<strong>2</strong> rejected" in text
    assert "<td>3</td><td>amount: x is not an amount" in text
    assert "<td>5</td><td>An amount in EUR needs the rate" in text
    assert '<td>2021-06</td><td class="num">+30.00 $</td>' in text
    assert '<td>2021-07</td><td class="num">+1,000.00 $</td>' in text
    assert "Record these 2 entries" in text
    assert await entries(kb) == []  # a preview records nothing
    done = await upload(admin, GIFTS, step="confirm")
    assert "2 entries recorded; 0 were imported before; 2 rejected lines left out" in done.text
    rows = await entries(kb)
    assert [(e.amount, e.source) for e in rows] == [(3000, "csv"), (100000, "csv")]
    again = await upload(admin, GIFTS, step="confirm")
    assert "0 entries recorded; 2 were imported before" in again.text
    assert len(await entries(kb)) == 2
    logged = [r for r in await audit_rows(kb) if r.action == "import_ledger_csv"]
    assert len(logged) == 1 and '"added": 2' in logged[0].after
    assert "jo@example.org" not in logged[0].after
    # a file that is not a ledger CSV says why; nothing is recorded
    wrong = await upload(admin, "when,how much\n2021-06-01,5\n")
    assert wrong.status_code == 422 and "The header needs the columns date, amount" in wrong.text
    latin = await admin.post(
        f"{CAMPAIGN}/import",
        data={
            "_csrf_token": await csrf(admin, f"{CAMPAIGN}/import"),
            "step": "preview",
        },
        files={"file": ("g.csv", "date,amount,name\n2021-06-01,5,Jos\xe9\n".encode("latin-1"))},
    )
    assert latin.status_code == 422 and "not UTF-8" in latin.text
    assert len(await entries(kb)) == 2


async def test_uploads_need_their_csrf_token_and_keep_their_own_size_limit(
    make_client: Any,
) -> None:
    admin = await dashboard(make_client, upload_max_bytes=100_000)
    await make_campaign(admin.kb)
    files = {"file": ("gifts.csv", GIFTS.encode(), "text/csv")}
    for data in ({"step": "preview"}, {"step": "preview", "_csrf_token": "forged"}):
        r = await admin.post(f"{CAMPAIGN}/import", data=data, files=files)
        assert r.status_code == 403
    token = await csrf(admin, f"{CAMPAIGN}/import")
    big = "date,amount\n" + "2021-06-01,1\n" * 12_000  # 156 kB: over this site's limit
    r = await admin.post(f"{CAMPAIGN}/import", data={"_csrf_token": token, "step": "preview"},
                         files={"file": ("big.csv", big.encode(), "text/csv")})  # fmt: skip
    assert r.status_code == 413
    note = "a long private note " * 10
    medium = "date,amount,note\n" + f"2021-06-01,1,{note}\n" * 400  # 81 kB: over the app's 64 kB
    r = await admin.post(f"{CAMPAIGN}/import", data={"_csrf_token": token, "step": "preview"},
                         files={"file": ("medium.csv", medium.encode(), "text/csv")})  # fmt: skip
    assert r.status_code == 200 and "<strong>400</strong> would be recorded" in r.text
    # every other form keeps the app's small limit
    r = await admin.post("/admin/funding/create", data={"_csrf_token": token, "name": medium})
    assert r.status_code == 413
    # and a form without its token is refused, as everywhere in the dashboard
    r = await admin.post("/admin/funding/create", data={"name": "X", "slug": "x"})
    assert r.status_code == 403


async def test_reports_chart_and_export(make_client: Any) -> None:
    admin = await dashboard(make_client)
    kb = admin.kb
    campaign = await make_campaign(kb)
    gift = await give(kb, campaign, 10000, donor_name="Jo Doe", donor_email="jo@example.org",
                      frequency="monthly")  # fmt: skip
    await give(kb, campaign, 4000, at=datetime(2021, 7, 3, tzinfo=UTC), public_name="Ana")
    await give(kb, campaign, 2500, kind="refund", reverses_id=gift,
               at=datetime(2021, 7, 9, tzinfo=UTC))  # fmt: skip
    page = await admin.get(f"{CAMPAIGN}/report")
    assert page.status_code == 200
    text = page.text
    assert '<figure class="chart"><svg' in text and 'role="img"' in text
    assert "Jun 2021" in text and "Jul 2021" in text
    assert "<strong>75.00 $</strong>" in text  # June: 100 given, 25 refunded in its month
    assert "Jo Doe" in text and "jo@example.org" in text and "monthly" in text
    assert "<td>#1</td>" in text  # the refund, of gift #1
    export = await admin.get("/admin/funding/export", params={"campaign": "support"})
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    assert export.headers["cache-control"] == "no-store"
    lines = list(csv.reader(io.StringIO(export.text)))
    assert lines[0][:4] == ["id", "campaign", "kind", "date"] and len(lines) == 4
    assert "jo@example.org" in export.text
    logged = [r for r in await audit_rows(kb) if r.action == "export_ledger"]
    assert [r.target for r in logged] == ["campaign:support"]


async def test_the_ledgers_health_and_its_recount(make_client: Any) -> None:
    admin = await dashboard(make_client)
    kb = admin.kb
    campaign = await make_campaign(kb)
    await give(kb, campaign, 10000)
    assert "Every cached total matches the ledger" in (await admin.get("/admin/funding")).text
    await kb.db.write(lambda c: c.execute(sa.update(campaign_totals).values(raised=1)))
    page = (await admin.get("/admin/funding")).text
    assert "1 cached total disagrees with the ledger" in page
    assert "<td>1 (1 gifts)</td><td>10000 (1 gifts)</td>" in page
    done = await submit(admin, "/admin/funding/recount", {}, page="/admin/funding")
    page = (await admin.get(done.headers["location"])).text
    assert "1 were wrong and are now right" in page
    assert "Every cached total matches the ledger" in page
    bar = await funding.bar(kb, "support", "2021-06")
    assert bar is not None and bar.raised == 10000
    assert [r.action for r in await audit_rows(kb)] == ["recount_totals"]


def test_the_monthly_chart_labels_every_few_months_when_they_would_overlap() -> None:
    from kibitz import svg

    def chart(n: int) -> str:
        columns = [svg.Column(f"M{i:02d}", i, 10, f"{i} $") for i in range(n)]
        return svg.monthly_chart("Net per month", columns)

    assert re.findall(r">(M\d\d)</text>", chart(6)) == [f"M{i:02d}" for i in range(6)]
    labels = re.findall(r">(M\d\d)</text>", chart(24))
    assert labels == [f"M{i:02d}" for i in range(1, 24, 2)]  # every other, ending with the last
    assert len(re.findall(r"<title>M\d\d: ", chart(24))) == 24  # every column keeps its title


async def test_payment_events_that_need_a_person_are_listed_until_handled(
    make_client: Any,
) -> None:
    admin = await dashboard(make_client)
    kb = admin.kb
    now = datetime.now(UTC)
    await kb.db.write(lambda c: c.execute(sa.insert(provider_events).values(
        provider="stripe", event_id="evt_9", type="checkout.session.completed", livemode=False,
        created_at=now, received_at=now, outcome="needs_attention",
        reason="payment stripe:payment:pi_9 of 25.00 € (EUR) for campaign support was not "
               "recorded",
    )))  # fmt: skip
    page = (await admin.get("/admin/funding")).text
    assert "1 payment event reported money kibitz could not record" in page
    assert "<code>evt_9</code>" in page and "25.00 € (EUR) for campaign support" in page
    done = await submit(admin, "/admin/funding/events/handled",
                        {"event_id": "evt_9", "note": "recorded as #12 at 1.08"},
                        page="/admin/funding")  # fmt: skip
    page = (await admin.get(done.headers["location"])).text
    assert "Event evt_9 marked handled." in page and "evt_9</code>" not in page
    [logged] = await audit_rows(kb)
    assert (logged.action, logged.target) == ("provider_event_handled", "provider_event:evt_9")
    assert "recorded as #12" in logged.after
    again = await submit(admin, "/admin/funding/events/handled", {"event_id": "evt_9"},
                         page="/admin/funding", expect=404)  # fmt: skip
    assert "No event 'evt_9' is waiting" in again.text


async def test_a_campaign_minimum_below_the_card_floor_is_refused(make_client: Any) -> None:
    admin = await dashboard(make_client)
    refused = await submit(
        admin, "/admin/funding/create",
        {"name": "Support us", "slug": "support", "period": "monthly", "goal": "5000",
         "currency": "GBP", "min": "0.20", "suggested": "1, 5", "wall": "on"},
        page="/admin/funding/create", expect=422,
    )  # fmt: skip
    assert "The smallest gift must be at least 0.30 £" in refused.text
    assert 'name="min"' in refused.text and 'aria-invalid="true"' in refused.text
