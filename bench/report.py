"""Goals and the Markdown table: PASS or FAIL beside each number, never an exit code."""

from __future__ import annotations

from typing import Any

from bench.scenarios import SCENARIOS

READ_SHARE = {"1": 0.70, "2": 0.70, "3": 0.50}
ISSO_READ_FACTOR = 100
ISSO_POST_FACTOR = 5
GROWTH_FACTOR = 1.5
RSS_LIMIT_MB = 150  # the "150 MB": 150 * 10**6 bytes, not MiB
MB = 10**6
WIDGET_LIMIT = 15_000  # bytes, gzip, JS and CSS together
BUSY_LOAD = 0.8


def _run(results: dict[str, Any], system: str, sid: str) -> dict[str, Any] | None:
    return next(
        (r for r in results["runs"] if r["system"] == system and r["scenario"] == sid), None
    )


def _rps(results: dict[str, Any], system: str, sid: str) -> float | None:
    run = _run(results, system, sid)
    return run["result"]["rps"] if run else None


def _goal(goal: str, system: str, value: str, target: str, ok: bool | None) -> dict[str, Any]:
    return {"goal": goal, "system": system, "measured": value, "target": target, "pass": ok}


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    systems = list(dict.fromkeys(r["system"] for r in results["runs"]))
    kibitz = [s for s in systems if s.startswith("kibitz-")]
    for sid, share in READ_SHARE.items():
        for p in results.get("paired", []):
            if p["scenario"] == sid:  # the ceiling runs 2 workers: like with like
                ratio = p["ratio_median"]
                out.append(_goal(f"({sid}) req/s vs the ceiling, taking turns", p["system"],
                                 f"{ratio:.0%}", f">= {share:.0%}", ratio >= share))  # fmt: skip
    isso_read = _rps(results, "isso", "1")
    for s in kibitz:
        mine = _rps(results, s, "1")
        if isso_read and mine is not None:
            factor = mine / isso_read
            out.append(_goal("(1) req/s vs Isso", s, f"{factor:,.0f}x",
                             f">= {ISSO_READ_FACTOR}x", factor >= ISSO_READ_FACTOR))  # fmt: skip
    isso_post = _rps(results, "isso", "4")
    for s in kibitz:
        run = _run(results, s, "4")
        if not run or "-sqlite-" not in s or not isso_post:
            continue
        mine, errors = run["result"]["rps"], sum(run["result"]["errors"].values())
        ok = mine / isso_post >= ISSO_POST_FACTOR and errors == 0 and "problem" not in run
        out.append(_goal("(4) posts/s vs Isso, no errors", s,
                         f"{mine / isso_post:,.1f}x, {errors} errors",
                         f">= {ISSO_POST_FACTOR}x, 0 errors", ok))  # fmt: skip
    for db in ("sqlite", "postgresql"):
        rows = sorted((g for g in results["growth"] if g["db"] == db), key=lambda g: g["comments"])
        if len(rows) < 2:
            continue
        small, big = rows[0], rows[-1]
        p50 = [max(r["result"]["latency_ms"]["p50"], 1e-9) for r in (small, big)]
        ratio = p50[1] / p50[0]
        out.append(_goal(
            f"(7) p50 at {big['comments']:,} / at {small['comments']:,} comments",
            big["system"], f"{ratio:.2f}x", f"<= {GROWTH_FACTOR}x", ratio <= GROWTH_FACTOR,
        ))  # fmt: skip
    for s in kibitz:
        peaks = [r["peak_rss_bytes"]["max_worker"] for r in results["runs"] if r["system"] == s]
        if peaks:
            peak = max(peaks)
            out.append(_goal("peak RSS per worker", s, _mb(peak), f"<= {RSS_LIMIT_MB} MB",
                             peak <= RSS_LIMIT_MB * MB))  # fmt: skip
    w = results["widget"]
    if "kibitz" in w:
        size = w["kibitz"]["gzip_bytes"]
        out.append(_goal("(8) widget JS+CSS, gzip", "kibitz", f"{size:,} B",
                         f"<= {WIDGET_LIMIT:,} B", size <= WIDGET_LIMIT))  # fmt: skip
        if "isso" in w:
            theirs = w["isso"]["gzip_bytes"]
            out.append(_goal("(8) widget smaller than Isso's", "kibitz",
                             f"{size:,} B vs {theirs:,} B", "smaller", size < theirs))  # fmt: skip
    return out


