"""Comment counts for many threads at once, for list and home pages."""

from __future__ import annotations

import sqlalchemy as sa

from kibitz.cache import Entry
from kibitz.context import Kibitz
from kibitz.db.tables import threads
from kibitz.services import threads as thread_service
from kibitz.services.errors import Invalid

MAX_THREADS = 100
_VARIANT = ("count",)


async def counts(kb: Kibitz, keys: list[str]) -> dict[str, int]:
    """Approved comments per thread key (0 for a thread that does not exist yet)."""
    if len(keys) > MAX_THREADS:
        raise Invalid(
            "too_many_threads", f"Ask for at most {MAX_THREADS} threads at once.", "threads"
        )
    wanted = list(dict.fromkeys(thread_service.check_key(k) for k in keys))
    out: dict[str, int] = {}
    missing: list[str] = []
    for key in wanted:
        hit = kb.cache.get(key, _VARIANT)
        if hit is None:
            missing.append(key)
        else:
            out[key] = int(hit.body)
    if missing:
        generations = {key: kb.cache.generation(key) for key in missing}
        query = sa.select(threads.c.key, threads.c.comment_count).where(threads.c.key.in_(missing))
        rows = await kb.db.read(lambda conn: list(conn.execute(query)))
        found = {r.key: r.comment_count for r in rows}
        for key in missing:
            n = found.get(key, 0)
            out[key] = n
            kb.cache.put(key, _VARIANT, _count_entry(n), generations[key])
    return {key: out[key] for key in wanted}


def _count_entry(n: int) -> Entry:
    return Entry(str(n).encode(), "")
