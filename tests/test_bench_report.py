"""The benchmark's goals and its Markdown table (bench/report.py), on made-up results.

Each goal is held at its boundary: the number the issue names passes, the next one up (or
down) fails. No server and no wrk: the results are built here, shaped as bench/run.py writes
them.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bench import report
from tests.bench_results import MB, results


def verdicts(res: dict[str, Any]) -> dict[str, bool | None]:
    return {f"{g['goal']} / {g['system']}": g["pass"] for g in report.goals(res)}


def verdict(res: dict[str, Any], goal: str) -> bool | None:
    found = [ok for name, ok in verdicts(res).items() if name.startswith(goal)]
    assert len(found) == 1, (goal, verdicts(res))
    return found[0]


def test_every_goal_passes_on_good_results() -> None:
    found = verdicts(results())
    assert len(found) == 9, found
    assert all(found.values()), found


@pytest.mark.parametrize(
    ("peak", "ok"),
    [
        (150 * MB, True),  # the 150 MB: 150 * 10**6 bytes
        (150 * MB + 1, False),
        (143 * 2**20, True),  # 143 MiB is 149.9 MB
        (144 * 2**20, False),  # 144 MiB is 151.0 MB: under 150 MiB, over 150 MB
    ],
)
def test_peak_rss_per_worker_is_held_to_150_mb(peak: int, ok: bool) -> None:
    res = results(rss=peak)
    assert verdict(res, "peak RSS per worker") is ok
    row = next(g for g in report.goals(res) if g["goal"] == "peak RSS per worker")
    assert row["target"] == "<= 150 MB"
    assert row["measured"] == f"{peak / MB:.1f} MB"


@pytest.mark.parametrize(("share", "ok"), [(0.70, True), (0.699, False)])
def test_thread_reads_need_70_percent_of_the_ceiling(share: float, ok: bool) -> None:
    res = results(read_share=share)
    assert verdict(res, "(1) req/s vs the ceiling") is ok
    assert verdict(res, "(2) req/s vs the ceiling") is ok
    assert verdict(res, "(3) req/s vs the ceiling") is True


@pytest.mark.parametrize(("share", "ok"), [(0.50, True), (0.499, False)])
def test_counts_need_half_the_ceiling(share: float, ok: bool) -> None:
    assert verdict(results(counts_share=share), "(3) req/s vs the ceiling") is ok


@pytest.mark.parametrize(("factor", "ok"), [(100, True), (99.9, False)])
def test_thread_reads_need_100_times_isso(factor: float, ok: bool) -> None:
    assert verdict(results(isso_factor=factor), "(1) req/s vs Isso") is ok


@pytest.mark.parametrize(
    ("factor", "errors", "ok"), [(5, 0, True), (4.99, 0, False), (50, 1, False)]
)
def test_posting_needs_5_times_isso_and_no_errors(factor: float, errors: int, ok: bool) -> None:
    assert verdict(results(post_factor=factor, post_errors=errors), "(4) posts/s") is ok


def test_posting_that_answered_the_wrong_status_fails_its_goal() -> None:
    res = results()
    post = next(
        r for r in res["runs"] if r["system"] == "kibitz-sqlite-2w" and r["scenario"] == "4"
    )
    post["problem"] = "answered 429, expected 201"
    assert verdict(res, "(4) posts/s") is False


@pytest.mark.parametrize(("growth", "ok"), [(1.5, True), (1.51, False)])
def test_growth_allows_one_and_a_half_times_the_latency(growth: float, ok: bool) -> None:
    assert verdict(results(growth=growth), "(7) p50 at 1,000,000 / at 10,000") is ok


@pytest.mark.parametrize(("size", "ok"), [(15_000, True), (15_001, False)])
def test_the_widget_weighs_at_most_15_kb(size: float, ok: bool) -> None:
    res = results(widget=int(size), isso_widget=20_000)
    assert verdict(res, "(8) widget JS+CSS") is ok
    assert verdict(res, "(8) widget smaller than Isso's") is True


def test_the_widget_must_be_smaller_than_isso_s() -> None:
    assert verdict(results(widget=9_000, isso_widget=9_000), "(8) widget smaller") is False
    assert verdict(results(widget=8_999, isso_widget=9_000), "(8) widget smaller") is True


def _markdown(res: dict[str, Any]) -> str:
    res = copy.deepcopy(res)
    res["goals"] = report.goals(res)
    return report.markdown(res)


def test_the_table_puts_pass_or_fail_beside_each_goal() -> None:
    res = results(read_share=0.5, rss=151 * MB)
    text = _markdown(res)
    section = text.split("## Goals\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert section[:2] == [
        "| Goal | System | Measured | Target | |",
        "| --- | --- | --- | --- | --- |",
    ]
    rows = section[2:]
    assert len(rows) == len(report.goals(res)) == 9
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    assert {c[-1] for c in cells} == {"PASS", "**FAIL**"}
    failed = sorted(c[0] for c in cells if c[-1] == "**FAIL**")
    assert failed == [
        "(1) req/s vs the ceiling, taking turns",
        "(2) req/s vs the ceiling, taking turns",
        "peak RSS per worker",
    ]
    rss = next(c for c in cells if c[0] == "peak RSS per worker")
    assert rss[2:] == ["151.0 MB", "<= 150 MB", "**FAIL**"]


def test_the_table_says_how_when_and_on_what_it_was_measured() -> None:
    text = _markdown(results())
    assert "- Command: `python -m bench --quick --systems ceiling,kibitz-sqlite-2w,isso`" in text
    assert "- Date: 2026-11-27T10:00:00+00:00" in text
    assert "Test CPU 9000, 2 cores, 23.5 GiB, Debian GNU/Linux 12, Linux 6.1.0-test" in text
    assert "kibitz 0.1.0 (abc1234), python 3.11.7, wrk wrk 4.1.0" in text
    assert "1-minute load average: 0.2 at the start, 0.3 at the end" in text
    assert "MiB" not in text  # memory is in MB throughout, as the goal says it
    assert "peak RSS/worker MB" in text


def test_a_busy_machine_is_called_out() -> None:
    res = results()
    res["machine"]["load_average_1m_end"] = 3.5
    assert "the machine was busy" in _markdown(res)
    assert "the machine was busy" not in _markdown(results())


def test_the_table_shows_cpu_per_request_and_a_worker_that_served_alone() -> None:
    res = results()
    res["runs"][1].update(cpu_us_per_request=1_234, busiest_worker_share=0.97, worker_restarts=3)
    res["runs"][0].update(cpu_us_per_request=456, busiest_worker_share=0.55)
    text = _markdown(res)
    assert "| CPU µs/request | busiest worker |" in text
    assert "| 456 | 55% |" in text
    assert "| 1,234 | **97%** |" in text
    assert "kibitz-sqlite-2w (**3 workers killed and restarted**) |" in text
