"""The first page of a thread reads an index in every sort order, however long the thread."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from kibitz.db.tables import comments
from kibitz.services.reading import VISIBLE, _order

c = comments.c
INDEX_FOR = {
    "newest": "ix_comments_top_created",
    "oldest": "ix_comments_top_created",
    "most_voted": "ix_comments_top_score",
    "best": "ix_comments_top_wilson",
}


@pytest.mark.parametrize("sort", list(INDEX_FOR))
async def test_first_page_query_uses_its_index_without_sorting(kb: Any, sort: str) -> None:
    query = (
        sa.select(comments)
        .where(c.thread_id == 1, c.parent_id.is_(None), VISIBLE)
        .order_by(*_order(sort))  # type: ignore[arg-type]
        .limit(51)
    )
    async with kb.db.read() as conn:
        sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "sqlite":
            plan = " | ".join(
                r[-1] for r in await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)
            )
            assert INDEX_FOR[sort] in plan
            assert "TEMP B-TREE" not in plan  # no sort step: rows come in index order
        else:
            await conn.exec_driver_sql("SET enable_seqscan = off")
            plan = " | ".join(r[0] for r in await conn.exec_driver_sql("EXPLAIN " + sql))
            assert INDEX_FOR[sort] in plan
            assert "Sort" not in plan
