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

    def plan(conn: Any) -> str:
        sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "sqlite":
            return " | ".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        return " | ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))

    text = await kb.db.read(plan)
    assert INDEX_FOR[sort] in text
    # no sort step: rows come in index order
    assert "TEMP B-TREE" not in text and "Sort" not in text
