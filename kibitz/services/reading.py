"""Reading a thread: a page of top-level comments in the chosen order, with their replies.

Pages are cut with keyset cursors (the last row's sort values), never OFFSET, so page 200
of a long thread costs what page 1 costs, and a comment posted meanwhile neither repeats
nor hides one. Replies always read oldest first under their parent.
"""

from __future__ import annotations

import base64
import binascii
import math
from datetime import datetime
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from sqlalchemy import Connection

from kibitz.cache import Entry
from kibitz.context import Kibitz
from kibitz.db.tables import comments
from kibitz.models import SORTS, Comment, Id, Sort, ThreadPage
from kibitz.services import threads as thread_service
from kibitz.services.comments import PUBLIC_COLUMNS, VISIBLE, shown
from kibitz.services.errors import Invalid

c = comments.c


def wilson_lower_bound(up: int, down: int, z: float = 1.959964) -> float:
    """Lower bound of the 95% Wilson interval of the up-vote share (0 with no votes)."""
    n = up + down
    if n == 0:
        return 0.0
    p = up / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt((p * (1 - p) + z * z / (4 * n)) / n)
    return (centre - spread) / (1 + z * z / n)


class _Cursor(msgspec.Struct, array_like=True):
    sort: str
    # most_voted: the score (an INTEGER column); best: the Wilson bound
    value: Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)] | float | None
    created_at: datetime
    id: Id


