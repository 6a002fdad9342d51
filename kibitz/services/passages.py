"""Inline feedback: passages of an article that comments are anchored to.

A passage is a publisher's question on a stretch of the article (marked in its Markdown as
``[the passage]{?The question}``, or asked through the API) or a stretch a reader selected.
Comments on it are ordinary top-level comments that carry its id. Anchors are re-found in the
article's current text on every read of a thread that kibitz serves (kibitz/anchoring.py), so
the widget, the pages without JavaScript and the dashboard agree on which are orphans.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from kibitz import anchoring
from kibitz.anchoring import Selector
from kibitz.cache import Entry
from kibitz.context import Kibitz
from kibitz.db.tables import articles, comments, passages, threads
from kibitz.models import (
    AnchorIn,
    FoundOut,
    NewComment,
    NewQuestion,
    Passage,
    PassageList,
    QuestionUpdate,
    SelectorOut,
)
from kibitz.services import audit
from kibitz.services import threads as thread_service
from kibitz.services.errors import Conflict, Forbidden, Invalid, NotFound
from kibitz.settings import Settings

MAX_PASSAGE = 2000  # code points of a passage's exact text
MAX_QUESTION = 300
HASH_RE = re.compile(r"^[0-9a-f]{8}$")
_VARIANT = ("passages",)

# -- questions marked in an article's Markdown: [the passage]{?The question}
#    or, with a key that keeps the answers when the question is reworded: [passage]{?#key ...}
MARK_RE = re.compile(
    r"\[(?P<passage>[^\[\]]+?)\]"
    r"\{\?(?:#(?P<key>[A-Za-z0-9_-]{1,40})\s+)?(?P<question>[^{}]+)\}"
)
OPEN, CLOSE = "\ue000", "\ue001"  # private-use marks that survive rendering and sanitising


@dataclass(frozen=True)
class MarkedQuestion:
    key: str
    question: str
    selector: Selector


def mark(body_md: str) -> tuple[str, list[tuple[str, str]]]:
    """The Markdown with each marked passage between private-use marks (the syntax gone),
    and (key, question) of each, in order."""
    found: list[tuple[str, str]] = []
    keys: set[str] = set()

    def swap(m: re.Match[str]) -> str:
        passage = m.group("passage").strip()
        question = " ".join(m.group("question").split())
        if not passage or any(re.search(r"\n[ \t]*\n", g) for g in m.groups("")):
            raise Invalid("invalid_question", f"A marked passage is one stretch of a paragraph: "
                          f"{m.group(0)[:80]!r}", "body")  # fmt: skip
        if len(question) > MAX_QUESTION:
            raise Invalid("invalid_question",
                          f"A question has at most {MAX_QUESTION} characters.", "body")  # fmt: skip
        key = m.group("key") or _slug(question)
        if key in keys:
            raise Invalid("duplicate_question", f"Two marked questions share the key {key!r}; "
                          "give one a key of its own with {?#key Question}.", "body")  # fmt: skip
        keys.add(key)
        found.append((key, question))
        return OPEN + passage + CLOSE

    return MARK_RE.sub(swap, body_md), found


def locate(html: str, marked: list[tuple[str, str]]) -> tuple[str, list[MarkedQuestion]]:
    """The HTML without the marks, and the anchor of each marked question in its text."""
    text = anchoring.html_text(html)
    out: list[MarkedQuestion] = []
    plain: list[str] = []
    starts: list[int] = []
    n = 0
    for ch in text:
        if ch == OPEN:
            starts.append(n)
        elif ch == CLOSE:
            if not starts:
                raise Invalid("invalid_question", "A marked passage could not be placed.", "body")
            start = starts.pop(0)
            key, question = marked[len(out)]
            out.append(MarkedQuestion(key, question, Selector("", "", "", start, n)))
        else:
            plain.append(ch)
            n += 1
    clean = "".join(plain)
    if len(out) != len(marked):
        raise Invalid("invalid_question", "A marked passage was lost (is it inside code?).", "body")
    located = [
        MarkedQuestion(
            q.key, q.question, anchoring.selector(clean, q.selector.start, q.selector.end)
        )
        for q in out
    ]
    return html.replace(OPEN, "").replace(CLOSE, ""), located


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "question"


@functools.lru_cache(maxsize=128)
def article_text(body_html: str) -> tuple[str, str]:
    """The normalised text of an article body and its hash."""
    text = anchoring.html_text(body_html)
    return text, anchoring.text_hash(text)


def _article_text(conn: Connection, key: str) -> tuple[str, str] | None:
    query = sa.select(articles.c.body_html).where(articles.c.path == key)
    html = conn.execute(query).scalar()
    return article_text(html) if html is not None else None


def _now() -> datetime:
    return thread_service.now()


def _insert_if_absent(conn: Connection, values: dict[str, Any]) -> int:
    dialect = conn.dialect.name
    insert: Any = (
        postgresql.insert(passages) if dialect == "postgresql" else sqlite.insert(passages)
    )
    conn.execute(
        insert.values(**values).on_conflict_do_nothing(index_elements=["thread_id", "key"])
    )
    query = sa.select(passages.c.id).where(
        passages.c.thread_id == values["thread_id"], passages.c.key == values["key"]
    )
    return int(conn.execute(query).scalar_one())


def _selector_values(sel: Selector, text_hash: str) -> dict[str, Any]:
    return {"exact": sel.exact, "prefix": sel.prefix, "suffix": sel.suffix,
            "pos_start": sel.start, "pos_end": sel.end, "text_hash": text_hash}  # fmt: skip


def sync_questions(
    conn: Connection, thread_id: int, marked: list[MarkedQuestion], text_hash: str
) -> None:
    """After an article is saved: its marked questions, where they are now; questions taken
    out of the Markdown stay for their answers, inactive."""
    now = _now()
    keys = []
    for q in marked:
        key = f"md:{q.key}"
        keys.append(key)
        values = {"question": q.question, "active": True, **_selector_values(q.selector, text_hash)}
        passage_id = _insert_if_absent(
            conn, {"thread_id": thread_id, "key": key, "kind": "question", "created_at": now,
                   **values},
        )  # fmt: skip
        conn.execute(sa.update(passages).where(passages.c.id == passage_id).values(**values))
    conn.execute(
        sa.update(passages)
        .where(
            passages.c.thread_id == thread_id,
            passages.c.key.like("md:%"),
            passages.c.key.not_in(keys),
        )
        .values(active=False)
    )


# -- anchors that readers send


def check_anchor(anchor: AnchorIn) -> tuple[Selector, str]:
    exact = anchoring.normalise(anchor.exact)
    if not exact:
        raise Invalid("required", "Select a passage of the article to comment on.", "anchor")
    if len(exact) > MAX_PASSAGE:
        raise Invalid("too_long", f"A passage has at most {MAX_PASSAGE:,} characters.", "anchor")
    prefix = anchoring.normalise(anchor.prefix)[-anchoring.CONTEXT :]
    suffix = anchoring.normalise(anchor.suffix)[: anchoring.CONTEXT]
    # normalise() trims the edges; context keeps the space that separates it from the quote
    if anchor.prefix[-1:].isspace():
        prefix = (prefix + " ")[-anchoring.CONTEXT :]
    if anchor.suffix[:1].isspace():
        suffix = (" " + suffix)[: anchoring.CONTEXT]
    if anchor.start < 0 or anchor.end != anchor.start + len(exact):
        raise Invalid("invalid_anchor", "The passage's position does not match its text.", "anchor")
    if not HASH_RE.match(anchor.text_hash):
        raise Invalid("invalid_anchor", "text_hash is 8 hexadecimal digits.", "anchor")
    return Selector(exact, prefix, suffix, anchor.start, anchor.end), anchor.text_hash


def _selection_key(sel: Selector) -> str:
    raw = "\x00".join([sel.exact, sel.prefix, sel.suffix, str(sel.start)])
    return "s:" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def check_new(settings: Settings, data: NewComment) -> tuple[Selector, str] | None:
    """Checks that need no database: what the comment says about its passage."""
    if data.passage_id is None and data.anchor is None:
        return None
    if data.parent_id is not None:
        raise Invalid(
            "passage_on_reply", "A reply belongs to its comment's passage already.", "anchor"
        )
    if data.passage_id is not None and data.anchor is not None:
        raise Invalid("passage_twice", "Give a passage_id or an anchor, not both.", "anchor")
    if data.anchor is None:
        return None
    if not settings.reader_passages:
        raise Forbidden(
            "reader_passages_off", "This site does not take comments on passages.", "anchor"
        )
    return check_anchor(data.anchor)


def attach(
    conn: Connection,
    thread_id: int,
    key: str,
    passage_id: int | None,
    anchor: tuple[Selector, str] | None,
) -> int | None:
    """Inside the comment's transaction: the id of the passage it is about."""
    if passage_id is not None:
        row = conn.execute(sa.select(passages).where(passages.c.id == passage_id)).first()
        if row is None or row.thread_id != thread_id:
            raise Invalid("unknown_passage", "There is no such passage here.", "passage_id")
        if not row.active:
            raise Conflict(
                "question_closed", "The publisher took this question out of the article.",
                "passage_id",
            )  # fmt: skip
        return passage_id
    if anchor is None:
        return None
    sel, given_hash = anchor
    known = _article_text(conn, key)
    if known is not None:
        # an article kibitz serves: store the passage as it is in the text now
        text, current = known
        found = anchoring.find(text, sel, given_hash)
        if found is None:
            raise Invalid(
                "passage_not_found",
                "That passage is not in the article any more; reload the page.", "anchor",
            )  # fmt: skip
        sel, given_hash = anchoring.selector(text, found.start, found.end), current
    values = {"thread_id": thread_id, "key": _selection_key(sel), "kind": "selection",
              "created_at": _now(), **_selector_values(sel, given_hash)}  # fmt: skip
    return _insert_if_absent(conn, values)


