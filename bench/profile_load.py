"""Profile kibitz under one scenario's load: where a worker spends its CPU time.

Serves kibitz on a copy of the benchmark's seed exactly as ``python -m bench`` does (same
command, same settings), warms it up, then loads it with wrk while py-spy samples every
process of the server (``py-spy record --subprocesses --nonblocking``: the server is not
paused to be sampled). Prints the functions with the most samples, on their own (self) and
with what they call (total), as shares of the samples in which a worker was running Python
(waiting for the network is not sampled).

    .venv/bin/pip install -e '.[bench]'     # py-spy
    .venv/bin/python -m bench.profile_load --scenario 1 --seconds 15
    .venv/bin/python -m bench.profile_load --scenario 1 --kibitz-env KIBITZ_FAST_READS=false

The raw stacks (py-spy's collapsed format, one stack and its count a line) are kept in
``bench/.data/run/profile-<scenario>.txt``; ``--top`` sets how many functions are printed.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench import data, run, wrk
from bench.scenarios import LOADS
from bench.servers import running

PROCESS = re.compile(r'process (\d+):"[^"]*";?')


@dataclass
class Profile:
    samples: int = 0
    own: collections.Counter[str] = field(default_factory=collections.Counter)
    inside: collections.Counter[str] = field(default_factory=collections.Counter)
    per_process: collections.Counter[int] = field(default_factory=collections.Counter)
    starting: collections.Counter[int] = field(default_factory=collections.Counter)


def parse_stacks(text: str) -> Profile:
    """py-spy's collapsed stacks: per function its own samples and those it is on the stack
    of (once per sample, however often it recurses); per process its samples, and those in
    which it was still starting (a spawned worker importing kibitz)."""
    out = Profile()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        pids = [int(pid) for pid in PROCESS.findall(stack)]
        frames = [_short(f) for f in PROCESS.sub("", stack).split(";") if f]
        if not frames:
            continue
        out.samples += n
        out.own[frames[-1]] += n
        for frame in set(frames):
            out.inside[frame] += n
        if pids:
            out.per_process[pids[-1]] += n
            if any(f.startswith("_fixup_main_from_path ") for f in frames):
                out.starting[pids[-1]] += n
    return out


def _short(frame: str) -> str:
    """``handle (kibitz/web/fastpath.py:72)`` with the path from the package on."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "/kibitz/kibitz/", "/bench7/", "/lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{name} ({where})" if where else name


def table(total: int, counts: collections.Counter[str], top: int) -> str:
    lines = ["| share | samples | function |", "| ---: | ---: | --- |"]
    for frame, n in counts.most_common(top):
        lines.append(f"| {n / total:.1%} | {n:,} | `{frame}` |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.profile_load", description=__doc__.split("\n")[0]
    )
    p.add_argument("--scenario", default="1", help="a scenario of kibitz's (default 1)")
    p.add_argument("--seconds", type=float, default=15, help="sampled load (default 15)")
    p.add_argument("--warmup", type=float, default=3, help="load before sampling (default 3)")
    p.add_argument("--workers", type=int, default=2, help="kibitz serve --workers (default 2)")
    p.add_argument("--rate", type=int, default=200, help="samples per second (default 200)")
    p.add_argument("--top", type=int, default=25, help="functions to print (default 25)")
    p.add_argument("--quick", action="store_true", help="the quick run's smaller seed")
    p.add_argument("--kibitz-env", action="append", default=[], metavar="KIBITZ_NAME=VALUE")
    a = p.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        sys.exit("bench.profile_load: py-spy is missing; .venv/bin/pip install -e '.[bench]'")
    cfg = run.parse((["--quick"] if a.quick else []) + [f"--kibitz-env={e}" for e in a.kibitz_env])
    seed, manifest = data.build_sqlite(cfg.seed, run.log)
    path = run.RUN_DIR / "profile.sqlite"
    data.copy_sqlite(seed, path)
    srv = run.kibitz_server(cfg, "profile", f"sqlite:///{path}", a.workers)
    load = LOADS["kibitz"](a.scenario, manifest, cfg.post_limit)
    out = run.RUN_DIR / f"profile-{a.scenario}.txt"
    if srv.log_path:
        srv.log_path.unlink(missing_ok=True)
    with running(srv):
        assert srv.proc is not None
        if a.warmup:
            wrk.run(srv.base, load, seconds=a.warmup, connections=cfg.connections)
        srv.wait_idle()
        argv_spy = [spy, "record", "--pid", str(srv.proc.pid), "--subprocesses", "--nonblocking",
                    "--rate", str(a.rate), "--duration", str(round(a.seconds)), "--format", "raw",
                    "--output", str(out)]  # fmt: skip
        run.log(" ".join(argv_spy[1:]))
        sampler = subprocess.Popen(argv_spy, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        result = wrk.run(srv.base, load, seconds=a.seconds, connections=cfg.connections)
        _, err = sampler.communicate(timeout=a.seconds + 60)
    if sampler.returncode != 0 or not out.exists():
        sys.exit(f"bench.profile_load: py-spy failed ({sampler.returncode}): {err.decode()[-500:]}")
    lat = result.latency_ms
    run.log(f"while sampled: {result.rps:,.0f} req/s, p50 {lat['p50']} ms, p99 {lat['p99']} ms, "
            f"errors {result.error_count}")  # fmt: skip
    prof = parse_stacks(out.read_text())
    print(f"\n{prof.samples:,} samples in {out}; per process (of them starting: importing):")
    for pid, n in prof.per_process.most_common():
        print(f"  {pid}: {n:,} ({prof.starting[pid]:,})")
    print("\nSelf (the function itself):\n")
    print(table(prof.samples, prof.own, a.top))
    print("\nTotal (the function and what it calls):\n")
    print(table(prof.samples, prof.inside, a.top))
    restarts = srv.log_path.read_text().count("] died") if srv.log_path else 0
    if restarts:
        print(f"\n{restarts} workers were killed and started again (see {srv.log_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
