"""Made-up benchmark results, shaped as bench/run.py writes them, for the report's and the
exit status's tests: every goal passes and nothing is broken unless told otherwise."""

from __future__ import annotations

from typing import Any

MB = 10**6


def _run(
    system: str, sid: str, rps: float, *, errors: int = 0, rss: int = 80 * MB
) -> dict[str, Any]:
    return {
        "system": system,
        "scenario": sid,
        "request": "GET /api/v1/comments?thread=%2Fbench%2Fread-200&sort=newest",
        "first_status": 201 if sid == "4" else 200,
        "response_bytes": 58_657,
        "load_average_1m": 0.31,
        "result": {
            "requests": int(rps * 10),
            "seconds": 10.0,
            "rps": rps,
            "bytes": 1,
            "bytes_per_response": 1,
            "errors": {"connect": 0, "read": 0, "write": 0, "status": errors, "timeout": 0},
            "latency_ms": {"p50": 1.0, "p90": 2.0, "p99": 3.0, "max": 4.0, "mean": 1.2},
        },
        "peak_rss_bytes": {"max_worker": rss, "total": 2 * rss},
    }


def _growth(db: str, comments: int, p50: float) -> dict[str, Any]:
    system = "kibitz-sqlite-2w" if db == "sqlite" else "kibitz-pg-2w"
    row = _run(system, "7", 100.0)
    row["result"]["latency_ms"]["p50"] = p50
    return {**row, "db": db, "comments": comments}


def results(
    *,
    read_share: float = 0.9,
    counts_share: float = 0.9,
    isso_factor: float = 1_000,
    post_factor: float = 10,
    post_errors: int = 0,
    growth: float = 1.0,
    rss: int = 100 * MB,
    widget: int = 10_000,
    isso_widget: int = 20_000,
) -> dict[str, Any]:
    """Results in which every goal passes unless told otherwise."""
    isso_read, isso_post = 10.0, 20.0
    runs = [
        _run("ceiling", "1", 5_000.0, rss=40 * MB),
        _run("kibitz-sqlite-2w", "1", isso_read * isso_factor, rss=rss),
        _run("kibitz-sqlite-2w", "4", isso_post * post_factor, errors=post_errors),
        _run("isso", "1", isso_read, rss=400 * MB),  # Isso's memory is no goal of ours
        _run("isso", "4", isso_post, rss=400 * MB),
    ]
    paired = [
        {"system": "kibitz-sqlite-2w", "scenario": sid, "rounds": 5, "slice_s": 2,
         "rps": {"ceiling": [1.0], "kibitz-sqlite-2w": [share]},
         "errors": {"ceiling": [0], "kibitz-sqlite-2w": [0]}, "ratio_median": share}
        for sid, share in (("1", read_share), ("2", read_share), ("3", counts_share))
    ]  # fmt: skip
    return {
        "name": "quick",
        "command": "python -m bench --quick --systems ceiling,kibitz-sqlite-2w,isso",
        "started": "2026-11-27T10:00:00+00:00",
        "duration_s": 42.0,
        "waited_for_quiet_s": 0.0,
        "machine": {
            "cpu": "Test CPU 9000",
            "cores": 2,
            "memory_gib": 23.5,
            "os": "Debian GNU/Linux 12",
            "kernel": "6.1.0-test",
            "hostname": "bench",
            "load_average_1m": 0.2,
            "load_average_1m_end": 0.3,
        },
        "versions": {"kibitz": "0.1.0 (abc1234)", "python": "3.11.7", "wrk": "wrk 4.1.0"},
        "settings": {
            "warmup_s": 0,
            "seconds": 1,
            "connections": 32,
            "wrk_threads": 1,
            "post_limit": 50,
            "post_seconds": 5,
            "growth_seconds": 1,
            "growth_connections": 1,
        },
        "data": {"seed": {"comments": 1_000, "threads": 10, "votes": 100, "digest": "x"}},
        "runs": runs,
        "growth": [_growth("sqlite", 10_000, 2.0), _growth("sqlite", 1_000_000, 2.0 * growth)],
        "paired": paired,
        "widget": {
            "kibitz": {
                "files": ["/embed.js", "/embed.css"],
                "bytes": 3 * widget,
                "gzip_bytes": widget,
            },
            "isso": {
                "files": ["/js/embed.min.js"],
                "bytes": 3 * isso_widget,
                "gzip_bytes": isso_widget,
            },
        },
        "extras": {},
        "failures": [],
    }