# -- reading


def _selector(row: Any) -> Selector:
    return Selector(row.exact, row.prefix, row.suffix, row.pos_start, row.pos_end)


_FOUND_MEMO_SIZE = 2048
_found_memo: dict[tuple[int, str, Selector, str | None], anchoring.Found | None] = {}


def _locate(
    known: tuple[str, str], sel: Selector, anchor_hash: str | None
) -> anchoring.Found | None:
    """Where a stored passage is in an article's text, remembered per version of the text:
    a fuzzy search for an orphan over a long article costs a tenth of a second, and the
    thread's cache is dropped at every new comment."""
    text, version = known
    memo_key = (hash(text), version, sel, anchor_hash)
    if memo_key in _found_memo:
        return _found_memo[memo_key]
    found = anchoring.find(text, sel, anchor_hash)
    if len(_found_memo) >= _FOUND_MEMO_SIZE:
        _found_memo.clear()
    _found_memo[memo_key] = found
    return found


def _passage(row: Any, known: tuple[str, str] | None) -> Passage:
    sel = _selector(row)
    found = orphaned = None
    if known is not None:
        where = _locate(known, sel, row.text_hash)
        orphaned = where is None
        if where is not None:
            found = FoundOut(where.start, where.end, where.how)
    return Passage(
        id=row.id,
        kind=row.kind,
        key=row.key,
        question=row.question,
        active=bool(row.active),
        count=row._mapping["count"],
        selector=SelectorOut(sel.exact, sel.prefix, sel.suffix, sel.start, sel.end),
        text_hash=row.text_hash,
        found=found,
        orphaned=orphaned,
    )