def _mb(size: int) -> str:
    """Bytes in MB (10**6 bytes), with the digit that tells 150.0 from 150.1."""
    return f"{size / MB:,.1f} MB"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "**FAIL**")


def goals_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| Goal | System | Measured | Target | |", "| --- | --- | --- | --- | --- |"]
    for g in rows:
        lines.append(
            f"| {g['goal']} | {g['system']} | {g['measured']} | {g['target']} "
            f"| {_verdict(g['pass'])} |"
        )
    return "\n".join(lines)


def summary_table(results: dict[str, Any]) -> str:
    """Requests/s (p99 ms) of every system in every scenario, one line per scenario."""
    systems = list(dict.fromkeys(r["system"] for r in results["runs"]))
    lines = [
        "| Scenario | " + " | ".join(systems) + " |",
        "| --- |" + " ---: |" * len(systems),
    ]
    for sid, scenario in SCENARIOS.items():
        cells = []
        for system in systems:
            run = _run(results, system, sid)
            if run is None:
                cells.append("")
                continue
            res = run["result"]
            errors = sum(res["errors"].values())
            if not res["requests"]:
                cells.append("none answered in time")
                continue
            cells.append(
                f"{res['rps']:,.0f} ({_ms(res['latency_ms']['p99'])})"
                + (f", {errors:,} errors" if errors else "")
            )
        if any(cells):
            lines.append(f"| {sid}. {scenario.title} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _problems(problems: list[str]) -> list[str]:
    if not problems:
        return []
    return [
        "## The harness broke: these numbers may mean nothing",
        "",
        "The run exited non-zero (bench/run.py `harness_problems`):",
        "",
        *(f"- {p}" for p in problems),
        "",
    ]


def _share(share: float | None) -> str:
    """The busiest worker's share of the CPU time: 100% means one worker served alone."""
    if share is None:
        return ""
    return f"**{share:.0%}**" if share >= 0.9 else f"{share:.0%}"


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def markdown(results: dict[str, Any]) -> str:
    m, v, s = results["machine"], results["versions"], results["settings"]
    busy = max(m["load_average_1m"], m["load_average_1m_end"]) >= BUSY_LOAD
    out = [
        f"# kibitz benchmark ({results['name']} run)",
        "",
        f"- Date: {results['started']} (took {results['duration_s']:.0f} s)",
        f"- Command: `{results['command']}`",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}, "
        f"Linux {m['kernel']}",
        f"- 1-minute load average: {m['load_average_1m']} at the start, "
        f"{m['load_average_1m_end']} at the end"
        + (" (**the machine was busy: numbers are noisy**)" if busy else "")
        + (
            "; it never fell below 0.8 in the time the run waited for it"
            if results.get("waited_for_quiet_s", 0) is None
            else ""
        ),
        "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"- Load: wrk, {s['wrk_threads']} thread, {s['connections']} connections over loopback, "
        f"{s['warmup_s']:g} s warm-up then {s['seconds']:g} s per scenario; posting stops "
        f"after {s['post_limit']:,} comments or {s['post_seconds']:g} s; one server at a time",
        "- kibitz: `kibitz serve` with the production settings, moderation off and rate limits "
        "raised (as Isso runs)"
        + "".join(f", `{k}={v}`" for k, v in s.get("kibitz_env", {}).items()),
        f"- Data: {results['data']['seed']['comments']:,} comments in "
        f"{results['data']['seed']['threads']:,} threads, "
        f"{results['data']['seed']['votes']:,} votes, the same for every system",
        "",
        *_problems(results.get("problems", [])),
        "## Goals",
        "",
        goals_table(results["goals"]),
        "",
        "## At a glance: requests/s (p99 latency, ms)",
        "",
        summary_table(results),
        "",
    ]
    for sid, scenario in SCENARIOS.items():
        rows = [r for r in results["runs"] if r["scenario"] == sid]
        if not rows:
            continue
        out += [
            f"## {sid}. {scenario.title}",
            "",
            "| System | req/s | p50 ms | p99 ms | errors | bytes/response | "
            "peak RSS/worker MB | CPU µs/request | busiest worker | load |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in rows:
            res = r["result"]
            lat = res["latency_ms"]
            errors = sum(res["errors"].values())
            flag = f" ({r['problem']})" if "problem" in r else ""
            if not res["requests"]:
                flag += " (no request was answered within the run)"
            if "worker_restarts" in r:
                flag += f" (**{r['worker_restarts']} workers killed and restarted**)"
            if "seconds_extended" in r:
                flag += f" (slow: measured for {r['seconds_extended']} s)"
            out.append(
                f"| {r['system']}{flag} | {res['rps']:,.1f} | {_ms(lat['p50'])} | "
                f"{_ms(lat['p99'])} | {errors:,} | {r['response_bytes']:,} | "
                f"{r['peak_rss_bytes']['max_worker'] / MB:.0f} | "
                f"{r.get('cpu_us_per_request', 0):,} | {_share(r.get('busiest_worker_share'))} | "
                f"{r['load_average_1m']} |"
            )
        requests = dict.fromkeys(f"`{r['request']}`" for r in rows)
        out += ["", "Requests: " + ", ".join(requests), ""]
    if results.get("paired"):
        out += [
            "## kibitz and the ceiling, taking turns",
            "",
            "Both servers up, loaded one at a time in alternating slices (the goals use the "
            "median of the per-round ratios; a busy machine moves both alike).",
            "",
            "| System | scenario | ceiling req/s per slice | kibitz req/s per slice | ratio |",
            "| --- | --- | --- | --- | ---: |",
        ]
        for p in results["paired"]:
            top = ", ".join(f"{x:,.0f}" for x in p["rps"]["ceiling"])
            mine = ", ".join(f"{x:,.0f}" for x in p["rps"][p["system"]])
            out.append(f"| {p['system']} | {p['scenario']} | {top} | {mine} | "
                       f"{p['ratio_median']:.0%} |")  # fmt: skip
        out.append("")
    if results["growth"]:
        out += [
            "## 7. Growth: first-page read latency as the database grows",
            "",
            "One connection, the response cache off (every request runs the queries), "
            f"{s['growth_seconds']:g} s per size; the same 200-comment thread each time.",
            "",
            "| System | comments in the database | p50 ms | p99 ms | req/s | load |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for g in sorted(results["growth"], key=lambda g: (g["db"], g["comments"])):
            res = g["result"]
            out.append(
                f"| {g['system']} | {g['comments']:,} | {_ms(res['latency_ms']['p50'])} | "
                f"{_ms(res['latency_ms']['p99'])} | {res['rps']:,.1f} | {g['load_average_1m']} |"
            )
        out.append("")
    if results["widget"]:
        out += [
            "## 8. Widget weight: what a page loads to show the discussion",
            "",
            "| Widget | files | bytes | gzip bytes |",
            "| --- | --- | ---: | ---: |",
        ]
        for kind, w in results["widget"].items():
            out.append(
                f"| {kind} | {', '.join(f'`{p}`' for p in w['files'])} | {w['bytes']:,} | "
                f"{w['gzip_bytes']:,} |"
            )
        out += ["", "Isso serves its files uncompressed; its gzip size is `gzip -9` of them.", ""]
    for name, per_system in results["extras"].items():
        out += [f"## {name}", ""]
        for system, res in per_system.items():
            table = res.get("table") if isinstance(res, dict) else None
            if not table:
                out.append(f"- {system}: {res}")
                continue
            out += [f"{system}:", "", "| Measure | Value | Goal | |", "| --- | ---: | --- | --- |"]
            for row in table:
                verdict = _verdict(row["pass"]) if "pass" in row else ""
                out.append(f"| {row['name']} | {row['value']} {row.get('unit', '')} | "
                           f"{row.get('goal', '')} | {verdict} |")  # fmt: skip
        out.append("")
    return "\n".join(out)
