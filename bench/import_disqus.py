"""Time `kibitz import disqus` on a generated export, as a publisher runs it, and record the
wall time, the CPU time and the peak memory of the whole import: the `kibitz` process and
the worker processes it renders in, summed (sampled 20 times a second over the process tree).

    python -m bench.import_disqus                # 100,000 comments into a new SQLite file
    python -m bench.import_disqus --comments 20000 --database postgresql://postgres@127.0.0.1/bench

Writes bench/results/import-disqus.json and .md (with the machine, its load and the
versions) and prints the Markdown. The goal (issue 10): 100,000 comments in under a minute,
in bounded memory.

Memory is given two ways: the sum of the processes' resident sets (an upper bound: pages the
workers share with each other, such as Python's own code, count once per process) and the
sum of their proportional sets (PSS: shared pages divided among the processes sharing them,
what the import adds to the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench import machine

HERE = Path(__file__).parent
RESULTS = HERE / "results"
KIBITZ = str(Path(sys.executable).with_name("kibitz"))
SAMPLE_HZ = 20
PSS_EVERY = 5
GOAL_S = 60.0
MIB = 1024 * 1024


class Sampler(threading.Thread):
    """The memory of a process and all its descendants, summed, at each sample; the peaks."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.stop = threading.Event()
        self.samples = 0
        self.peak_rss = self.peak_pss = self.peak_main = 0
        self.most_processes = 0

    def _sample(self) -> None:
        try:
            tree = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        # PSS means reading each process's page map: every PSS_EVERY-th sample only
        full = self.samples % PSS_EVERY == 0
        rss = pss = 0
        alive = 0
        for p in tree:
            try:
                info = p.memory_full_info() if full else p.memory_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            alive += 1
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
            if p.pid == self.root.pid:
                self.peak_main = max(self.peak_main, info.rss)
        self.samples += 1
        self.peak_rss = max(self.peak_rss, rss)
        if full:
            self.peak_pss = max(self.peak_pss, pss)
        self.most_processes = max(self.most_processes, alive)

    def run(self) -> None:
        next_at = time.monotonic()
        while not self.stop.is_set():
            self._sample()
            next_at += 1 / SAMPLE_HZ
            self.stop.wait(max(next_at - time.monotonic(), 0))


def _markdown(r: dict[str, Any]) -> str:
    m, mem, load = r["machine"], r["peak_memory_mib"], r["load_average_1m"]
    busy = " (**the machine was busy: the time is noisy**)" if load["start"] >= 0.8 else ""
    verdict = {True: "PASS", False: "**FAIL**", None: "not judged"}[r["pass"]]
    return "\n".join([
        "# kibitz import benchmark (Disqus)",
        "",
        f"- Date: {r['date']}",
        f"- Command: `{r['command']}`",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}, "
        f"Linux {m['kernel']}",
        f"- 1-minute load average: {load['start']:.2f} at the start, {load['end']:.2f} at the "
        f"end{busy}",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in r["versions"].items()),
        f"- Data: {r['comments']:,} comments, {r['xml_mb']:.0f} MB of Disqus XML "
        f"(bench/disqus_export.py), into {r['database']}",
        "",
        "| Measure | Value |",
        "| --- | --- |",
        f"| Wall time | {r['wall_s']:.1f} s ({verdict}: goal under {GOAL_S:.0f} s at 100,000) |",
        f"| CPU time, all processes | {r['cpu_s']:.1f} s |",
        f"| Peak memory, all processes (sum of PSS) | {mem['sum_pss']:.0f} MiB |",
        f"| Peak memory, all processes (sum of RSS) | {mem['sum_rss']:.0f} MiB |",
        f"| Peak memory, the `kibitz` process alone (RSS) | {mem['main_rss']:.0f} MiB |",
        f"| Processes at most (kibitz and its workers) | {r['processes_max']} |",
        f"| Memory samples | {r['samples']:,} ({r['samples'] / r['wall_s']:.0f} a second; "
        f"PSS in every {PSS_EVERY}th) |",
        "",
        "What the import printed:",
        "",
        "```",
        r["output"],
        "```",
        "",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--comments", type=int, default=100_000)
    parser.add_argument("--database", default=None, help="default: a new SQLite file")
    parser.add_argument("--out", default="import-disqus", help="name of the results files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "disqus.xml"
        subprocess.run([sys.executable, str(HERE / "disqus_export.py"), str(export),
                        "--comments", str(args.comments)], check=True)  # fmt: skip
        env = {**os.environ, "KIBITZ_DATABASE_URL": args.database or f"sqlite:///{tmp}/b.db",
               "KIBITZ_LOG_LEVEL": "warning"}  # fmt: skip
        subprocess.run([KIBITZ, "migrate"], env=env, check=True, capture_output=True)
        size = export.stat().st_size / 1e6
        load_start = machine.load_average()
        facts = machine.facts()
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        proc = subprocess.Popen(
            [KIBITZ, "import", "disqus", str(export), "--no-progress"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        sampler = Sampler(proc.pid)
        sampler.start()
        out, err = proc.communicate()
        wall = time.monotonic() - started
        sampler.stop.set()
        sampler.join()
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            sys.exit(f"the import failed ({proc.returncode}):\n{err}")
    cpu = sum(getattr(cpu_after, f) - getattr(cpu_before, f) for f in ("ru_utime", "ru_stime"))
    versions = {k: v for k, v in machine.versions().items()
                if k in ("kibitz", "python", "sqlalchemy", "asyncpg", "sqlite")}  # fmt: skip
    versions["psutil"] = psutil.__version__
    database = "a new SQLite file" if args.database is None else re.sub(
        r"//[^@/]*@", "//", args.database)  # fmt: skip
    command = "python -m bench.import_disqus" + "".join(f" {shlex.quote(a)}" for a in sys.argv[1:])
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "comments": args.comments,
        "xml_mb": round(size, 1),
        "database": database,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "peak_memory_mib": {
            "sum_pss": round(sampler.peak_pss / MIB, 1),
            "sum_rss": round(sampler.peak_rss / MIB, 1),
            "main_rss": round(sampler.peak_main / MIB, 1),
        },
        "processes_max": sampler.most_processes,
        "samples": sampler.samples,
        "load_average_1m": {
            "start": round(load_start, 2),
            "end": round(machine.load_average(), 2),
        },
        "machine": facts,
        "versions": versions,
        "goal": f"{100_000:,} comments in under {GOAL_S:.0f} s",
        # judged only at the goal's size
        "pass": wall < GOAL_S if args.comments >= 100_000 else None,
        "output": out.strip(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(result, indent=1) + "\n")
    text = _markdown(result)
    (RESULTS / f"{args.out}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