def read(conn: Connection, settings: Settings, key: str) -> PassageList:
    thread = thread_service.get_row(conn, key)
    known = _article_text(conn, key)
    out = PassageList(key, known[1] if known else None, settings.reader_passages, [])
    if thread is None:
        return out
    approved = sa.and_(comments.c.passage_id == passages.c.id, comments.c.status == "approved")
    count = sa.func.count(comments.c.id).label("count")
    query = (
        sa.select(passages, count)
        .select_from(passages.outerjoin(comments, approved))
        .where(passages.c.thread_id == thread.id)
        .group_by(*passages.c)
        .order_by(passages.c.pos_start, passages.c.id)
    )
    rows = [
        r
        for r in conn.execute(query)
        if r._mapping["count"] > 0 or (r.kind == "question" and r.active)
    ]
    out.passages = [_passage(r, known) for r in rows]
    out.passages.sort(key=lambda p: (p.found is None, p.found.start if p.found else 0))
    return out


async def listing(kb: Kibitz, key: str) -> Entry:
    """The thread's passages with counts and where they are now, from the cache when the
    thread and its article have not changed since."""
    key = thread_service.check_key(key)
    cached = kb.cache.get(key, _VARIANT)
    if cached is not None:
        return cached
    generation = kb.cache.generation(key)
    result = await kb.db.read(lambda conn: read(conn, kb.settings, key))
    entry = Entry.of(msgspec.json.encode(result))
    kb.cache.put(key, _VARIANT, entry, generation)
    return entry


