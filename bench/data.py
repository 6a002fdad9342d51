"""The benchmark's data: the same seeded comments for every system, generated fast.

Rows come from a seeded generator: each thread draws its shape (who replies to whom, votes,
bodies, authors) from a random generator of its own, so a thread is the same whatever else is
in the database, and threads are interleaved in time as on a live site. They are bulk-inserted
straight into kibitz's tables after the migrations made the schema (``executemany`` on
SQLite, ``COPY`` on PostgreSQL); then every counter kibitz keeps (a thread's comment_count
and last_comment_at, a comment's reply_count, up/down/score/wilson against the vote rows) is
set from the rows by SQL and checked. Databases are cached in ``bench/.data`` (PostgreSQL:
``kibitz_bench_*`` databases) under a digest of this file, the plan and the schema, so a
second run starts at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import sqlite3
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from kibitz.db import migrate
from kibitz.db.engine import Database
from kibitz.db.tables import metadata
from kibitz.markdown import render
from kibitz.services.reading import wilson_lower_bound

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / ".data"
SITE = "http://127.0.0.1:8999"  # the news site that embeds the widgets (nothing listens)
START = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
TOP_SHARE = 0.4  # a comment answers the article rather than another comment
PENDING_SHARE = 0.01  # held for moderation: stored, never shown
VOTED_SHARE = 0.25
MAX_DEPTH = 8
VOTER_POOL = 50_000
CHUNK = 20_000

COMMENT_COLUMNS = (
    "id", "thread_id", "parent_id", "root_id", "depth", "status", "author_name",
    "author_email", "author_url", "body_md", "body_html", "created_at", "up", "down",
    "score", "wilson", "reply_count", "voter_id", "ip_hash",
)  # fmt: skip
VOTE_COLUMNS = ("id", "comment_id", "voter_id", "value", "created_at", "updated_at")
THREAD_COLUMNS = ("id", "key", "title", "url", "closed", "comment_count", "version", "created_at")


@dataclass(frozen=True)
class ThreadPlan:
    key: str
    size: int


@dataclass(frozen=True)
class Plan:
    """Which threads, how big, in what order they open (a window of them is live at once)."""

    name: str  # names the cached database: plans with different names never evict each other
    threads: tuple[ThreadPlan, ...]
    kind: str = "seed"  # or "growth"
    window: int = 32
    step_seconds: int = 60

    @property
    def comments(self) -> int:
        return sum(t.size for t in self.threads)


def read_key(size: int) -> str:
    return f"/bench/read-{size}"


def mixed_key(i: int) -> str:
    return f"/bench/mixed/{i:04d}"


def seed_plan(
    name: str = "seed", *, read: int = 200, big: int = 10_000, mixed: int = 1_000
) -> Plan:
    """Scenarios 1-6: a 200-comment thread, a big one, and many small ones (2 to 18)."""
    rng = random.Random(1)
    threads = [ThreadPlan(read_key(read), read), ThreadPlan(read_key(big), big)]
    threads += [ThreadPlan(mixed_key(i), rng.randint(2, 18)) for i in range(1, mixed + 1)]
    return Plan(name, tuple(threads))


def growth_plan(total: int, probe: int = 200) -> Plan:
    """Scenario 7: the same probe thread among ``total`` comments in threads of 20 to 400."""
    rng = random.Random(2)
    filler: list[ThreadPlan] = []
    left = total - probe
    while left > 0:
        size = min(left, rng.randint(20, 400))
        filler.append(ThreadPlan(f"/bench/growth/{len(filler):06d}", size))
        left -= size
    middle = len(filler) // 2  # opened half way through the site's history
    threads = [*filler[:middle], ThreadPlan(read_key(probe), probe), *filler[middle:]]
    return Plan(f"growth-{total}", tuple(threads), kind="growth", step_seconds=30)


# -- generating rows

_TEXT = (
    "the article misses what the ministry said last year about the budget and the bases "
    "reporters should ask who pays for this and why the numbers changed so quickly I agree "
    "with the point about local elections but the second paragraph confuses two different "
    "agreements source please historians will read this differently in ten years thanks for "
    "the clear summary of a complicated story the map helps a lot more context on supply "
    "lines would be welcome interesting that nobody mentions the weather or the harvest"
)
_WORDS = _TEXT.split()


def _body(rng: random.Random) -> str:
    paragraphs = []
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(8, 45))]
        if rng.random() < 0.3:
            i = rng.randrange(len(words))
            words[i] = f"*{words[i]}*"
        if rng.random() < 0.15:
            i = rng.randrange(len(words))
            words[i] = f"[{words[i]}](https://example.org/{rng.randrange(10_000)})"
        if rng.random() < 0.1:
            i = rng.randrange(len(words))
            words[i] = f"**{words[i]}**"
        paragraphs.append(" ".join(words).capitalize() + rng.choice(".!?"))
    return "\n\n".join(paragraphs)


@dataclass(frozen=True)
class _Pools:
    bodies: list[tuple[str, str]]  # Markdown, and the HTML kibitz stores for it
    names: list[str]
    voters: list[str]


def _pools() -> _Pools:
    rng = random.Random(3)
    md = [_body(rng) for _ in range(600)]
    first = ["Anna", "Boris", "Chen", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines"]
    last = ["K.", "Novak", "Ortiz", "Petrov", "Quinn", "Rossi", "Singh", "Tanaka", "West"]
    alphabet = string.ascii_letters + string.digits
    return _Pools(
        bodies=[(m, render(m)) for m in md],
        names=[f"{f} {lst}" for f in first for lst in last],
        voters=["".join(rng.choices(alphabet, k=22)) for _ in range(VOTER_POOL)],
    )


@dataclass
class _Open:
    thread_id: int
    plan: ThreadPlan
    rng: random.Random
    emitted: int = 0
    # visible comments that later ones may answer: (id, depth, root_id)
    recent: list[tuple[int, int, int | None]] = field(default_factory=list)


@dataclass
class Rows:
    comments: list[tuple[Any, ...]]
    votes: list[tuple[Any, ...]]


def generate(plan: Plan, pools: _Pools | None = None) -> Iterator[Rows]:
    """Comment and vote rows in the order they were written, in chunks. ``created_at`` is a
    Unix time (each loader converts it); counters are left at 0 for SQL to set."""
    pools = pools or _pools()
    order = random.Random(4)
    waiting = list(enumerate(plan.threads, start=1))[::-1]
    live: list[_Open] = []
    comment_id = vote_id = 0
    chunk = Rows([], [])
    while waiting or live:
        while waiting and len(live) < plan.window:
            tid, tp = waiting.pop()
            live.append(_Open(tid, tp, random.Random(f"thread:{tp.key}")))
        i = order.randrange(len(live))
        st = live[i]
        comment_id += 1
        created = START + comment_id * plan.step_seconds
        row, votes = _comment(st, comment_id, created, pools)
        chunk.comments.append(row)
        for voter, value in votes:
            vote_id += 1
            chunk.votes.append((vote_id, comment_id, voter, value, created + 60, created + 60))
        st.emitted += 1
        if st.emitted >= st.plan.size:
            live[i] = live[-1]
            live.pop()
        if len(chunk.comments) >= CHUNK:
            yield chunk
            chunk = Rows([], [])
    if chunk.comments:
        yield chunk


def _comment(
    st: _Open, comment_id: int, created: int, pools: _Pools
) -> tuple[tuple[Any, ...], list[tuple[str, int]]]:
    r = st.rng
    parent_id = root_id = None
    depth = 0
    if st.recent and r.random() >= TOP_SHARE:
        pid, pdepth, proot = r.choice(st.recent[-24:])
        if pdepth >= MAX_DEPTH:
            pid, pdepth, proot = proot or pid, 0, None
        parent_id, depth, root_id = pid, pdepth + 1, proot or pid
    status = "pending" if r.random() < PENDING_SHARE else "approved"
    up = down = 0
    votes: list[tuple[str, int]] = []
    if status == "approved":
        st.recent.append((comment_id, depth, root_id))
        if len(st.recent) > 64:
            del st.recent[:32]
        if r.random() < VOTED_SHARE:
            up, down = r.randint(1, 5), r.choice((0, 0, 1, 2))
            picked = r.sample(range(VOTER_POOL), up + down)
            votes = [(pools.voters[k], 1 if n < up else -1) for n, k in enumerate(picked)]
    body_md, body_html = pools.bodies[r.randrange(len(pools.bodies))]
    name = pools.names[r.randrange(len(pools.names))]
    email = f"reader{r.randrange(100_000)}@example.org" if r.random() < 0.3 else None
    url = f"https://blog{r.randrange(1000)}.example.net/" if r.random() < 0.1 else None
    author_voter = pools.voters[r.randrange(VOTER_POOL)] + "a"  # never one of the voters
    ip_hash = f"{r.getrandbits(256):064x}"
    row = (
        comment_id, st.thread_id, parent_id, root_id, depth, status, name, email, url,
        body_md, body_html, created, up, down, up - down, wilson_lower_bound(up, down), 0,
        author_voter, ip_hash,
    )  # fmt: skip
    return row, votes


# -- counters and checks, the same SQL on both databases

FIX_COUNTERS = (
    """UPDATE comments SET reply_count = x.n
       FROM (SELECT parent_id AS pid, count(*) AS n FROM comments
             WHERE parent_id IS NOT NULL AND status = 'approved' GROUP BY parent_id) AS x
       WHERE comments.id = x.pid""",
    """UPDATE threads SET comment_count = x.n, last_comment_at = x.last
       FROM (SELECT thread_id AS tid, count(*) AS n, max(created_at) AS last FROM comments
             WHERE status = 'approved' GROUP BY thread_id) AS x
       WHERE threads.id = x.tid""",
)

CHECKS = {
    "thread comment_count or last_comment_at": """
        SELECT count(*) FROM threads t WHERE t.comment_count != (
            SELECT count(*) FROM comments c WHERE c.thread_id = t.id AND c.status = 'approved')
        OR t.last_comment_at IS DISTINCT FROM (
            SELECT max(c.created_at) FROM comments c
            WHERE c.thread_id = t.id AND c.status = 'approved')""",
    "comment reply_count": """
        SELECT count(*) FROM comments p WHERE p.reply_count != (
            SELECT count(*) FROM comments c WHERE c.parent_id = p.id AND c.status = 'approved')""",
    "up/down against votes": """
        SELECT count(*) FROM comments c LEFT JOIN (
            SELECT comment_id, sum(CASE WHEN value = 1 THEN 1 ELSE 0 END) AS up,
                   sum(CASE WHEN value = -1 THEN 1 ELSE 0 END) AS down
            FROM votes GROUP BY comment_id) v ON v.comment_id = c.id
        WHERE c.up != coalesce(v.up, 0) OR c.down != coalesce(v.down, 0)""",
    "tree shape": """
        SELECT count(*) FROM comments c JOIN comments p ON p.id = c.parent_id
        WHERE c.depth != p.depth + 1 OR c.root_id != coalesce(p.root_id, p.id)
           OR c.thread_id != p.thread_id OR p.status != 'approved'""",
}


def _problems(counts: dict[str, int]) -> list[str]:
    return [f"{n} rows with a wrong {what}" for what, n in counts.items() if n]


# -- what the scenarios need to know about a seeded database


@dataclass(frozen=True)
class Manifest:
    plan: str
    digest: str
    threads: int
    comments: int
    votes: int
    keys: dict[str, str]  # role -> thread key
    mixed_keys: list[str]
    vote_ids: list[int]  # approved comments of the big thread

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        return cls(**json.loads(text))


def schema_fingerprint() -> str:
    shape = [
        (t.name, [(c.name, str(c.type), c.nullable) for c in t.columns])
        for t in metadata.sorted_tables
    ]
    return json.dumps([migrate.head_revision(), shape])


def digest(plan: Plan) -> str:
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(repr(plan).encode())
    h.update(schema_fingerprint().encode())
    return h.hexdigest()[:12]


def _sqlite_time(t: int) -> str:
    # the format SQLAlchemy stores DateTime in on SQLite (naive UTC)
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _pg_time(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _timed(row: tuple[Any, ...], i: int, convert: Any) -> tuple[Any, ...]:
    return (*row[:i], convert(row[i]), *row[i + 1 :])


def _thread_rows(plan: Plan, when: Any) -> list[tuple[Any, ...]]:
    return [
        (i, tp.key, f"Bench article {tp.key}", SITE + tp.key, False, 0, 1, when(START))
        for i, tp in enumerate(plan.threads, start=1)
    ]


MANIFEST_COUNTS = {t: f"SELECT count(*) FROM {t}" for t in ("threads", "comments", "votes")}
# what the vote scenario votes on: approved comments of the big thread (thread 2 of the seed)
VOTE_IDS = (
    "SELECT id FROM comments WHERE thread_id = 2 AND status = 'approved' ORDER BY id LIMIT 20000"
)


def _manifest(plan: Plan, counts: dict[str, int], vote_ids: list[int]) -> Manifest:
    if plan.kind == "seed":
        keys = {"read": plan.threads[0].key, "big": plan.threads[1].key}
    else:
        keys = {"read": read_key(200)}
        vote_ids = []
    mixed = [t.key for t in plan.threads if t.key.startswith("/bench/mixed/")]
    return Manifest(plan.name, digest(plan), counts["threads"], counts["comments"],
                    counts["votes"], keys, mixed, vote_ids)  # fmt: skip


# -- SQLite


def sqlite_path(plan: Plan) -> Path:
    return DATA_DIR / f"{plan.name}-{digest(plan)}.sqlite"


def build_sqlite(plan: Plan, log: Any = print) -> tuple[Path, Manifest]:
    """The plan's database as a SQLite file, from the cache when it is there."""
    path = sqlite_path(plan)
    manifest_path = path.with_suffix(".json")
    if path.exists() and manifest_path.exists():
        return path, Manifest.from_json(manifest_path.read_text())
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for old in DATA_DIR.glob(f"{plan.name}-*.*"):
        old.unlink()
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    log(f"generating {plan.name}: {plan.comments:,} comments into SQLite")
    db = Database(f"sqlite:///{tmp}")
    asyncio.run(_migrate(db))
    con = sqlite3.connect(tmp, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("BEGIN")
        con.executemany(_insert("threads", THREAD_COLUMNS, "?"), _thread_rows(plan, _sqlite_time))
        created = COMMENT_COLUMNS.index("created_at")
        for rows in generate(plan):
            con.executemany(
                _insert("comments", COMMENT_COLUMNS, "?"),
                (_timed(r, created, _sqlite_time) for r in rows.comments),
            )
            con.executemany(
                _insert("votes", VOTE_COLUMNS, "?"),
                (_timed(_timed(v, 4, _sqlite_time), 5, _sqlite_time) for v in rows.votes),
            )
        for sql in FIX_COUNTERS:
            con.execute(sql)
        problems = _problems({k: con.execute(q).fetchone()[0] for k, q in CHECKS.items()})
        if problems:
            raise RuntimeError(f"{plan.name}: inconsistent data: {'; '.join(problems)}")
        con.execute("COMMIT")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        counts = {k: con.execute(q).fetchone()[0] for k, q in MANIFEST_COUNTS.items()}
        manifest = _manifest(plan, counts, [r[0] for r in con.execute(VOTE_IDS)])
    finally:
        con.close()
    tmp.rename(path)
    manifest_path.write_text(manifest.to_json())
    return path, manifest


async def _migrate(db: Database) -> None:
    try:
        await migrate.upgrade(db)
    finally:
        await db.dispose()


def _insert(table: str, columns: Sequence[str], mark: str) -> str:
    marks = ", ".join(mark if mark == "?" else f"${i}" for i in range(1, len(columns) + 1))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def copy_sqlite(src: Path, dst: Path) -> None:
    """A fresh copy for one system's run (writes in one run never reach the next)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-kibitz.gen"):
        Path(str(dst) + suffix).unlink(missing_ok=True)
    s = sqlite3.connect(src)
    d = sqlite3.connect(dst)
    try:
        s.backup(d)
    finally:
        s.close()
        d.close()


# -- PostgreSQL


def pg_dsn(url: str, database: str | None = None) -> str:
    u = make_url(url).set(drivername="postgresql")
    if database is not None:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


def pg_name(plan: Plan) -> str:
    return f"kibitz_bench_{plan.name.replace('-', '_')}_{digest(plan)}"


async def _admin(admin_url: str, *statements: str) -> list[Any]:
    conn = await asyncpg.connect(pg_dsn(admin_url), timeout=10)
    try:
        return [await conn.fetch(sql) for sql in statements]
    finally:
        await conn.close()


async def build_pg(plan: Plan, admin_url: str, log: Any = print) -> tuple[str, Manifest]:
    """The plan's database on the PostgreSQL server, kept there between runs (its manifest
    in bench/.data). It is built under a temporary name and renamed once whole."""
    name = pg_name(plan)
    manifest_path = DATA_DIR / f"{name}.json"
    prefix = name.rsplit("_", 1)[0] + "_"
    (existing,) = await _admin(
        admin_url, f"SELECT datname FROM pg_database WHERE starts_with(datname, '{prefix}')"
    )
    names = {r["datname"] for r in existing}
    if name in names and manifest_path.exists():
        return name, Manifest.from_json(manifest_path.read_text())
    for other in names:
        await _admin(admin_url, f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)')
        (DATA_DIR / f"{other}.json").unlink(missing_ok=True)
    tmp = name + "_tmp"
    await _admin(admin_url, f'DROP DATABASE IF EXISTS "{tmp}" WITH (FORCE)',
                 f'CREATE DATABASE "{tmp}"')  # fmt: skip
    log(f"generating {plan.name}: {plan.comments:,} comments into PostgreSQL")
    await _migrate(Database(pg_dsn(admin_url, tmp)))
    conn = await asyncpg.connect(pg_dsn(admin_url, tmp), timeout=10)
    try:
        async with conn.transaction():
            await conn.copy_records_to_table(
                "threads", records=_thread_rows(plan, _pg_time), columns=THREAD_COLUMNS
            )
            created = COMMENT_COLUMNS.index("created_at")
            for rows in generate(plan):
                await conn.copy_records_to_table(
                    "comments",
                    records=[_timed(r, created, _pg_time) for r in rows.comments],
                    columns=COMMENT_COLUMNS,
                )
                await conn.copy_records_to_table(
                    "votes",
                    records=[_timed(_timed(v, 4, _pg_time), 5, _pg_time) for v in rows.votes],
                    columns=VOTE_COLUMNS,
                )
            for sql in FIX_COUNTERS:
                await conn.execute(sql)
            for table in ("threads", "comments", "votes"):
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
            # statistics first: planned without them, the checks' correlated subqueries
            # scan the whole table once per row (hours at a million comments)
            await conn.execute("ANALYZE")
            problems = _problems({k: await conn.fetchval(q) for k, q in CHECKS.items()})
            if problems:
                raise RuntimeError(f"{plan.name}: inconsistent data: {'; '.join(problems)}")
        await conn.execute("VACUUM ANALYZE")  # what autovacuum does soon after a bulk load
        counts = {k: await conn.fetchval(q) for k, q in MANIFEST_COUNTS.items()}
        manifest = _manifest(plan, counts, [r[0] for r in await conn.fetch(VOTE_IDS)])
    finally:
        await conn.close()
    await _admin(admin_url, f'ALTER DATABASE "{tmp}" RENAME TO "{name}"')
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(manifest.to_json())
    return name, manifest


async def copy_pg(admin_url: str, template: str, name: str) -> None:
    """A fresh database for one system's run, copied from the seeded one."""
    await _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                 f'CREATE DATABASE "{name}" TEMPLATE "{template}"')  # fmt: skip


async def drop_pg(admin_url: str, name: str) -> None:
    await _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
