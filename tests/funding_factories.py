"""Plain functions that set up funding the way a publisher would, with keyword defaults."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from kibitz.context import Kibitz
from kibitz.services import campaigns as camp
from kibitz.services import ledger

JUNE = datetime(2021, 6, 15, 12, 0, tzinfo=UTC)


async def make_campaign(
    kb: Kibitz, slug: str = "support", *, goal: int = 500000, currency: str = "USD",
    start: date | None = date(2021, 6, 1), **fields: Any,
) -> camp.Campaign:  # fmt: skip
    return await camp.create(
        kb, camp.NewCampaign(slug=slug, name=f"Support {slug}", currency=currency, goal=goal,
                             start=start, **fields),
        now=JUNE,
    )  # fmt: skip


async def give(
    kb: Kibitz, campaign: camp.Campaign, amount: int, *, kind: str = "donation",
    at: datetime = JUNE, currency: str | None = None, **fields: Any,
) -> int | None:  # fmt: skip
    new = ledger.NewEntry(kind=kind, amount=amount, currency=currency or campaign.currency,
                          occurred_at=at, **fields)  # fmt: skip
    tz = camp.zone(kb.settings.time_zone)
    made = await kb.db.write(
        lambda conn: ledger.append(conn, campaign, new, tz=tz, now=datetime.now(UTC))
    )
    camp.invalidate(kb, campaign.slug)
    return made