async def get_list(kb: Kibitz, key: str) -> PassageList:
    return msgspec.json.decode((await listing(kb, key)).body, type=PassageList)


# -- questions asked through the API (the dashboard)


def _check_question(question: str) -> str:
    question = " ".join(question.split())
    if not question:
        raise Invalid("required", "Write the question.", "question")
    if len(question) > MAX_QUESTION:
        raise Invalid("too_long", f"A question has at most {MAX_QUESTION} characters.", "question")
    return question


def _place(text: str, data: NewQuestion) -> Selector:
    """The passage the publisher chose, in the article's text."""
    exact = anchoring.normalise(data.exact)
    if not exact:
        raise Invalid("required", "Give the passage the question is about.", "exact")
    found = []
    i = text.find(exact)
    while i >= 0:
        found.append(i)
        i = text.find(exact, i + 1)
    if not found:
        raise Invalid("passage_not_found", "That passage is not in the article.", "exact")
    if data.start is not None:
        found = [i for i in found if i == data.start] or found
    if data.prefix or data.suffix:
        sel = Selector(exact, data.prefix, data.suffix, -1, -1)
        found = [i for i in found if anchoring._context_score(text, i, sel) ==
                 max(anchoring._context_score(text, j, sel) for j in found)]  # fmt: skip
    if len(found) > 1:
        raise Invalid(
            "ambiguous_passage",
            f"That passage occurs {len(found)} times; give prefix, suffix or start.", "exact",
        )  # fmt: skip
    return anchoring.selector(text, found[0], found[0] + len(exact))


async def ask(kb: Kibitz, data: NewQuestion, actor: audit.Actor | None = None) -> Passage:
    """A publisher's question on a passage; with an ``actor`` (the dashboard), logged."""
    key = thread_service.check_key(data.thread)
    question = _check_question(data.question)
    given: tuple[Selector, str] | None = None
    if data.start is not None and data.end is not None and data.text_hash is not None:
        given = check_anchor(
            AnchorIn(data.exact, data.start, data.end, data.text_hash, data.prefix, data.suffix)
        )

    def tx(conn: Connection) -> int:
        thread = thread_service.get_row(conn, key)
        if thread is None:
            raise NotFound("thread_not_found", f"No thread with key {key!r}.", "thread")
        known = _article_text(conn, key)
        if known is not None:
            sel, text_hash = _place(known[0], data), known[1]
        elif given is not None:
            sel, text_hash = given
        else:
            raise Invalid(
                "invalid_anchor", "kibitz does not serve this page: give start, end and "
                "text_hash of the passage as the widget computes them.", "start",
            )  # fmt: skip
        values = {"thread_id": thread.id, "key": f"q:{secrets.token_hex(8)}", "kind": "question",
                  "question": question, "created_at": _now(),
                  **_selector_values(sel, text_hash)}  # fmt: skip
        passage_id = _insert_if_absent(conn, values)
        thread_service.bump(conn, thread.id)
        if actor is not None:
            audit.record(conn, actor, "ask_question", f"passage:{passage_id}", after={
                "thread": key, "question": question, "passage": sel.exact[:300],
            })  # fmt: skip
        return passage_id

    passage_id = await kb.db.write(tx)
    kb.cache.invalidate(key)
    return await _one(kb, key, passage_id)


async def update_question(
    kb: Kibitz, passage_id: int, data: QuestionUpdate, actor: audit.Actor | None = None
) -> Passage:
    """Reword a question, or close and reopen it; with an ``actor`` (the dashboard), logged."""
    changes: dict[str, Any] = {}
    if data.question is not None:
        changes["question"] = _check_question(data.question)
    if data.active is not None:
        changes["active"] = data.active

    def tx(conn: Connection) -> str:
        row = conn.execute(sa.select(passages).where(passages.c.id == passage_id)).first()
        if row is None or row.kind != "question":
            raise NotFound("passage_not_found", "There is no such question.")
        changed = {k: v for k, v in changes.items() if getattr(row, k) != v}
        if changed:
            conn.execute(sa.update(passages).where(passages.c.id == passage_id).values(**changed))
            thread_service.bump(conn, row.thread_id)
            if actor is not None:
                audit.record(
                    conn,
                    actor,
                    "update_question",
                    f"passage:{passage_id}",
                    before={k: getattr(row, k) for k in changed},
                    after=changed,
                )
        return thread_service.key_of(conn, row.thread_id)

    key = await kb.db.write(tx)
    kb.cache.invalidate(key)
    return await _one(kb, key, passage_id)


