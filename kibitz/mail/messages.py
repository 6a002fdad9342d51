"""The mails kibitz sends, as outbox payloads: plain text and HTML, with their headers."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import urlencode

from kibitz.context import Kibitz


def _url(kb: Kibitz, path: str, **query: str) -> str:
    return f"{kb.settings.public_url.rstrip('/')}{path}?{urlencode(query)}"


def _mail(to: str, subject: str, text: str, html: str, **headers: str) -> dict[str, Any]:
    return {"to": to, "subject": subject, "text": text, "html": html, "headers": headers}


def _page(kb: Kibitz, body: str, footer: str = "") -> str:
    return (
        '<!doctype html><html><body style="font-family:system-ui,sans-serif;line-height:1.5;'
        'max-width:36rem;margin:auto;padding:1rem">'
        f'{body}<hr><p style="color:#666;font-size:.85em">{footer}'
        f"{escape(kb.settings.site_name)}</p></body></html>"
    )


def confirmation(kb: Kibitz, email: str, token: str) -> dict[str, Any]:
    link = _url(kb, "/subscriptions/confirm", token=token)
    site = kb.settings.site_name
    text = (
        f"Someone, hopefully you, asked for mail from {site} about new comments.\n\n"
        f"To confirm, open this link and press the button:\n{link}\n\n"
        "If it was not you, ignore this mail: nothing will be sent."
    )
    html = _page(
        kb,
        f"<p>Someone, hopefully you, asked for mail from {escape(site)} about new comments.</p>"
        f'<p><a href="{escape(link)}">Confirm your subscription</a></p>'
        "<p>If it was not you, ignore this mail: nothing will be sent.</p>",
    )
    return _mail(email, f"Confirm your subscription to comments on {site}", text, html)


REASONS = {
    "thread": "you follow new comments on this article",
    "replies": "someone replied to your comment",
    "comment": "someone replied to a comment you follow",
}


def notification(
    kb: Kibitz, *, email: str, reason: str, author: str, body_md: str, body_html: str,
    thread_title: str, link: str, unsubscribe: str, manage: str,
) -> dict[str, Any]:  # fmt: skip
    subject = f"New comment on “{thread_title}”" if reason == "thread" else (
        f"{author} replied on “{thread_title}”")  # fmt: skip
    text = (
        f"{author} wrote on “{thread_title}”:\n\n{body_md}\n\nRead it on the page: {link}\n\n"
        f"You get this mail because {REASONS[reason]}.\n"
        f"Stop these mails: {unsubscribe}\nAll your subscriptions: {manage}\n"
    )
    html = _page(
        kb,
        f"<p><strong>{escape(author)}</strong> wrote on “{escape(thread_title)}”:</p>"
        f'<blockquote style="border-left:3px solid #ccc;margin:0;padding-left:1rem">'
        f"{body_html}</blockquote>"
        f'<p><a href="{escape(link)}">Read it on the page</a></p>',
        f"You get this mail because {REASONS[reason]}. "
        f'<a href="{escape(unsubscribe)}">Unsubscribe</a> · '
        f'<a href="{escape(manage)}">All your subscriptions</a> · ',
    )
    return _mail(
        email, subject, text, html,
        **{"List-Unsubscribe": f"<{unsubscribe}>",
           "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )  # fmt: skip


def digest(
    kb: Kibitz, *, email: str, items: list[dict[str, str]], unsubscribe: str, manage: str
) -> dict[str, Any]:
    site = kb.settings.site_name
    n = len(items)
    subject = f"{n} new comment{'s' if n != 1 else ''} on {site}"
    text_parts = [f"{i['author']} on “{i['thread_title']}”:\n{i['body_md']}\n{i['link']}\n"
                  for i in items]  # fmt: skip
    text = (
        "\n".join(text_parts)
        + f"\nStop these mails: {unsubscribe}\nAll your subscriptions: {manage}\n"
    )
    html_parts = [
        f'<h3 style="margin-bottom:.2rem">{escape(i["author"])} on '
        f"“{escape(i['thread_title'])}”</h3>"
        f'{i["body_html"]}<p><a href="{escape(i["link"])}">Read it on the page</a></p>'
        for i in items
    ]
    html = _page(
        kb, "".join(html_parts),
        f'<a href="{escape(unsubscribe)}">Unsubscribe</a> · '
        f'<a href="{escape(manage)}">All your subscriptions</a> · ',
    )  # fmt: skip
    return _mail(
        email, subject, text, html,
        **{"List-Unsubscribe": f"<{unsubscribe}>",
           "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )  # fmt: skip


OCCASIONS = {
    "reported": "held after reader reports",
    "edited": "held again after its author edited it",
}


def moderation(
    kb: Kibitz, *, email: str, held: bool, author: str, body_md: str, thread: str,
    approve: str | None, reject: str | None, dashboard: str = "", occasion: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    site = kb.settings.site_name
    subject = (f"[{site}] Comment waiting for approval on {thread}" if held
               else f"[{site}] New comment on {thread}")  # fmt: skip
    if occasion in OCCASIONS:
        subject = f"[{site}] Comment {OCCASIONS[occasion]} on {thread}"
    actions = f"\nApprove: {approve}\nReject: {reject}\n" if approve and reject else ""
    if dashboard:
        actions += f"In the dashboard: {dashboard}\n"
    text = f"{author} wrote on {thread}:\n\n{body_md}\n{actions}"
    links = ""
    if approve and reject:
        links = (f'<p><a href="{escape(approve)}">Approve</a> · '
                 f'<a href="{escape(reject)}">Reject</a></p>')  # fmt: skip
    if dashboard:
        links += f'<p><a href="{escape(dashboard)}">Open in the dashboard</a></p>'
    html = _page(
        kb,
        f"<p><strong>{escape(author)}</strong> wrote on {escape(thread)}:</p>"
        f'<pre style="white-space:pre-wrap">{escape(body_md)}</pre>{links}',
    )
    return _mail(email, subject, text, html)


def invitation(
    kb: Kibitz, email: str, inviter: str, role: str, link: str, hours: int
) -> dict[str, Any]:
    site = kb.settings.site_name
    text = (
        f"{inviter} invites you to moderate the comments on {site} (as {role}).\n\n"
        f"Make your account here within {hours} hours:\n{link}\n\n"
        "If you did not expect this, ignore this mail."
    )
    html = _page(
        kb,
        f"<p>{escape(inviter)} invites you to moderate the comments on {escape(site)} "
        f"(as {escape(role)}).</p>"
        f'<p><a href="{escape(link)}">Make your account</a> within {hours} hours.</p>'
        "<p>If you did not expect this, ignore this mail.</p>",
    )
    return _mail(email, f"You are invited to moderate {site}", text, html)


def rights(kb: Kibitz, email: str, download: str, erase: str, hours: int) -> dict[str, Any]:
    """The links that let a reader download or erase what kibitz holds about their address."""
    site = kb.settings.site_name
    text = (
        f"Someone, hopefully you, asked {site} about the data it holds for this address.\n\n"
        f"Download everything: {download}\n"
        f"Erase everything (asks once more before it does): {erase}\n\n"
        f"The links work for {hours} hours. If it was not you, ignore this mail."
    )
    html = _page(
        kb,
        f"<p>Someone, hopefully you, asked {escape(site)} about the data it holds for this "
        "address.</p>"
        f'<p><a href="{escape(download)}">Download everything</a></p>'
        f'<p><a href="{escape(erase)}">Erase everything</a> (asks once more before it does)'
        "</p>"
        f"<p>The links work for {hours} hours. If it was not you, ignore this mail.</p>",
    )
    return _mail(email, f"Your data on {site}", text, html)


def test_mail(kb: Kibitz, email: str) -> dict[str, Any]:
    site = kb.settings.site_name
    text = f"This is a test mail from kibitz for {site}. Mail works."
    return _mail(email, f"Test mail from {site}", text, _page(kb, f"<p>{escape(text)}</p>"))
