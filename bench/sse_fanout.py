"""Benchmark: 1,000 readers have one thread's event stream open on one kibitz process; a new
comment is posted; how long until each of them has it, and what does the process weigh.

    .venv/bin/python bench/sse_fanout.py [--clients 1000] [--rounds 5]

Starts ``kibitz serve`` (one process, SQLite, no Redis: the default) in a temporary
directory, opens the streams with plain asyncio sockets (a light client, so that the client
steals little CPU from the server on a small machine), then posts ``--rounds`` comments one
second apart. Latency is counted from just before the POST is sent to the moment a client
has read the comment's event; it includes the client's own work and the machine's other
load (printed), so the server's CPU time per comment (the POST, its commit, and the fan-out
to every stream) is printed too. Prints one JSON line at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

KIBITZ = str(Path(sys.executable).with_name("kibitz"))
THREAD = "/bench/fanout"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used (independent of the machine's load)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Reader:
    """One EventSource, reduced to what the benchmark needs: when did event X arrive."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.arrived: dict[int, float] = {}
        self.writer: asyncio.StreamWriter | None = None

    async def run(self, port: int) -> None:
        reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.writer.write(
            f"GET /api/v1/stream?thread={THREAD} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        buffer = b""
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            now = time.perf_counter()
            buffer += chunk
            while b"\n\n" in buffer:
                frame, buffer = buffer.split(b"\n\n", 1)
                if b"event: ready" in frame:
                    self.ready.set()
                elif b"event: comment" in frame:
                    data = frame.split(b"data: ", 1)[1]
                    comment_id = json.loads(data.split(b"\r\n")[0])["comment"]["id"]
                    self.arrived[comment_id] = now


async def bench(clients: int, rounds: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="kibitz-bench-"))
    port = free_port()
    high = ",".join(f"{a}.{w}=1000000/60" for a in ("comment", "vote") for w in ("voter", "ip"))
    env = {
        "PATH": os.environ["PATH"], "KIBITZ_DATABASE_URL": f"sqlite:///{workdir}/bench.db",
        "KIBITZ_LOG_LEVEL": "warning", "KIBITZ_RATE_LIMITS": high,
        "KIBITZ_LIVE_STREAMS_PER_CLIENT": str(clients + 10),
        "KIBITZ_WORKER_IN_PROCESS": "false", "KIBITZ_MODERATION": "none",
        "KIBITZ_MODERATION_REPEAT_SECONDS": "0", "KIBITZ_MODERATION_MIN_FILL_SECONDS": "0",
    }  # fmt: skip
    serve = [KIBITZ, "serve", "--port", str(port)]
    server = subprocess.Popen(serve, cwd=workdir, env=env)  # noqa: ASYNC220 (once, before timing)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline and server.poll() is None
                await asyncio.sleep(0.1)
            await http.post("/api/v1/comments", json={"thread": THREAD, "body": "first",
                                                      "author_name": "Bench"})  # fmt: skip
            idle_rss = rss_mib(server.pid)
            readers = [Reader() for _ in range(clients)]
            tasks = []
            opened = time.perf_counter()
            for start in range(0, clients, 100):
                batch = readers[start : start + 100]
                tasks += [asyncio.create_task(r.run(port)) for r in batch]
                await asyncio.wait_for(asyncio.gather(*(r.ready.wait() for r in batch)), 60)
            open_seconds = time.perf_counter() - opened
            await asyncio.sleep(1.0)
            open_rss = rss_mib(server.pid)
            latencies: list[float] = []
            after_ack: list[float] = []
            cpu: list[float] = []
            for i in range(rounds):
                cpu_before = cpu_seconds(server.pid)
                sent = time.perf_counter()
                r = await http.post("/api/v1/comments", json={
                    "thread": THREAD, "body": f"round {i}", "author_name": "Bench"})  # fmt: skip
                acked = time.perf_counter()
                comment_id = r.json()["id"]
                deadline = time.monotonic() + 30
                while sum(comment_id in rd.arrived for rd in readers) < clients:
                    assert time.monotonic() < deadline, "not every reader got the comment"
                    await asyncio.sleep(0.005)
                cpu.append(cpu_seconds(server.pid) - cpu_before)
                arrivals = [rd.arrived[comment_id] for rd in readers]
                latencies += [t - sent for t in arrivals]
                after_ack += [max(0.0, t - acked) for t in arrivals]
                await asyncio.sleep(1.0)
            peak_rss = rss_mib(server.pid)
            for rd in readers:
                if rd.writer is not None:
                    rd.writer.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        server.terminate()
        server.wait(timeout=30)

    def ms(values: list[float], q: float) -> float:
        return round(statistics.quantiles(values, n=1000)[int(q * 1000) - 1] * 1000, 1)

    return {
        "clients": clients,
        "rounds": rounds,
        "open_seconds": round(open_seconds, 2),
        "latency_p50_ms": ms(latencies, 0.5),
        "latency_p99_ms": ms(latencies, 0.99),
        "latency_max_ms": round(max(latencies) * 1000, 1),
        "after_post_returned_p50_ms": ms(after_ack, 0.5),
        "after_post_returned_p99_ms": ms(after_ack, 0.99),
        "server_cpu_ms_per_comment": round(statistics.median(cpu) * 1000, 1),
        "load_average": round(os.getloadavg()[0], 1),
        "rss_idle_mib": round(idle_rss, 1),
        "rss_with_streams_mib": round(open_rss, 1),
        "rss_after_rounds_mib": round(peak_rss, 1),
        "per_stream_kib": round((open_rss - idle_rss) * 1024 / clients, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    result = asyncio.run(bench(args.clients, args.rounds))
    for key, value in result.items():
        sys.stdout.write(f"{key:>28}: {value}\n")
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