async def _one(kb: Kibitz, key: str, passage_id: int) -> Passage:
    def read_one(conn: Connection) -> Passage:
        approved = sa.and_(comments.c.passage_id == passages.c.id, comments.c.status == "approved")
        query = (
            sa.select(passages, sa.func.count(comments.c.id).label("count"))
            .select_from(passages.outerjoin(comments, approved))
            .where(passages.c.id == passage_id)
            .group_by(*passages.c)
        )
        return _passage(conn.execute(query).one(), _article_text(conn, key))

    return await kb.db.read(read_one)


# -- the dashboard's list of articles and pages with passages


@dataclass(frozen=True)
class PageOfPassages:
    key: str
    title: str
    article: bool  # kibitz serves it: its text is known, passages can be asked by selection
    published_at: datetime | None
    questions: int  # open questions
    passages: int  # questions and readers' selections
    comments: int  # approved comments on passages


def overview(conn: Connection, limit: int = 200) -> list[PageOfPassages]:
    """kibitz's own articles, newest first, then the other pages that have passages."""
    open_question = sa.case((sa.and_(passages.c.kind == "question", passages.c.active), 1),
                            else_=0)  # fmt: skip
    per_thread = {
        r.thread_id: (int(r.questions or 0), int(r.total))
        for r in conn.execute(
            sa.select(
                passages.c.thread_id,
                sa.func.sum(open_question).label("questions"),
                sa.func.count().label("total"),
            ).group_by(passages.c.thread_id)
        )
    }
    answered: dict[int, int] = dict(
        conn.execute(
            sa.select(comments.c.thread_id, sa.func.count())
            .where(comments.c.passage_id.is_not(None), comments.c.status == "approved")
            .group_by(comments.c.thread_id)
        ).all()
    )
    latest = list(conn.execute(
        sa.select(articles.c.path, articles.c.title, articles.c.published_at, threads.c.id)
        .select_from(articles.outerjoin(threads, threads.c.key == articles.c.path))
        .order_by(articles.c.published_at.desc(), articles.c.id.desc()).limit(limit)
    ))  # fmt: skip
    out = []
    seen: set[int] = set()
    for row in latest:
        q, n = per_thread.get(row.id, (0, 0))
        out.append(PageOfPassages(row.path, row.title, True, row.published_at, q, n,
                                  int(answered.get(row.id, 0))))  # fmt: skip
        if row.id is not None:
            seen.add(row.id)
    others = [i for i in per_thread if i not in seen]
    for chunk in range(0, len(others), 500):
        rows = conn.execute(
            sa.select(threads.c.id, threads.c.key, threads.c.title, articles.c.path)
            .select_from(threads.outerjoin(articles, articles.c.path == threads.c.key))
            .where(threads.c.id.in_(others[chunk : chunk + 500]))
            .order_by(threads.c.key)
        )
        for row in rows:
            q, n = per_thread[row.id]
            out.append(PageOfPassages(row.key, row.title or "", row.path is not None, None, q, n,
                                      int(answered.get(row.id, 0))))  # fmt: skip
    return out


async def dashboard_overview(kb: Kibitz, limit: int = 200) -> list[PageOfPassages]:
    return await kb.db.read(lambda conn: overview(conn, limit))


async def article_html(kb: Kibitz, key: str) -> str | None:
    """The body of an article kibitz serves (the text passages are anchored in)."""
    query = sa.select(articles.c.body_html).where(articles.c.path == key)
    found: str | None = await kb.db.read(lambda conn: conn.execute(query).scalar())
    return found


async def passage_thread(kb: Kibitz, passage_id: int) -> str:
    """The key of the thread a passage belongs to."""

    def read(conn: Connection) -> str:
        row = conn.execute(sa.select(passages.c.thread_id).where(passages.c.id == passage_id))
        thread_id = row.scalar()
        if thread_id is None:
            raise NotFound("passage_not_found", "There is no such passage.")
        return thread_service.key_of(conn, thread_id)

    return await kb.db.read(read)
