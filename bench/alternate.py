"""Before and after a setting: two kibitz servers, the second with extra settings, loaded
with one scenario in alternating slices; the server's CPU time per request and req/s.

Both servers run at once on copies of the same seed (only one is loaded at a time), so the
machine's other load moves both alike; CPU time per request moves least of all.

    .venv/bin/python -m bench.alternate KIBITZ_ACCESS_LOG=true
    .venv/bin/python -m bench.alternate KIBITZ_FAST_READS=false --workers 2 --rounds 8
"""

from __future__ import annotations

import argparse
import statistics
import sys

from bench import data, run, wrk
from bench.scenarios import LOADS
from bench.servers import Server


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.alternate", description=__doc__.split("\n")[0]
    )
    p.add_argument("settings", nargs="+", metavar="KIBITZ_NAME=VALUE")
    p.add_argument("--scenario", default="1", help="a scenario of kibitz's reads (default 1)")
    p.add_argument("--rounds", type=int, default=6, help="slices per server (default 6)")
    p.add_argument("--seconds", type=float, default=3, help="one slice (default 3)")
    p.add_argument("--workers", type=int, default=1, help="kibitz serve --workers (default 1)")
    p.add_argument("--full", action="store_true", help="the full run's seed (default: quick's)")
    a = p.parse_args(argv)
    extra = dict(s.split("=", 1) for s in a.settings)
    cfg = run.parse([] if a.full else ["--quick"])
    seed, manifest = data.build_sqlite(cfg.seed, run.log)
    load = LOADS["kibitz"](a.scenario, manifest, cfg.post_limit)
    names = ("default", " ".join(a.settings))

    def server(name: str, **env: str) -> Server:
        path = run.RUN_DIR / f"{name}.sqlite"
        data.copy_sqlite(seed, path)
        return run.kibitz_server(cfg, name, f"sqlite:///{path}", a.workers, **env)

    servers = (server("alternate-a"), server("alternate-b", **extra))
    slices: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    try:
        for s in servers:
            s.start()
            wrk.run(s.base, load, seconds=3, connections=cfg.connections)  # warm-up
        for r in range(a.rounds):
            for name, s in zip(names, servers, strict=True):
                s.wait_idle()
                before = s.cpu_seconds()
                res = wrk.run(s.base, load, seconds=a.seconds, connections=cfg.connections)
                us = (s.cpu_seconds() - before) / res.requests * 1e6 if res.requests else 0.0
                slices[name].append((res.rps, us))
                print(f"round {r + 1} {name:>24}: {res.rps:7,.0f} req/s {us:6,.0f} us/request",
                      flush=True)  # fmt: skip
    finally:
        for s in servers:
            s.stop()
    for name, rows in slices.items():
        print(f"{name:>24}: median {statistics.median(x for x, _ in rows):,.0f} req/s, "
              f"median {statistics.median(u for _, u in rows):,.0f} us/request")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
