"""Atom feeds of recent comments: one per thread, one for the whole site."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import sqlalchemy as sa
from sqlalchemy import Connection

from kibitz.context import Kibitz
from kibitz.db.tables import comments, threads
from kibitz.services import threads as thread_service
from kibitz.services.errors import NotFound

FEED_SIZE = 50


@dataclass(frozen=True)
class FeedItem:
    id: int
    author: str
    body_html: str
    created_at: datetime
    edited_at: datetime | None
    thread_key: str
    thread_title: str
    thread_url: str


async def recent(kb: Kibitz, key: str | None = None, limit: int = FEED_SIZE) -> list[FeedItem]:
    query = (
        sa.select(
            comments.c.id, comments.c.author_name, comments.c.body_html, comments.c.created_at,
            comments.c.edited_at, threads.c.key, threads.c.title, threads.c.url,
        )
        .join(threads, threads.c.id == comments.c.thread_id)
        .where(comments.c.status == "approved")
        .order_by(comments.c.created_at.desc(), comments.c.id.desc())
        .limit(limit)
    )  # fmt: skip

    def read(conn: Connection) -> list[Any]:
        q = query
        if key is not None:
            row = thread_service.get_row(conn, key)
            if row is None:
                raise NotFound("thread_not_found", f"No thread with key {key!r}.", "thread")
            q = q.where(comments.c.thread_id == row.id)
        return list(conn.execute(q))

    return [FeedItem(*r) for r in await kb.db.read(read)]


def _time(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def comment_link(kb: Kibitz, item: FeedItem) -> str:
    base = item.thread_url or kb.settings.public_origin + (
        item.thread_key if item.thread_key.startswith("/") else "/"
    )
    return f"{base}#kibitz-comment-{item.id}"


def atom(kb: Kibitz, items: list[FeedItem], *, title: str, self_url: str, feed_id: str) -> str:
    """An Atom 1.0 document (RFC 4287). Comment bodies are the stored, sanitised HTML."""
    updated = max((i.edited_at or i.created_at for i in items), default=None)
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<id>{escape(feed_id)}</id>",
        f"<title>{escape(title)}</title>",
        f"<updated>{_time(updated) if updated else '1970-01-01T00:00:00Z'}</updated>",
        f'<link rel="self" type="application/atom+xml" href={quoteattr(self_url)}/>',
        "<generator>kibitz</generator>",
    ]
    for item in items:
        link = comment_link(kb, item)
        what = item.thread_title or item.thread_key
        out += [
            "<entry>",
            f"<id>{escape(kb.settings.public_origin)}/comments/{item.id}</id>",
            f"<title>{escape(f'{item.author} on {what}')}</title>",
            f"<author><name>{escape(item.author)}</name></author>",
            f"<published>{_time(item.created_at)}</published>",
            f"<updated>{_time(item.edited_at or item.created_at)}</updated>",
            f'<link rel="alternate" type="text/html" href={quoteattr(link)}/>',
            f'<content type="html">{escape(item.body_html)}</content>',
            "</entry>",
        ]
    out.append("</feed>")
    return "\n".join(out) + "\n"
