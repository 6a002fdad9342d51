"""Run the benchmark: seed, serve each system in turn, load it with wrk, write the results.

    python -m bench             # the full run (make bench)
    python -m bench --quick     # seconds, small data, the same code paths (make bench-quick)

Systems run one at a time on loopback, each on a fresh copy of the same seeded data:
the ceiling, kibitz on SQLite and on PostgreSQL with ``kibitz serve`` (2 workers, and 1),
and Isso under gunicorn. Each scenario warms up, then runs for a fixed time (longer for a
server that takes longer than that to answer one request). Every system runs the reads, then
the mixed load, then the writes (``RUN_ORDER``), so that all of them, and the ceiling's
captured answers, start from the same seed.

An extra scenario, in a run of every scenario (no ``--scenarios``) with a kibitz among the
systems: ``bench/sse_fanout.py`` (live updates: many readers' event streams on one process,
a comment posted, how long until each has it) serves its own ``kibitz serve`` and prints
its figures as one JSON line at the end; they go into the JSON results and, one per row,
into the Markdown. A quick run asks it for fewer readers and rounds.

Exit status: 0 whatever the numbers say against the goals; 1 when the harness itself broke
(``harness_problems``: a server that did not start, a scenario answered with another status
than a correct answer has, a load without one successful response, wrk errors or non-2xx
answers on reads). What broke is printed to stderr and put at the top of the Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import ceiling, data, isso_server, machine, report, scenarios, wrk
from bench.scenarios import LOADS, RUN_ORDER, SCENARIOS, kibitz_read
from bench.servers import Server, free_port, running
from bench.wrk import Load, Request

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
RUN_DIR = data.DATA_DIR / "run"
SSE_SCRIPT = HERE / "sse_fanout.py"
# each widget loads its script and its stylesheet
WIDGET = {"kibitz": ("/embed.js", "/embed.css"), "isso": ("/js/embed.min.js", "/css/isso.css")}
# a run lasts at least this many times one answer's time (at most MAX_SECONDS)
SLOW, MAX_SECONDS = 10, 60
NO_LIMITS = ",".join(
    f"{name}=1000000/60" for name in ("comment.voter", "comment.ip", "vote.voter", "vote.ip")
)


@dataclass(frozen=True)
class Config:
    name: str
    out: str
    seed: data.Plan
    growth_sizes: tuple[int, ...]
    systems: tuple[str, ...]
    scenarios: tuple[str, ...]
    warmup: float
    seconds: float
    connections: int
    post_limit: int
    post_seconds: float
    growth_seconds: float
    pg_admin_url: str
    wait_quiet_minutes: float = 0
    kibitz_env: tuple[tuple[str, str], ...] = ()  # --kibitz-env: settings for every kibitz

    @property
    def quick(self) -> bool:
        return self.name == "quick"


SYSTEMS = (
    "ceiling",
    "kibitz-sqlite-2w",
    "kibitz-sqlite-1w",
    "kibitz-pg-2w",
    "kibitz-pg-1w",
    "isso",
)
QUICK_SYSTEMS = ("ceiling", "kibitz-sqlite-2w", "kibitz-pg-1w", "isso")
ALL_SCENARIOS = tuple("12345678")


def parse(argv: list[str]) -> Config:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small data, 1-second runs (CI)")
    p.add_argument("--systems", help=f"comma-separated subset of {', '.join(SYSTEMS)}")
    p.add_argument("--scenarios", help="comma-separated subset of 1-8")
    p.add_argument("--seconds", type=float, help="measured time per scenario")
    p.add_argument("--warmup", type=float, help="warm-up time per scenario")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    p.add_argument("--out", help="name of the results files (default: full, or quick)")
    p.add_argument(
        "--wait-quiet", type=float, default=0, metavar="MINUTES",
        help="first wait up to this long for the 1-minute load average to fall below 0.8",
    )  # fmt: skip
    p.add_argument(
        "--kibitz-env", action="append", default=[], metavar="KIBITZ_NAME=VALUE",
        help="a setting for every kibitz server of the run (repeatable), e.g. "
        "KIBITZ_FAST_READS=false to measure without the fast path",
    )  # fmt: skip
    p.add_argument(
        "--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="an admin connection to the local PostgreSQL (databases kibitz_bench_*)",
    )  # fmt: skip
    a = p.parse_args(argv)
    quick = a.quick
    systems = tuple(a.systems.split(",")) if a.systems else (QUICK_SYSTEMS if quick else SYSTEMS)
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        p.error(f"unknown systems: {', '.join(sorted(unknown))}")
    scenarios = tuple(a.scenarios.split(",")) if a.scenarios else ALL_SCENARIOS
    if set(scenarios) - set(ALL_SCENARIOS):
        p.error("scenarios are numbers from 1 to 8")
    env: list[tuple[str, str]] = []
    for item in a.kibitz_env:
        name, eq, value = item.partition("=")
        if not eq or not name.startswith("KIBITZ_"):
            p.error(f"--kibitz-env takes KIBITZ_NAME=VALUE, not {item!r}")
        env.append((name, value))
    return Config(
        name="quick" if quick else "full",
        out=a.out or ("quick" if quick else "full"),
        seed=data.seed_plan("smallseed", big=1_000, mixed=100) if quick else data.seed_plan(),
        growth_sizes=(1_000, 5_000) if quick else (10_000, 100_000, 1_000_000),
        systems=systems,
        scenarios=scenarios,
        warmup=a.warmup if a.warmup is not None else (0 if quick else 3),
        seconds=a.seconds or (1 if quick else 10),
        connections=a.connections,
        post_limit=50 if quick else 2_000,
        post_seconds=5 if quick else 30,
        growth_seconds=1 if quick else 10,
        pg_admin_url=a.postgres,
        wait_quiet_minutes=a.wait_quiet,
        kibitz_env=tuple(env),
    )


def log(msg: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {msg}", flush=True)


# -- the systems


@dataclass
class Target:
    name: str
    kind: str  # kibitz, isso, ceiling
    server: Server
    db: str = ""  # sqlite or postgresql
    workers: int = 1


def kibitz_env(database_url: str, port: int, workers: int, **extra: str) -> dict[str, str]:
    """The settings a publisher sets for production (README), on loopback, with moderation
    off and the rate limits raised, as Isso runs: the benchmark's posts are one reader's
    same comment again and again, which kibitz would otherwise hold as repeats (202)."""
    return {
        "KIBITZ_ENV": "production",
        "KIBITZ_SECRET_KEY": scenarios.SECRET_KEY,
        "KIBITZ_PUBLIC_URL": "https://comments.bench.test",
        "KIBITZ_ALLOWED_ORIGINS": data.SITE,
        "KIBITZ_DATABASE_URL": database_url,
        "KIBITZ_PORT": str(port),
        "KIBITZ_WORKERS": str(workers),
        "KIBITZ_RATE_LIMITS": NO_LIMITS,
        "KIBITZ_MODERATION": "none",
        "KIBITZ_MODERATION_REPEAT_SECONDS": "0",
        # the script posts without the widget's form token, which kibitz holds while a
        # minimum fill time is set; Isso has no such check
        "KIBITZ_MODERATION_MIN_FILL_SECONDS": "0",
        **extra,
    }


def kibitz_server(cfg: Config, name: str, database_url: str, workers: int, **extra: str) -> Server:
    """``kibitz serve`` with the production settings, the run's --kibitz-env, then
    ``extra``."""
    port = free_port()
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    return Server(
        name=name,
        argv=[str(Path(sys.executable).with_name("kibitz")), "serve"],
        port=port,
        ready_path="/healthz",
        env=kibitz_env(database_url, port, workers, **{**dict(cfg.kibitz_env), **extra}),
        workers=workers,
        cwd=RUN_DIR,  # no stray kibitz.toml
        log_path=RUN_DIR / f"{name}.log",
    )


@dataclass
class Seeds:
    manifest: data.Manifest
    sqlite: Path
    pg: str = ""
    isso: Path | None = None


def prepare(cfg: Config, target: str, seeds: Seeds) -> Target:
    """A fresh copy of the seed for one system, and the server that will serve it."""
    if target == "isso":
        assert seeds.isso is not None
        return Target("isso", "isso", isso_server.server(free_port(), seeds.isso, RUN_DIR))
    if target == "ceiling":
        port = free_port()
        argv = [sys.executable, "-m", "bench.ceiling", str(RUN_DIR / "ceiling.json"),
                "--port", str(port), "--workers", "2"]  # fmt: skip
        srv = Server("ceiling", argv, port, "/healthz", workers=2, cwd=ROOT,
                     log_path=RUN_DIR / "ceiling.log")  # fmt: skip
        return Target("ceiling", "ceiling", srv, workers=2)
    _, db, w = target.split("-")
    workers = int(w.rstrip("w"))
    if db == "sqlite":
        path = RUN_DIR / "kibitz.sqlite"
        data.copy_sqlite(seeds.sqlite, path)
        url = f"sqlite:///{path}"
    else:
        run_db = "kibitz_bench_run"
        asyncio.run(data.copy_pg(cfg.pg_admin_url, seeds.pg, run_db))
        url = data.pg_dsn(cfg.pg_admin_url, run_db)
    return Target(target, "kibitz", kibitz_server(cfg, target, url, workers), db, workers)


# -- single requests: checks, captures, widget weight


def fetch(base: str, r: Request, extra: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    req = urllib.request.Request(
        base + r.target,
        data=r.body.encode() if r.body is not None else None,
        method=r.method,
        headers={**r.headers, **(extra or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def capture_ceiling(cfg: Config, seeds: Seeds) -> dict[str, Any]:
    """kibitz's answers to every request the ceiling will be asked, from a kibitz on a copy
    of the seed, so the ceiling serves byte for byte what kibitz serves."""
    path = RUN_DIR / "capture.sqlite"
    data.copy_sqlite(seeds.sqlite, path)
    srv = kibitz_server(cfg, "capture", f"sqlite:///{path}", 1)
    exact: dict[str, Any] = {}
    fallback: dict[str, Any] = {}
    with running(srv):
        sids = [sid for sid in RUN_ORDER if SCENARIOS[sid].reads]
        loads = [LOADS["kibitz"](sid, seeds.manifest, cfg.post_limit) for sid in sids]
        requests = [Request("GET", "/healthz")]  # how the harness sees it is up
        requests += [r for load in loads for _, reqs in load.groups for r in reqs]
        posts = [r for r in requests if (r.method, r.target) == ("POST", "/api/v1/comments")]
        reads = [r for r in requests if r not in posts]  # counts are a POST that reads
        # every read answered from the seed, as the systems have it when they run these
        # scenarios (RUN_ORDER), before the one post that would change what they show
        for r in [*reads, *posts]:
            key = f"{r.method} {r.target}"
            if key in exact or f"{r.method} {r.target.split('?')[0]}" in fallback:
                continue
            status, headers, body = fetch(srv.base, r)
            canned = ceiling.encode(status, list(headers.items()), body)
            if r.target == "/api/v1/comments" and r.method == "POST":
                fallback[key] = canned  # one posted comment stands for all
            else:
                exact[key] = canned
    out = {"exact": exact, "fallback": fallback}
    (RUN_DIR / "ceiling.json").write_text(json.dumps(out))
    return out


def widget_weight(base: str, kind: str) -> dict[str, Any]:
    import gzip

    files = {}
    for path in WIDGET[kind]:
        status, headers, body = fetch(base, Request("GET", path), {"Accept-Encoding": "gzip"})
        served_gzip = headers.get("Content-Encoding") == "gzip"
        raw = gzip.decompress(body) if served_gzip else body
        files[path] = {
            "status": status,
            "bytes": len(raw),
            # what travels: the server's own gzip, or gzip -9 where it sends none (Isso's
            # deployment would compress at its proxy)
            "gzip_bytes": len(body) if served_gzip else len(gzip.compress(raw, 9, mtime=0)),
            "served_gzip": served_gzip,
        }
    return {
        "files": files,
        "gzip_bytes": sum(f["gzip_bytes"] for f in files.values()),
        "bytes": sum(f["bytes"] for f in files.values()),
    }


# -- running scenarios


@dataclass
class Outcome:
    runs: list[dict[str, Any]] = field(default_factory=list)
    growth: list[dict[str, Any]] = field(default_factory=list)
    paired: list[dict[str, Any]] = field(default_factory=list)
    widget: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # parts of the run that broke


@contextlib.contextmanager
def attempt(out: Outcome, what: str) -> Iterator[None]:
    """Run one part of the benchmark (a system, the paired runs, the growth); when it breaks
    (a server that does not start, wrk that prints nothing), say so, note it for the exit
    status and go on with the rest."""
    try:
        yield
    except Exception as e:
        out.failures.append(f"{what}: {type(e).__name__}: {e}")
        log(f"BROKEN {what}: {type(e).__name__}: {e}")


# wrk's error counts that mean the harness, not the server's speed, is wrong: refused or
# dropped connections and non-2xx/3xx answers ("status"); a timeout is a slow server
BROKEN_ERRORS = ("connect", "read", "write", "status")


def _answered(result: dict[str, Any]) -> int:
    """Responses with a 2xx or 3xx status (wrk counts the others as status errors)."""
    return int(result["requests"]) - int(result["errors"].get("status", 0))


def _wrk_problems(what: str, result: dict[str, Any], reads: bool) -> list[str]:
    out = []
    if _answered(result) <= 0:
        out.append(f"{what}: no successful response ({result['requests']} responses, "
                   f"errors {result['errors']})")  # fmt: skip
    elif reads:
        bad = {k: v for k, v in result["errors"].items() if k in BROKEN_ERRORS and v}
        if bad:
            out.append(f"{what}: wrk errors on reads {bad} (status: non-2xx/3xx answers)")
    return out


def _not_the_same_data(runs: list[dict[str, Any]]) -> list[str]:
    """kibitz's first answer in a scenario the ceiling also ran must be the ceiling's, byte
    for byte: the ceiling replays answers captured from the seed, so a difference means a
    system read other data than the seed (an earlier scenario's writes)."""
    out = []
    top = {r["scenario"]: r for r in runs if r["system"] == "ceiling"}
    for r in runs:
        theirs = top.get(r["scenario"])
        if (
            theirs is None
            or not r["system"].startswith("kibitz-")
            or r["request"] != theirs["request"]
        ):
            continue
        if r.get("response_sha256") != theirs.get("response_sha256"):
            out.append(
                f"{r['system']} scenario {r['scenario']}: its first answer "
                f"({r['response_bytes']:,} bytes) is not the ceiling's "
                f"({theirs['response_bytes']:,} bytes, captured from the seed): not the same data"
            )
    return out


def harness_problems(results: dict[str, Any]) -> list[str]:
    """What shows that the harness itself is broken, which makes the run exit non-zero: a
    part that could not run (a server that did not start), a scenario whose first request
    got another status than a correct answer has, a load without one successful response,
    wrk errors or non-2xx answers on requests that only read. Never a number against a
    goal: slow servers, timeouts, errors while writing (the posting goal counts them)."""
    out = list(results.get("failures", []))
    for r in results["runs"]:
        what = f"{r['system']} scenario {r['scenario']}"
        if "problem" in r:
            out.append(f"{what}: {r['problem']}")
        out += _wrk_problems(what, r["result"], reads=not SCENARIOS[r["scenario"]].writes)
    out += _not_the_same_data(results["runs"])
    for p in results.get("paired", []):
        for system, slices in p["rps"].items():
            if not all(slices):
                out.append(f"{system} scenario {p['scenario']} taking turns with the ceiling: "
                           f"a slice without responses ({slices})")  # fmt: skip
        for system, errors in p.get("errors", {}).items():
            if any(errors):
                out.append(f"{system} scenario {p['scenario']} taking turns with the ceiling: "
                           f"wrk errors on reads in its slices ({errors})")  # fmt: skip
    for g in results.get("growth", []):
        what = f"growth {g['db']} {g['comments']:,}"
        if g["first_status"] != 200:
            out.append(f"{what}: answered {g['first_status']}, expected 200")
        out += _wrk_problems(what, g["result"], reads=True)
    return out


def run_scenario(cfg: Config, t: Target, sid: str, load: Load) -> dict[str, Any]:
    scenario = SCENARIOS[sid]
    first = load.first
    t.server.wait_idle()
    asked = time.monotonic()
    status, _, body = fetch(t.server.base, first)
    one = time.monotonic() - asked
    row: dict[str, Any] = {
        "system": t.name,
        "scenario": sid,
        "request": f"{first.method} {first.target}",
        "first_status": status,
        "response_bytes": len(body),
        "response_sha256": hashlib.sha256(body).hexdigest(),
        "load_average_1m": round(machine.load_average(), 2),
    }
    if status != scenario.expect:
        row["problem"] = f"answered {status}, expected {scenario.expect}: {body[:200]!r}"
        log(f"  {t.name} scenario {sid}: {row['problem']}")
    bounded = load.limit is not None
    if cfg.warmup:
        warm = Load(load.groups, min(load.limit, 50) if bounded and load.limit else None)
        wrk.run(t.server.base, warm, seconds=cfg.warmup, connections=cfg.connections)
        t.server.wait_idle()
    seconds = cfg.post_seconds if bounded else cfg.seconds
    if SLOW * one > seconds:
        # a server that takes longer to answer one request than the run lasts would end it
        # with nothing answered (Isso on a busy machine, in a quick run): run long enough
        seconds = min(MAX_SECONDS, math.ceil(SLOW * one))
        row["seconds_extended"] = seconds
        log(f"  {t.name} scenario {sid}: one answer took {one:.1f} s; measuring {seconds} s")
    t.server.reset_peaks()
    cpu_before, restarts = t.server.cpu_by_process(), t.server.restarts()
    result = wrk.run(t.server.base, load, seconds=seconds, connections=cfg.connections)
    cpu = _cpu_used(cpu_before, t.server.cpu_by_process())
    if t.server.restarts() > restarts:
        row["worker_restarts"] = t.server.restarts() - restarts
    mem = t.server.memory()
    row["result"] = result.to_dict()
    row["peak_rss_bytes"] = {"max_worker": mem.max_worker, "total": mem.total}
    # the server's CPU time per answer: what a shared machine's load moves least
    used = sum(cpu)
    row["cpu_us_per_request"] = round(used / result.requests * 1e6) if result.requests else 0
    if t.workers > 1 and used > 0:
        # the connections a load opens at once can all land on one worker, which then serves
        # alone for the whole run (1.0: one worker did all the work)
        row["busiest_worker_share"] = round(max(cpu) / used, 2)
    if bounded:
        row["limit"] = load.limit
    log(
        f"  {t.name:17} {sid}: {result.rps:9.1f} req/s  p50 {result.latency_ms['p50']:7.2f} ms"
        f"  p99 {result.latency_ms['p99']:7.2f} ms  errors {result.error_count}"
        f"  rss {mem.max_worker / 1e6:.0f} MB  cpu {row['cpu_us_per_request']} us/req"
        + (
            f"  busiest worker {row['busiest_worker_share']:.0%}"
            if "busiest_worker_share" in row
            else ""
        )
    )
    return row


def _cpu_used(before: dict[int, float], after: dict[int, float]) -> list[float]:
    """CPU seconds each process used in between (a process started meanwhile: all of it)."""
    return [used - before.get(pid, 0.0) for pid, used in after.items()]


def run_system(cfg: Config, target: str, seeds: Seeds, out: Outcome) -> None:
    with attempt(out, target):
        _run_system(cfg, target, seeds, out)


def _run_system(cfg: Config, target: str, seeds: Seeds, out: Outcome) -> None:
    t = prepare(cfg, target, seeds)
    log(f"{t.name}: {shlex.join(t.server.argv)}")
    with running(t.server):
        if t.kind in WIDGET and "8" in cfg.scenarios and t.kind not in out.widget:
            out.widget[t.kind] = widget_weight(t.server.base, t.kind)
        for sid in RUN_ORDER:
            if sid not in cfg.scenarios or (t.kind == "ceiling" and not SCENARIOS[sid].reads):
                continue
            load = LOADS[t.kind](sid, seeds.manifest, cfg.post_limit)
            out.runs.append(run_scenario(cfg, t, sid, load))


SSE_SYSTEM = "kibitz serve, 1 process, SQLite"


def sse_fanout(cfg: Config) -> dict[str, Any]:
    """The live-update fan-out (see the module doc): its figures, as a table for the report.
    Its own server, so it runs once, not per system."""
    argv = [sys.executable, str(SSE_SCRIPT)]
    if cfg.quick:
        argv += ["--clients", "100", "--rounds", "2"]
    log(f"sse fan-out: {shlex.join(argv[1:])}")
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines or not lines[-1].startswith("{"):
        tail = (proc.stderr or proc.stdout).strip()[-800:]
        raise RuntimeError(f"{SSE_SCRIPT.name} exited with {proc.returncode}: {tail}")
    figures: dict[str, Any] = json.loads(lines[-1])
    log("  " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    return {**figures, "table": [{"name": k, "value": v} for k, v in figures.items()]}


def run_paired(cfg: Config, seeds: Seeds, out: Outcome) -> None:
    """kibitz against the ceiling in alternating slices, for the goals that compare them.

    On a shared machine the load from elsewhere changes from one minute to the next, so two
    runs minutes apart compare the machine's moods as much as the servers. Here both servers
    are up (only one is loaded at a time) and take turns: five rounds of a slice each, and
    the goal reads the median of the five ratios."""
    rounds = 2 if cfg.quick else 5
    slice_s = cfg.seconds if cfg.quick else 2
    reads: list[str] = [sid for sid in ("1", "2", "3") if sid in cfg.scenarios]
    for target in (s for s in cfg.systems if s.startswith("kibitz-") and s.endswith("-2w")):
        with attempt(out, f"{target} taking turns with the ceiling"):
            _run_pair(cfg, seeds, target, reads, rounds, slice_s, out)


def _run_pair(
    cfg: Config, seeds: Seeds, target: str, reads: list[str], rounds: int, slice_s: float,
    out: Outcome,
) -> None:  # fmt: skip
    top = prepare(cfg, "ceiling", seeds)
    mine = prepare(cfg, target, seeds)
    log(f"{target} and the ceiling, taking turns")
    with running(top.server), running(mine.server):
        for sid in reads:
            load = LOADS["kibitz"](sid, seeds.manifest, cfg.post_limit)
            for t in (top, mine):
                t.server.wait_idle()
                if cfg.warmup:
                    wrk.run(t.server.base, load, seconds=cfg.warmup, connections=cfg.connections)
            slices: dict[str, list[float]] = {"ceiling": [], target: []}
            errors: dict[str, list[int]] = {"ceiling": [], target: []}
            for _ in range(rounds):
                for t in (top, mine):
                    t.server.wait_idle()
                    r = wrk.run(t.server.base, load, seconds=slice_s, connections=cfg.connections)
                    slices["ceiling" if t is top else target].append(r.rps)
                    errors["ceiling" if t is top else target].append(
                        sum(r.errors[k] for k in BROKEN_ERRORS)
                    )
            ratios = [k / c for c, k in zip(slices["ceiling"], slices[target], strict=True) if c]
            median = round(statistics.median(ratios), 3)
            row = {"system": target, "scenario": sid, "rounds": rounds, "slice_s": slice_s,
                   "rps": slices, "errors": errors, "ratio_median": median}  # fmt: skip
            out.paired.append(row)
            log(f"  {target} {sid}: {row['ratio_median']:.0%} of the ceiling "
                f"(ratios {', '.join(f'{x:.0%}' for x in ratios)})")  # fmt: skip


def run_growth(cfg: Config, out: Outcome) -> None:
    """First-page read latency as the database grows, with the response cache off, so that
    every request runs the queries (with it on, every size answers from memory)."""
    dbs = [d for d, prefix in (("sqlite", "kibitz-sqlite"), ("postgresql", "kibitz-pg"))
           if any(s.startswith(prefix) for s in cfg.systems)]  # fmt: skip
    for size in cfg.growth_sizes:
        plan = data.growth_plan(size)
        for db in dbs:
            with attempt(out, f"growth {db} {size:,}"):
                _run_growth(cfg, plan, size, db, out)


def _run_growth(cfg: Config, plan: data.Plan, size: int, db: str, out: Outcome) -> None:
    if db == "sqlite":
        path, manifest = data.build_sqlite(plan, log)
        url = f"sqlite:///{path}"
    else:
        name, manifest = asyncio.run(data.build_pg(plan, cfg.pg_admin_url, log))
        url = data.pg_dsn(cfg.pg_admin_url, name)
    srv = kibitz_server(cfg, f"growth-{db}-{size}", url, 2, KIBITZ_CACHE_MAX_BYTES="1")
    load = Load.of(kibitz_read(manifest.keys["read"]))
    with running(srv):
        srv.wait_idle()
        status, _, body = fetch(srv.base, load.first)
        if cfg.warmup:
            wrk.run(srv.base, load, seconds=cfg.warmup, connections=1)
        result = wrk.run(srv.base, load, seconds=cfg.growth_seconds, connections=1)
    row = {
        "system": f"kibitz-{'pg' if db == 'postgresql' else db}-2w",
        "db": db,
        "comments": manifest.comments,
        "request": f"GET {load.first.target}",
        "first_status": status,
        "response_bytes": len(body),
        "result": result.to_dict(),
        "load_average_1m": round(machine.load_average(), 2),
    }
    out.growth.append(row)
    log(f"  growth {db:10} {manifest.comments:>9,}: p50 {result.latency_ms['p50']:.2f} ms"
        f"  p99 {result.latency_ms['p99']:.2f} ms  status {status}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    cfg = parse(sys.argv[1:] if argv is None else argv)
    if shutil.which("wrk") is None:
        sys.exit("bench: wrk is missing; `make bench` installs it (apt-get install -y wrk)")
    waited = wait_quiet(cfg.wait_quiet_minutes)
    started = datetime.now(UTC)
    t0 = time.monotonic()
    log(f"{cfg.name} run: systems {', '.join(cfg.systems)}; load average "
        f"{machine.load_average():.2f}")  # fmt: skip
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    versions = machine.versions()
    facts = machine.facts()
    seed_path, manifest = data.build_sqlite(cfg.seed, log)
    seeds = Seeds(manifest, seed_path)
    if any("-pg-" in s for s in cfg.systems):
        seeds.pg, _ = asyncio.run(data.build_pg(cfg.seed, cfg.pg_admin_url, log))
        versions["postgresql"] = pg_version(cfg.pg_admin_url)
    if "isso" in cfg.systems:
        isso_server.install(log)
        seeds.isso = isso_server.seed_db(seed_path, manifest.digest, log)
        versions.update(isso_server.versions())
    out = Outcome()
    systems = list(cfg.systems)
    if "ceiling" in systems:
        (RUN_DIR / "ceiling.json").unlink(missing_ok=True)  # never an earlier run's answers
        with attempt(out, "capturing kibitz's answers for the ceiling"):
            capture_ceiling(cfg, seeds)
        if not (RUN_DIR / "ceiling.json").exists():
            systems.remove("ceiling")
    for target in systems:
        run_system(cfg, target, seeds, out)
    if "ceiling" in systems:
        run_paired(cfg, seeds, out)
    every = set(cfg.scenarios) == set(ALL_SCENARIOS)
    if every and SSE_SCRIPT.exists() and any(s.startswith("kibitz-") for s in systems):
        with attempt(out, "sse fan-out"):
            out.extras["sse_fanout"] = {SSE_SYSTEM: sse_fanout(cfg)}
    if "7" in cfg.scenarios:
        run_growth(cfg, out)
    if any("-pg-" in s for s in cfg.systems):
        asyncio.run(data.drop_pg(cfg.pg_admin_url, "kibitz_bench_run"))
    results: dict[str, Any] = {
        "name": cfg.name,
        "command": " ".join(["python -m bench", *(sys.argv[1:] if argv is None else argv)]),
        "started": started.isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - t0, 1),
        "waited_for_quiet_s": waited,
        "machine": {**facts, "load_average_1m_end": round(machine.load_average(), 2)},
        "versions": versions,
        "settings": {
            "warmup_s": cfg.warmup,
            "seconds": cfg.seconds,
            "connections": cfg.connections,
            "wrk_threads": 1,
            "post_limit": cfg.post_limit,
            "post_seconds": cfg.post_seconds,
            "growth_seconds": cfg.growth_seconds,
            "growth_connections": 1,
            "kibitz_env": dict(cfg.kibitz_env),
        },
        "data": {
            "seed": {
                "comments": manifest.comments,
                "threads": manifest.threads,
                "votes": manifest.votes,
                "digest": manifest.digest,
            },
            "keys": manifest.keys,
        },
        "runs": out.runs,
        "growth": out.growth,
        "paired": out.paired,
        "widget": out.widget,
        "extras": out.extras,
        "failures": out.failures,
    }
    return finish(results, cfg.out)


def finish(results: dict[str, Any], name: str) -> int:
    """The goals, the results files and the exit status: non-zero when the harness itself
    broke (``harness_problems``), never because of a number."""
    goals = report.goals(results)
    results["goals"] = goals
    problems = harness_problems(results)
    results["problems"] = problems
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n")
    (RESULTS / f"{name}.md").write_text(report.markdown(results))
    log(f"wrote {RESULTS / name}.json and .md in {results['duration_s']:.0f}s")
    print(report.goals_table(goals))
    if problems:
        # the numbers above come from a broken harness: fail, whatever they say
        count = f"{len(problems)} problem{'' if len(problems) == 1 else 's'}"
        print(f"\nbench: the harness itself broke ({count}); fix it, then measure again:",
              file=sys.stderr)  # fmt: skip
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    return 0


def wait_quiet(minutes: float, below: float = report.BUSY_LOAD) -> float | None:
    """Wait for the machine to be quiet; the seconds waited, or None if it never was."""
    if minutes <= 0:
        return 0.0
    start = time.monotonic()
    while machine.load_average() >= below:
        if time.monotonic() - start > minutes * 60:
            log(f"the load average stayed at {machine.load_average():.2f}; measuring anyway")
            return None
        time.sleep(15)
    return round(time.monotonic() - start)


def pg_version(admin_url: str) -> str:
    import asyncpg

    async def ask() -> str:
        conn = await asyncpg.connect(data.pg_dsn(admin_url), timeout=10)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    return asyncio.run(ask())