def encode_cursor(sort: Sort, row: Any) -> str:
    value = {"most_voted": row.score, "best": row.wilson}.get(sort)
    raw = msgspec.json.encode(_Cursor(sort, value, row.created_at, row.id))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(sort: Sort, cursor: str) -> _Cursor:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parsed = msgspec.json.decode(raw, type=_Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise Invalid("invalid_cursor", "That page cursor is not valid.", "cursor") from None
    if parsed.sort != sort or (sort in ("most_voted", "best")) != (parsed.value is not None):
        raise Invalid("invalid_cursor", "That page cursor belongs to another sort order.", "cursor")
    if sort == "most_voted" and not isinstance(parsed.value, int):
        raise Invalid("invalid_cursor", "That page cursor is not valid.", "cursor")
    if parsed.created_at.tzinfo is None:
        raise Invalid("invalid_cursor", "That page cursor is not valid.", "cursor")
    return parsed


def _order(sort: Sort) -> list[Any]:
    if sort == "newest":
        return [c.created_at.desc(), c.id.desc()]
    if sort == "oldest":
        return [c.created_at, c.id]
    if sort == "most_voted":
        return [c.score.desc(), c.created_at, c.id]
    return [c.wilson.desc(), c.created_at, c.id]


def _after(sort: Sort, cur: _Cursor) -> Any:
    age = sa.tuple_(c.created_at, c.id)
    if sort == "newest":
        return age < sa.tuple_(sa.literal(cur.created_at, c.created_at.type), cur.id)
    later = age > sa.tuple_(sa.literal(cur.created_at, c.created_at.type), cur.id)
    if sort == "oldest":
        return later
    column = c.score if sort == "most_voted" else c.wilson
    return sa.or_(column < cur.value, sa.and_(column == cur.value, later))


def check_sort(sort: str) -> Sort:
    if sort not in SORTS:
        raise Invalid("invalid_sort", f"Sort is one of {', '.join(SORTS)}.", "sort")
    return sort


def check_limit(kb: Kibitz, limit: int | None) -> int:
    if limit is None:
        return kb.settings.page_size
    if not 1 <= limit <= kb.settings.max_page_size:
        raise Invalid("invalid_limit", f"limit is from 1 to {kb.settings.max_page_size}.", "limit")
    return limit


def build_tree(top: list[Any], replies: list[Any], display_depth: int) -> list[Comment]:
    """Nest replies under their parents, at most display_depth levels deep (the top level
    counts as one). A reply that would go deeper is shown, oldest first, beside the deepest
    shown level: in the replies of its ancestor one level above that."""
    deepest_holder = max(display_depth - 2, 0)
    nodes: dict[int, Comment] = {}
    depth_of: dict[int, int] = {}
    parent_of: dict[int, int | None] = {}
    out: list[Comment] = []
    for row in top:
        node = shown(row)
        nodes[row.id], depth_of[row.id], parent_of[row.id] = node, 0, None
        out.append(node)
    for row in replies:  # oldest first, so a parent always comes before its replies
        if row.parent_id not in nodes:
            continue  # under a comment that is not shown (held, spam): not shown either
        node = shown(row)
        nodes[row.id], depth_of[row.id], parent_of[row.id] = node, row.depth, row.parent_id
        holder = row.parent_id
        while depth_of[holder] > deepest_holder:
            holder = parent_of[holder]
        nodes[holder].replies.append(node)
    return out


def check_passage(passage: str | None) -> str | None:
    """The passage filter: None (every comment), "any" (comments on a passage) or an id."""
    if (
        passage is None
        or passage == "any"
        or (passage.isascii() and passage.isdigit() and len(passage) < 19)
    ):
        return passage
    raise Invalid("invalid_passage", 'passage is "any" or a passage id.', "passage")


def read_page(
    conn: Connection, thread_id: int, sort: Sort, limit: int, cursor: str | None,
    display_depth: int, passage: str | None = None,
) -> tuple[list[Comment], str | None]:  # fmt: skip
    query = (
        sa.select(*PUBLIC_COLUMNS)
        .where(c.thread_id == thread_id, c.parent_id.is_(None), VISIBLE, c.pinned_at.is_(None))
        .order_by(*_order(sort))
        .limit(limit + 1)
    )
    if passage == "any":
        query = query.where(c.passage_id.is_not(None))
    elif passage is not None:
        query = query.where(c.passage_id == int(passage))
    if cursor:
        query = query.where(_after(sort, decode_cursor(sort, cursor)))
    top = list(conn.execute(query))
    next_cursor = encode_cursor(sort, top[limit - 1]) if len(top) > limit else None
    top = top[:limit]
    if not cursor:  # pinned comments come first, on the first page, in every order
        pinned = conn.execute(
            sa.select(*PUBLIC_COLUMNS)
            .where(c.thread_id == thread_id, c.parent_id.is_(None), VISIBLE,
                   c.pinned_at.is_not(None))
            .order_by(c.pinned_at.desc(), c.id.desc())
        )  # fmt: skip
        top = [*pinned, *top]
    replies: list[Any] = []
    if top:
        replies = list(
            conn.execute(
                sa.select(*PUBLIC_COLUMNS)
                .where(c.root_id.in_([r.id for r in top]), VISIBLE)
                .order_by(c.created_at, c.id)
            )
        )
    return build_tree(top, replies, display_depth), next_cursor


async def thread_page(
    kb: Kibitz, key: str, sort: str = "newest", limit: int | None = None,
    cursor: str | None = None, passage: str | None = None,
) -> Entry:  # fmt: skip
    """The serialised page, from the cache when the thread has not changed since."""
    key = thread_service.check_key(key)
    sort_ = check_sort(sort)
    limit_ = check_limit(kb, limit)
    passage = check_passage(passage)
    variant = ("page", sort_, limit_, cursor, passage)
    cached = kb.cache.get(key, variant)
    if cached is not None:
        return cached
    generation = kb.cache.generation(key)
    page = await load_page(kb, key, sort_, limit_, cursor, passage)
    entry = Entry.of(msgspec.json.encode(page))
    kb.cache.put(key, variant, entry, generation)
    return entry


async def load_page(
    kb: Kibitz, key: str, sort: Sort, limit: int, cursor: str | None, passage: str | None = None
) -> ThreadPage:
    if cursor:
        decode_cursor(sort, cursor)  # refuse a bad cursor before touching the database
    depth = kb.settings.display_depth

    def read(conn: Connection) -> ThreadPage:
        row = thread_service.get_row(conn, key)
        if row is None:
            return ThreadPage(thread_service.empty_info(key), [], None)
        items, next_cursor = read_page(conn, row.id, sort, limit, cursor, depth, passage)
        return ThreadPage(thread_service.info(row), items, next_cursor)

    return await kb.db.read(read)
