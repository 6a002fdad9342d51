"""Mails to donors: the receipt for each gift, and the link to manage a monthly gift."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from babel.dates import format_date

from kibitz import money
from kibitz.context import Kibitz
from kibitz.mail.messages import _mail, _page


def receipt(
    kb: Kibitz, *, email: str, name: str | None, amount: int, currency: str, campaign: str,
    frequency: str, occurred_at: datetime, reference: str, manage_url: str | None,
) -> dict[str, Any]:  # fmt: skip
    site = kb.settings.site_name
    s = kb.settings
    shown = money.format_money(amount, currency, s.locale, s.money_format, exact=True)
    when = format_date(occurred_at.date(), "long", locale=kb.settings.locale)
    monthly = frequency == "monthly"
    what = f"your monthly gift of {shown}" if monthly else f"your gift of {shown}"
    hello = f"Dear {name}," if name else "Hello,"
    manage = f"\nTo change or cancel your monthly gift, open:\n{manage_url}\n" if manage_url else ""
    text = (
        f"{hello}\n\nThank you for {what} to {site} ({campaign}), received on {when}.\n\n"
        f"Amount: {shown}\nDate: {when}\nReference: {reference}\n{manage}\n"
        f"This mail is your receipt. Keep it for your records.\n"
    )
    manage_html = (
        f'<p><a href="{escape(manage_url)}">Change or cancel your monthly gift</a></p>'
        if manage_url
        else ""
    )
    html = _page(
        kb,
        f"<p>{escape(hello)}</p><p>Thank you for {escape(what)} to {escape(site)} "
        f"({escape(campaign)}), received on {escape(when)}.</p>"
        f"<table><tr><th align=left>Amount</th><td>{escape(shown)}</td></tr>"
        f"<tr><th align=left>Date</th><td>{escape(when)}</td></tr>"
        f"<tr><th align=left>Reference</th><td>{escape(reference)}</td></tr></table>"
        f"{manage_html}<p>This mail is your receipt. Keep it for your records.</p>",
    )
    return _mail(email, f"Thank you for supporting {site}: your receipt", text, html)


def manage_links(kb: Kibitz, *, email: str, links: list[tuple[str, str]]) -> dict[str, Any]:
    """``links``: (what the gift is, address of its management page)."""
    site = kb.settings.site_name
    lines = "\n".join(f"- {what}: {url}" for what, url in links)
    text = (
        f"You asked to manage your monthly gifts to {site}.\n\n{lines}\n\n"
        "If it was not you, ignore this mail: nothing changes."
    )
    items = "".join(f'<li><a href="{escape(url)}">{escape(what)}</a></li>' for what, url in links)
    html = _page(
        kb,
        f"<p>You asked to manage your monthly gifts to {escape(site)}.</p><ul>{items}</ul>"
        "<p>If it was not you, ignore this mail: nothing changes.</p>",
    )
    return _mail(email, f"Manage your monthly gift to {site}", text, html)
