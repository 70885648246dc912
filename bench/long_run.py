"""Measure: does a step cost the same at step 10,000 as at step 100? A 10,000-step one-step loop in a
pod, a checkpoint after every step: per-step wall time over steps 9,000-10,000 ÷ over steps 100-1,000.
Target ≤ 1.2 (`long_run_flatness`). The workflow stamps the time every 100 steps. Also draws
bench/results/per_step.png: that curve beside the same loop plain in-process and on the DBOS runtime.
"""

from __future__ import annotations

import asyncio
import statistics
from pathlib import Path

from bench import plot
from bench.cluster import BenchCluster
from bench.report import Row
from bench.vs_dbos import dbos_seconds

TARGET = 1.2
STEPS = 10_000


def per_step(stamps: dict[int, float], first: int, last: int) -> float:
    """Median per-step time over the 100-step intervals from `first` to `last`: robust to a moment of
    contention on a shared 2-core machine, which a mean over the window is not."""
    intervals = [(stamps[i + 100] - stamps[i]) / 100 for i in range(first, last, 100)]
    return statistics.median(intervals)


def flatness(stamps: dict[int, float], steps: int = STEPS) -> tuple[float, float]:
    """(per-step seconds early, late): steps 100-1,000 and the last tenth of the run."""
    return per_step(stamps, 100, steps // 10), per_step(stamps, steps - steps // 10, steps - 100)


def read_stamps(path: Path) -> dict[int, float]:
    return {int(step): float(at) for step, at in (line.split() for line in path.read_text().splitlines())}


LOOP = "kwf_testflows.loop:Loop"
PEER_STEPS = 2_000  # the DBOS peer's curve: enough to see its slope, in about a minute
PICTURE = Path(__file__).resolve().parent / "results" / "per_step.png"


def in_process_stamps(path: Path, steps: int) -> dict[int, float]:
    """The same loop, plain llama-index-workflows in this process (no checkpoints)."""
    from kwf_testflows.loop import Loop

    async def loop() -> None:
        await Loop(timeout=None).run(steps=steps, stamps=str(path))

    path.unlink(missing_ok=True)
    asyncio.run(loop())
    return read_stamps(path)


def run(bench: BenchCluster, steps: int = STEPS) -> list[Row]:
    from support import workflow_run

    namespace = bench.namespace("long")
    stamps = bench.scratch / "long-run.stamps"
    stamps.unlink(missing_ok=True)
    bench.create_run(namespace, workflow_run("bench-long", LOOP, {"steps": steps, "stamps": str(stamps)}))
    status = bench.cluster.wait_phase(namespace, "bench-long", "Succeeded", "Failed", timeout=3600)["status"]
    assert status["phase"] == "Succeeded", status.get("error")
    ours = read_stamps(stamps)
    early, late = flatness(ours, steps)
    bench.delete_namespace(namespace)
    peer_stamps = bench.scratch / "dbos.stamps"
    dbos_seconds(LOOP, {"steps": PEER_STEPS, "stamps": str(peer_stamps)}, repeats=1)
    plot.draw(
        {
            "plain in-process (no durability)": in_process_stamps(bench.scratch / "plain.stamps", steps),
            "kube-workflows (WorkflowRun in a pod)": ours,
            f"llama-agents-dbos on SQLite ({PEER_STEPS:,} steps)": read_stamps(peer_stamps),
        },
        PICTURE,
    )
    return [
        Row(
            measure="long_run_flatness",
            value=f"{late * 1000:.1f} ms",
            anchor=f"{early * 1000:.1f} ms",
            ratio=late / early,
            target=TARGET,
            detail=f"median per step over 100-step intervals at steps {steps - steps // 10:,}-{steps - 100:,} vs "
            f"100-{steps // 10:,} of a {steps:,}-step run, a checkpoint after every step",
        )
    ]
