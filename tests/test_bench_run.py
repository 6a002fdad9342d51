"""When the benchmark exits non-zero: only when the harness itself broke, never on a number.

bench/run.py ``harness_problems`` decides from the results; ``finish`` writes them and gives
the exit status. No wrk here: the results are made up (tests/bench_results.py), and the
one server is a command that exits at once.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import data, report, run, scenarios
from bench.scenarios import RUN_ORDER, SCENARIOS
from bench.servers import Server, free_port, running
from bench.wrk import Request
from tests.bench_results import MB, results


def _row(res: dict[str, Any], system: str, sid: str) -> dict[str, Any]:
    row: dict[str, Any] = next(
        r for r in res["runs"] if r["system"] == system and r["scenario"] == sid
    )
    return row


def test_a_good_run_is_not_broken() -> None:
    assert run.harness_problems(results()) == []


def test_numbers_that_miss_every_goal_do_not_break_the_run() -> None:
    res = results(
        read_share=0.1, counts_share=0.1, isso_factor=2, post_factor=0.5, post_errors=40,
        growth=9, rss=999 * MB, widget=99_999,
    )  # fmt: skip
    assert all(g["pass"] is False for g in report.goals(res))
    assert run.harness_problems(res) == []


def test_a_slow_server_s_timeouts_do_not_break_the_run() -> None:
    res = results()
    _row(res, "isso", "1")["result"]["errors"]["timeout"] = 7
    assert run.harness_problems(res) == []


def test_an_unexpected_status_breaks_the_run() -> None:
    res = results()
    _row(res, "kibitz-sqlite-2w", "1")["problem"] = "answered 404, expected 200: b'{}'"
    assert run.harness_problems(res) == [
        "kibitz-sqlite-2w scenario 1: answered 404, expected 200: b'{}'"
    ]


@pytest.mark.parametrize(("requests", "status_errors"), [(0, 0), (50, 50)])
def test_a_load_without_one_successful_response_breaks_the_run(
    requests: int, status_errors: int
) -> None:
    res = results()
    result = _row(res, "kibitz-sqlite-2w", "4")["result"]  # even a write
    result["requests"], result["errors"]["status"] = requests, status_errors
    (problem,) = run.harness_problems(res)
    assert problem.startswith("kibitz-sqlite-2w scenario 4: no successful response")


@pytest.mark.parametrize("kind", ["status", "connect", "read", "write"])
def test_wrk_errors_on_reads_break_the_run(kind: str) -> None:
    res = results()
    _row(res, "ceiling", "1")["result"]["errors"][kind] = 3
    (problem,) = run.harness_problems(res)
    assert problem.startswith("ceiling scenario 1: wrk errors on reads")
    assert f"'{kind}': 3" in problem


def test_errors_while_posting_are_the_posting_goal_s_not_a_broken_run() -> None:
    res = results()
    _row(res, "kibitz-sqlite-2w", "4")["result"]["errors"]["status"] = 3
    assert run.harness_problems(res) == []
    assert {sid for sid, s in SCENARIOS.items() if s.writes} == {"4", "5", "6"}


def test_a_part_that_could_not_run_breaks_the_run() -> None:
    res = results()
    res["failures"] = ["isso: RuntimeError: isso exited with 3; no log"]
    assert run.harness_problems(res) == res["failures"]


def test_a_server_that_does_not_start_is_noted_and_the_run_goes_on() -> None:
    out = run.Outcome()
    argv = [sys.executable, "-c", "raise SystemExit(3)"]
    with run.attempt(out, "broken-server"), running(Server("broken", argv, free_port(), "/")):
        pytest.fail("the server cannot have started")
    (failure,) = out.failures
    assert failure.startswith("broken-server: RuntimeError: broken exited with 3")


def test_broken_growth_and_paired_runs_break_the_run() -> None:
    res = results()
    res["growth"][0]["first_status"] = 500
    res["paired"][0]["rps"]["kibitz-sqlite-2w"] = [0.0]
    res["paired"][1]["errors"]["ceiling"] = [0, 4]
    problems = run.harness_problems(res)
    assert len(problems) == 3, problems
    assert problems[0].startswith("kibitz-sqlite-2w scenario 1 taking turns with the ceiling")
    assert problems[1].startswith("ceiling scenario 2 taking turns with the ceiling: wrk errors")
    assert problems[2] == "growth sqlite 10,000: answered 500, expected 200"


def test_a_failing_extra_script_is_noted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run, "SSE_SCRIPT", Path(__file__).with_name("no_such_script.py"))
    out = run.Outcome()
    with run.attempt(out, "sse fan-out"):
        run.sse_fanout(run.parse(["--quick"]))
    (failure,) = out.failures
    assert failure.startswith("sse fan-out: RuntimeError: no_such_script.py exited with 2")


@pytest.fixture
def results_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(run, "RESULTS", tmp_path)
    return tmp_path


def test_finish_exits_zero_when_only_goals_fail(
    results_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run.finish(results(read_share=0.1, rss=999 * MB), "t") == 0
    written = json.loads((results_dir / "t.json").read_text())
    assert written["problems"] == []
    assert "**FAIL**" in (results_dir / "t.md").read_text()
    assert "harness" not in capsys.readouterr().err


def test_finish_exits_non_zero_and_says_what_broke(
    results_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = results()
    _row(res, "isso", "1")["result"]["errors"]["status"] = 9
    assert run.finish(res, "t") == 1
    err = capsys.readouterr().err
    assert "the harness itself broke (1 problem)" in err
    assert "  - isso scenario 1: wrk errors on reads {'status': 9}" in err
    md = (results_dir / "t.md").read_text()
    assert "## The harness broke" in md and "- isso scenario 1: wrk errors on reads" in md
    assert json.loads((results_dir / "t.json").read_text())["problems"] != []


# -- scenario 6 on the seed, for every system


def test_the_mixed_load_runs_on_the_seed_before_the_writes() -> None:
    order = list(RUN_ORDER)
    assert sorted(order) == sorted(SCENARIOS)
    assert order.index("6") < order.index("4") and order.index("6") < order.index("5")
    first_write = min(order.index(sid) for sid, s in SCENARIOS.items() if s.writes)
    assert all(SCENARIOS[sid].writes for sid in order[first_write:])


def test_the_ceiling_is_captured_from_the_seed_before_any_post(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = data.Manifest(
        plan="t", digest="d", threads=3, comments=3, votes=0,
        keys={"read": "/bench/read-200", "big": "/bench/read-10000"},
        mixed_keys=[f"/bench/mixed/{i:04}" for i in range(30)], vote_ids=[1],
    )  # fmt: skip
    asked: list[str] = []

    def fetch(base: str, r: Request, extra: Any = None) -> tuple[int, Any, bytes]:
        asked.append(f"{r.method} {r.target}")
        return 200, {}, b"{}"

    monkeypatch.setattr(run, "RUN_DIR", tmp_path)
    monkeypatch.setattr(run, "fetch", fetch)
    monkeypatch.setattr(run, "running", lambda srv: contextlib.nullcontext(srv))
    monkeypatch.setattr(data, "copy_sqlite", lambda src, dst: None)
    cfg = run.parse(["--quick"])
    captured = run.capture_ceiling(cfg, run.Seeds(manifest, tmp_path / "seed.sqlite"))
    posts = [i for i, a in enumerate(asked) if a == "POST /api/v1/comments"]
    assert posts == [len(asked) - 1]  # one post, the last request asked
    assert "POST /api/v1/counts" in asked[: posts[0]]
    mixed_reads = {f"GET {r.target}" for r in scenarios.kibitz_load("6", manifest, 1).groups[0][1]}
    assert mixed_reads <= set(asked[: posts[0]]) and len(mixed_reads) == 30
    assert mixed_reads <= set(captured["exact"])
    assert json.loads((tmp_path / "ceiling.json").read_text()) == captured


def test_a_kibitz_that_answers_otherwise_than_the_seed_breaks_the_run() -> None:
    res = results()
    for r in res["runs"]:
        r["response_sha256"] = "seed"
    assert run.harness_problems(res) == []
    _row(res, "kibitz-sqlite-2w", "1")["response_sha256"] = "after some posts"
    (problem,) = run.harness_problems(res)
    assert problem.startswith("kibitz-sqlite-2w scenario 1: its first answer")
    assert problem.endswith("not the same data")


# -- settings for every kibitz (before and after the fast path)


def test_kibitz_env_reaches_every_kibitz_server_and_the_table() -> None:
    cfg = run.parse(["--quick", "--kibitz-env", "KIBITZ_FAST_READS=false"])
    assert cfg.kibitz_env == (("KIBITZ_FAST_READS", "false"),)
    srv = run.kibitz_server(cfg, "t", "sqlite:///x.db", 2, KIBITZ_CACHE_MAX_BYTES="1")
    assert srv.env["KIBITZ_FAST_READS"] == "false"
    assert srv.env["KIBITZ_CACHE_MAX_BYTES"] == "1" and srv.env["KIBITZ_WORKERS"] == "2"
    assert "KIBITZ_FAST_READS" not in run.kibitz_server(run.parse([]), "t", "sqlite://", 1).env
    res = results()
    res["settings"]["kibitz_env"] = dict(cfg.kibitz_env)
    res["goals"] = report.goals(res)
    assert "moderation off and rate limits raised (as Isso runs), `KIBITZ_FAST_READS=false`" in (
        report.markdown(res)
    )


@pytest.mark.parametrize("bad", ["FAST_READS=false", "KIBITZ_FAST_READS"])
def test_kibitz_env_takes_only_kibitz_settings(bad: str) -> None:
    with pytest.raises(SystemExit):
        run.parse(["--kibitz-env", bad])


def test_cpu_used_counts_a_process_started_meanwhile_whole() -> None:
    assert run._cpu_used({1: 2.0, 2: 1.0}, {1: 3.5, 2: 1.0, 3: 0.25}) == [1.5, 0.0, 0.25]
