"""Articles kibitz serves itself: Markdown files with front matter, each with its discussion."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy import Connection

from kibitz import markdown
from kibitz.context import Kibitz
from kibitz.db.tables import articles
from kibitz.services import passages
from kibitz.services import threads as thread_service
from kibitz.services.errors import Invalid, NotFound

FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n?(.*)\Z", re.S)
PATH_RE = re.compile(r"^/[A-Za-z0-9._~\-/]*$")


@dataclass(frozen=True)
class Article:
    path: str
    title: str
    published_at: datetime
    image_url: str | None
    image_credit: str | None
    summary: str
    body_html: str


@dataclass(frozen=True)
class Draft:
    """An article as read from its file, checked, before it is stored."""

    path: str
    title: str
    published_at: datetime
    image_url: str | None
    image_credit: str | None
    summary: str
    body_md: str


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80] or "article"


def _published(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            return _published(datetime.fromisoformat(value))
        except ValueError:
            pass
    raise Invalid("invalid_date", f"date: expected YYYY-MM-DD, got {value!r}", "date")


def parse(text: str) -> Draft:
    """Front matter (YAML between --- lines: title, date, slug or path, image, image_credit,
    summary) and a Markdown body, in which [a passage]{?A question} asks readers a question."""
    match = FRONT_MATTER.match(text)
    if not match:
        raise Invalid("no_front_matter", "The file must start with front matter between --- lines.")
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise Invalid(
            "invalid_front_matter", f"The front matter is not valid YAML: {exc}"
        ) from None
    if not isinstance(meta, dict):
        raise Invalid("invalid_front_matter", "The front matter must be a mapping of fields.")
    title = " ".join(str(meta.get("title") or "").split())
    if not title:
        raise Invalid("required", "The front matter needs a title.", "title")
    published = _published(meta.get("date"))
    path = str(meta.get("path") or "")
    if not path:
        slug = _slugify(str(meta.get("slug") or title))
        path = f"/{published:%Y/%m}/{slug}"
    if not PATH_RE.match(path) or len(path) > 512 or "//" in path:
        raise Invalid("invalid_path", f"path: not a clean URL path: {path!r}", "path")
    image = meta.get("image")
    credit = meta.get("image_credit") or meta.get("image credit")
    return Draft(
        path=path,
        title=thread_service.check_title(title, "title"),
        published_at=published,
        image_url=str(image) if image else None,
        image_credit=str(credit) if credit else None,
        summary=str(meta.get("summary") or "")[:1000],
        body_md=match.group(2).strip(),
    )


def _article(row: Any) -> Article:
    return Article(
        path=row.path,
        title=row.title,
        published_at=row.published_at,
        image_url=row.image_url,
        image_credit=row.image_credit,
        summary=row.summary,
        body_html=row.body_html,
    )


async def save(kb: Kibitz, draft: Draft) -> Article:
    """Store the article (replacing an earlier version at the same path) and open its thread."""
    # the publisher's own text: rendered like comments, but images are theirs to show;
    # passages marked with a question ([passage]{?Question}) are found in the rendered text
    marked_md, marked = passages.mark(draft.body_md)
    html, questions = passages.locate(
        markdown.render(marked_md, images=True, new_tab=False), marked
    )
    text_hash = passages.article_text(html)[1]
    now = thread_service.now()
    url = kb.settings.public_origin + draft.path
    values = {
        "title": draft.title, "published_at": draft.published_at, "image_url": draft.image_url,
        "image_credit": draft.image_credit, "summary": draft.summary, "body_md": draft.body_md,
        "body_html": html, "updated_at": now,
    }  # fmt: skip

    def tx(conn: Connection) -> Any:
        existing = conn.execute(sa.select(articles.c.id).where(articles.c.path == draft.path))
        if existing.first() is None:
            conn.execute(sa.insert(articles).values(path=draft.path, created_at=now, **values))
        else:
            conn.execute(sa.update(articles).where(articles.c.path == draft.path).values(**values))
        thread = thread_service.insert_if_absent(conn, key=draft.path, title=draft.title, url=url)
        if thread.title != draft.title or thread.url != url:
            thread_service.bump(conn, thread.id, title=draft.title, url=url)
        passages.sync_questions(conn, thread.id, questions, text_hash)
        return conn.execute(sa.select(articles).where(articles.c.path == draft.path)).one()

    row = await kb.db.write(tx)
    kb.cache.invalidate(draft.path)
    return _article(row)


async def add_file(kb: Kibitz, file: Path) -> Article:
    try:
        text = await asyncio.to_thread(file.read_text, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise Invalid("unreadable", f"Cannot read {file}: {exc}") from None
    return await save(kb, parse(text))


async def get(kb: Kibitz, path: str) -> Article:
    query = sa.select(articles).where(articles.c.path == path)
    row = await kb.db.read(lambda conn: conn.execute(query).first())
    if row is None:
        raise NotFound("article_not_found", "There is no article at this address.")
    return _article(row)


async def latest(kb: Kibitz, limit: int = 20) -> list[Article]:
    query = sa.select(articles).order_by(articles.c.published_at.desc()).limit(limit)
    rows = await kb.db.read(lambda conn: list(conn.execute(query)))
    return [_article(r) for r in rows]
