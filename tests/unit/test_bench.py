"""The benchmarks' pure parts: percentiles, rows and the table, /proc parsing, timestamps, the start
anchor's Job, the scale summary."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

# bench/ is a folder of scripts at the top of the checkout, not part of the installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.procstat import (
    Usage,
    cpu_seconds,
    cpu_shares,
    parse_cpu_ticks,
    parse_machine_ticks,
    parse_threads,
    parse_vm_rss,
    usage,
)
from bench.report import Row, format_table, percentile, results_json, seconds
from bench.scale import Stage, cpu_summary, growth
from bench.stamps import parse_stamps
from bench.start import anchor_objects


def test_percentile_interpolates_between_ranks() -> None:
    samples = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(samples, 0) == 1.0
    assert percentile(samples, 50) == 3.0
    assert percentile(samples, 100) == 5.0
    assert percentile(samples, 90) == pytest.approx(4.6)
    assert percentile(list(map(float, range(1, 101))), 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_seconds_switches_units_at_ten_seconds() -> None:
    assert seconds(0.0824) == "82 ms"
    assert seconds(9.9994) == "9999 ms"
    assert seconds(12.345) == "12.35 s"


def test_row_json_has_the_four_keys_with_value_and_anchor_in_the_detail() -> None:
    row = Row("checkpoint write / bare PATCH", "19.2 ms", "17.5 ms", 1.097, 1.2, "median of 60")
    assert row.to_json() == {
        "measure": "checkpoint write / bare PATCH",
        "ratio": 1.097,
        "target": 1.2,
        "detail": "19.2 ms vs 17.5 ms; median of 60",
    }
    assert json.loads(results_json([row])) == [row.to_json()]


def test_table_aligns_columns_and_marks_rows_over_target() -> None:
    rows = [
        Row("short", "1 ms", "2 ms", 0.5, 1.0, "first detail"),
        Row("a longer measure", "1388 ms", "82 ms", 16.93, 1.15, "second detail"),
    ]
    lines = format_table(rows).splitlines()
    assert lines[0].split() == ["measure", "value", "anchor", "ratio", "target"]
    assert lines[1].split() == ["short", "1", "ms", "2", "ms", "0.50", "1.00", "ok"]
    assert lines[2] == "    first detail"
    assert lines[3].endswith("16.93    1.15  over")
    assert lines[4] == "    second detail"
    # Right-aligned numbers: every row's ratio ends in the same column.
    assert lines[1].index("0.50") + 4 == lines[3].index("16.93") + 5


STATUS = "Name:\tkwf\nState:\tS (sleeping)\nVmRSS:\t  143652 kB\nThreads:\t37\n"


def test_proc_parsing() -> None:
    assert parse_vm_rss(STATUS) == 143652 * 1024
    assert parse_threads(STATUS) == 37
    with pytest.raises(ValueError):
        parse_vm_rss("Name:\tkworker\n")
    # A command name with spaces and parentheses does not shift the fields.
    stat = "4242 (kwf (op) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 37 0 123 0 0"
    assert parse_cpu_ticks(stat) == 281


def test_usage_of_this_process() -> None:
    mine = usage(os.getpid())
    assert isinstance(mine, Usage)
    assert mine.rss_bytes > 1_000_000 and mine.cpu_seconds > 0 and mine.threads >= 1


def test_cpu_shares_per_process_and_machine() -> None:
    assert parse_machine_ticks("cpu  100 5 50 1000 20 0 10 0 0 0\ncpu0 1 2 3 4\n") == (165, 1185)
    before = cpu_seconds({"me": os.getpid(), "gone": 2**22 + 12345})
    assert set(before) == {"machine", "me"}
    assert cpu_shares({"a": 1.0, "b": 2.0}, {"a": 3.0, "c": 9.0}, elapsed=4.0) == {"a": 0.5}


def test_cpu_summary_lists_the_busiest_first_and_drops_the_idle() -> None:
    busy = Stage(10, Usage(0, 0.0, 1), cpu=(("machine", 1.9), ("kube-apiserver", 0.61), ("scheduler", 0.001)))
    assert cpu_summary(busy) == "machine 190%, kube-apiserver 61%"


def test_parse_stamps_skips_a_line_still_being_written() -> None:
    text = "0 100.5 42 99.25\n1 101.0 42 99.25\n2 101.5 4"
    stamps = parse_stamps(text)
    assert [(s.step, s.at, s.pid, s.process_started) for s in stamps] == [(0, 100.5, 42, 99.25), (1, 101.0, 42, 99.25)]


def test_start_anchor_is_the_operators_pod_with_a_command_that_only_starts(tmp_path: Path) -> None:
    from kube_workflows.builders import build_runner_job
    from support import workflow_run

    stamps = tmp_path / "a.stamps"
    *identity, job = anchor_objects("ns", "anchor-0", stamps)
    assert [o["kind"] for o in identity] == ["ServiceAccount", "Role", "RoleBinding"]
    assert all("ownerReferences" not in o["metadata"] for o in [*identity, job])
    assert "app.kubernetes.io/managed-by" not in job["metadata"]["labels"]  # out of the operator's watch
    run = {**workflow_run("anchor-0", "kwf_testflows.stamps:StampChain"), "metadata": {"name": "anchor-0", "uid": "u"}}
    run["metadata"]["namespace"] = "ns"
    operators = build_runner_job(run, "local")["spec"]["template"]
    ours = job["spec"]["template"]
    assert ours["spec"]["containers"][0].pop("command") == ["python", "-m", "kwf_testflows.stamps", str(stamps)]
    operators["spec"]["containers"][0].pop("command")
    assert ours == operators


def stage(runs: int, rss_mb: float, added: int = 0, **kw: float) -> Stage:
    return Stage(runs, Usage(int(rss_mb * 1e6), 0.0, 40), added=added, **kw)


def test_growth_reports_both_stages_and_the_memory_per_run_between() -> None:
    small = stage(100, 140, 100, create_cpu=6.5, settle=20, steady_cpu=0.14, write_rate=10.2, write_p50=0.02)
    large = stage(1000, 230, 900, create_cpu=45, settle=200, steady_cpu=0.9, write_rate=98, write_p50=0.5)
    text = growth(small, large)
    assert text.startswith("100 runs: RSS 140 MB (40 threads), creating 100 took 65 ms CPU per run")
    assert "1000 runs: RSS 230 MB (40 threads), creating 900 took 50 ms CPU per run (all Running after 200 s)" in text
    assert "following them 90% of a core at 98.0 checkpoint writes/s (p50 500 ms each)" in text
    assert text.endswith("RSS +100 KB per run in between")
    assert "in between" not in growth(small, small)  # one stage only


def test_long_run_flatness_compares_the_last_tenth_with_steps_100_to_1000() -> None:
    from bench.long_run import flatness

    # 10 ms per step early, 12 ms per step late.
    stamps = {step: step * 0.010 for step in range(0, 9001, 100)}
    stamps.update({step: 90 + (step - 9000) * 0.012 for step in range(9000, 10001, 100)})
    early, late = flatness(stamps, 10_000)
    assert round(early, 6) == 0.010 and round(late, 6) == 0.012


def test_the_per_step_picture_is_drawn(tmp_path: Path) -> None:
    from bench.plot import draw, per_step_curve

    stamps = {step: step * 0.01 for step in range(0, 1001, 100)}
    assert per_step_curve(stamps) == ([*range(100, 1001, 100)], [10.0] * 10)
    draw({"a": stamps, "b": {k: v * 2 for k, v in stamps.items()}}, tmp_path / "per_step.png")
    assert (tmp_path / "per_step.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_plain_in_process_curve_of_the_loop(tmp_path: Path) -> None:
    from bench.long_run import in_process_stamps

    stamps = in_process_stamps(tmp_path / "plain.stamps", 300)
    assert sorted(stamps) == [0, 100, 200] and stamps[0] <= stamps[100] <= stamps[200]
