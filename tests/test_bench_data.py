"""The benchmark's seeded data is data kibitz could have written itself.

Rows go straight into the tables (bench/data.py), so these tests hold them to kibitz's own
view: every counter agrees with the rows, and kibitz's API reads the probe thread with its
replies, its votes and its pending comments hidden, the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from bench import data
from kibitz.app import create_app
from kibitz.context import Kibitz
from kibitz.settings import Settings
from tests.conftest import ADMIN_URL, ENGINES, ORIGIN, SECRET
from tests.factories import flatten

PLAN = data.growth_plan(1_500)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(data, "DATA_DIR", tmp_path)
    return tmp_path


def test_the_generator_is_the_same_every_time_and_threads_do_not_depend_on_each_other() -> None:
    first = [c for rows in data.generate(PLAN) for c in rows.comments]
    again = [c for rows in data.generate(PLAN) for c in rows.comments]
    assert first == again and len(first) == 1_500
    probe_id = next(i for i, t in enumerate(PLAN.threads, 1) if t.key == data.read_key(200))
    other = data.growth_plan(5_000)
    other_id = next(i for i, t in enumerate(other.threads, 1) if t.key == data.read_key(200))

    def shape(plan: data.Plan, thread_id: int) -> list[tuple[Any, ...]]:
        rows = [c for r in data.generate(plan) for c in r.comments if c[1] == thread_id]
        index = {c[0]: n for n, c in enumerate(rows)}
        # who answers whom, status, votes and body, by position in the thread
        return [(index.get(c[2]), c[5], c[9], c[12], c[13]) for c in rows]

    assert shape(PLAN, probe_id) == shape(other, other_id)


def _build(engine: str, worker_id: str) -> tuple[str, data.Manifest]:
    if engine == "sqlite":
        path, manifest = data.build_sqlite(PLAN, log=lambda _: None)
        return f"sqlite:///{path}", manifest
    # a database of this test worker's own (the name keys it), dropped by the test
    plan = data.Plan(f"test-{worker_id}", PLAN.threads, kind="growth")
    name, manifest = asyncio.run(data.build_pg(plan, ADMIN_URL, log=lambda _: None))
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False), manifest


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
async def test_kibitz_reads_the_seeded_probe_thread(
    engine: str, data_dir: Path, worker_id: str
) -> None:
    url, manifest = await asyncio.to_thread(_build, engine, worker_id)
    kb = Kibitz.create(Settings(database_url=url, secret_key=SECRET, public_url=ORIGIN))
    transport = httpx.ASGITransport(app=create_app(kb=kb))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
            assert manifest.comments == 1_500 and manifest.votes > 0
            params: dict[str, Any] = {"thread": data.read_key(200)}
            page = (await client.get("/api/v1/comments", params=params)).json()
            assert page["thread"]["comment_count"] == 198  # two of the 200 are held
            assert len(page["comments"]) == 50 and page["next_cursor"]
            shown = flatten(page["comments"])
            assert any(c["replies"] for c in page["comments"])
            assert any(c["votes"]["up"] for c in shown)
            params["limit"] = 200
            everything = (await client.get("/api/v1/comments", params=params)).json()
            assert len(flatten(everything["comments"])) == 198
            counts = await client.post("/api/v1/counts", json={"threads": [data.read_key(200)]})
            assert counts.json()["counts"] == {data.read_key(200): 198}
    finally:
        await kb.close()
        if engine == "postgresql":
            name = make_url(url).database
            assert name is not None
            await asyncio.to_thread(lambda: asyncio.run(data.drop_pg(ADMIN_URL, name)))


def test_the_checks_catch_a_counter_that_is_off(data_dir: Path) -> None:
    path, _ = data.build_sqlite(PLAN, log=lambda _: None)
    con = sqlite3.connect(path)
    try:
        assert all(con.execute(q).fetchone()[0] == 0 for q in data.CHECKS.values())
        con.execute("UPDATE comments SET reply_count = reply_count + 1 WHERE id = 7")
        con.execute("UPDATE threads SET comment_count = comment_count - 1 WHERE id = 3")
        con.execute("UPDATE comments SET up = up + 1, score = score + 1 WHERE id = 9")
        found = {k: con.execute(q).fetchone()[0] for k, q in data.CHECKS.items()}
    finally:
        con.close()
    assert found == {
        "thread comment_count or last_comment_at": 1,
        "comment reply_count": 1,
        "up/down against votes": 1,
        "tree shape": 0,
    }
