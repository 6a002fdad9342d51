"""Driving wrk: a Lua script per load, written from Python, and its summary read back.

A load is a few groups of requests with weights (95% reads, 5% writes); each group is sent
in turn, round robin. The script's ``done`` prints one JSON line of wrk's own figures
(requests, bytes, errors, latency percentiles). A bounded load (post N comments) stops its
thread after N responses and leaves a marker file; the harness then interrupts wrk, which
reports the time it ran, so the rate is N over the time it took.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MARK = "BENCHJSON "


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # path and query, exactly as sent
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None


@dataclass(frozen=True)
class Load:
    groups: list[tuple[float, list[Request]]]
    limit: int | None = None  # stop after this many responses

    @classmethod
    def of(cls, *requests: Request, limit: int | None = None) -> Load:
        return cls([(1.0, list(requests))], limit)

    @property
    def first(self) -> Request:
        return self.groups[0][1][0]


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    bytes: int
    errors: dict[str, int]
    latency_ms: dict[str, float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "bytes": self.bytes,
            "bytes_per_response": round(self.bytes / self.requests) if self.requests else 0,
            "errors": self.errors,
            "latency_ms": self.latency_ms,
        }


def _lua_str(s: str) -> str:
    out = []
    for ch in s.encode("utf-8"):
        if ch in (0x22, 0x5C) or ch < 0x20 or ch > 0x7E:
            out.append(f"\\{ch:03d}")
        else:
            out.append(chr(ch))
    return '"' + "".join(out) + '"'


def _lua_request(r: Request) -> str:
    headers = ", ".join(f"[{_lua_str(k)}] = {_lua_str(v)}" for k, v in r.headers.items())
    body = _lua_str(r.body) if r.body is not None else "nil"
    return f"{{{_lua_str(r.method)}, {_lua_str(r.target)}, {{{headers}}}, {body}}}"


def script(load: Load, marker: Path | None) -> str:
    groups = ",\n".join(
        f"{{{weight}, {{{', '.join(_lua_request(r) for r in reqs)}}}}}"
        for weight, reqs in load.groups
    )
    lines = [
        f"local G = {{\n{groups}\n}}",
        "local groups = {}",
        "function init(args)",
        "  local total = 0",
        "  for i, g in ipairs(G) do",
        "    local reqs = {}",
        "    for j, r in ipairs(g[2]) do reqs[j] = wrk.format(r[1], r[2], r[3], r[4]) end",
        "    total = total + g[1]",
        "    groups[i] = {cum = total, reqs = reqs, n = #reqs, next = 1}",
        "  end",
        "  math.randomseed(7)",
        "end",
        "function request()",
        "  local g = groups[1]",
        "  if #groups > 1 then",
        "    local x = math.random() * groups[#groups].cum",
        "    for i = 1, #groups do",
        "      if x <= groups[i].cum then g = groups[i]; break end",
        "    end",
        "  end",
        "  local r = g.reqs[g.next]",
        "  g.next = g.next % g.n + 1",
        "  return r",
        "end",
    ]
    if load.limit is not None and marker is not None:
        lines += [
            "local seen = 0",
            "function response(status, headers, body)",
            "  seen = seen + 1",
            f"  if seen == {load.limit} then",
            f"    local f = io.open({_lua_str(str(marker))}, 'w')",
            "    f:write('done'); f:close()",
            "    wrk.thread:stop()",
            "  end",
            "end",
        ]
    lines += [
        "function done(summary, latency, requests)",
        "  local e = summary.errors",
        "  io.write(string.format('" + MARK + '{"requests":%d,"duration_us":%d,"bytes":%d,'
        '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,'
        '"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}\\n\',',
        "    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,",
        "    e.status, e.timeout, latency:percentile(50), latency:percentile(90),",
        "    latency:percentile(99), latency.max, latency.mean))",
        "end",
    ]
    return "\n".join(lines) + "\n"


def run(
    base: str, load: Load, *, seconds: float, connections: int, threads: int = 1,
    timeout_s: int = 10,
) -> Result:  # fmt: skip
    """Run wrk for ``seconds`` (a bounded load: until its limit, at most ``seconds``)."""
    with tempfile.TemporaryDirectory(prefix="kibitz-bench-") as tmp:
        marker = Path(tmp) / "done"
        lua = Path(tmp) / "load.lua"
        lua.write_text(script(load, marker if load.limit else None))
        argv = [
            "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
            f"--timeout={timeout_s}s", "-s", str(lua), base,
        ]  # fmt: skip
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if load.limit:
            _interrupt_when_done(proc, [marker], seconds)
        out, err = proc.communicate(timeout=seconds + 60)
    for line in out.splitlines():
        if line.startswith(MARK):
            d = json.loads(line[len(MARK) :])
            return Result(
                requests=d["requests"],
                seconds=d["duration_us"] / 1e6,
                bytes=d["bytes"],
                errors={k: d[k] for k in ("connect", "read", "write", "status", "timeout")},
                latency_ms={k: round(d[k] / 1000, 3) for k in ("p50", "p90", "p99", "max", "mean")},
            )
    raise RuntimeError(f"wrk printed no summary (exit {proc.returncode}): {err.strip()[-500:]}")


def _interrupt_when_done(proc: subprocess.Popen[str], markers: list[Path], seconds: float) -> None:
    deadline = time.monotonic() + seconds + 5
    while time.monotonic() < deadline and proc.poll() is None:
        if all(m.exists() for m in markers):
            os.kill(proc.pid, signal.SIGINT)
            return
        time.sleep(0.005)
