"""Measure 2: per-step wall time of a run in a pod (a checkpoint per step) ÷ the same workflow run
in-process, with 10 ms steps. Target ≤ 1.3.

`in_pod_step_seconds` takes extra spec fields (say, a checkpoint policy), so a curve over policies
is one call per point.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import datetime
from typing import Any

from bench.checkpoint_write import bare_status_patch_seconds
from bench.cluster import BenchCluster
from bench.report import Row

TARGET = 1.3
PATCH_TARGET = 1.1
WORKFLOW = "kwf_testflows.steps:StepChain"


def in_process_step_seconds(steps: int, delay: float, repeats: int = 3) -> float:
    """Best of `repeats` plain runs of the workflow in this process, per step (its first step included)."""
    from kwf_testflows.steps import StepChain

    async def once() -> float:
        t = time.perf_counter()
        await StepChain().run(steps=steps, delay=delay)
        return time.perf_counter() - t

    return min(asyncio.run(once()) for _ in range(repeats)) / (steps + 1)


def in_pod_step_seconds(
    bench: BenchCluster,
    namespace: str,
    name: str,
    steps: int,
    delay: float,
    start: dict[str, Any] | None = None,
    **spec: Any,
) -> tuple[float, int]:
    """(wall time per step, steps recorded) of a run in a pod, from its step records' completion times;
    `start` adds to the workflow's input, `spec` fields to the WorkflowRun's spec."""
    from support import workflow_run

    bench.create_run(namespace, workflow_run(name, WORKFLOW, {"steps": steps, "delay": delay, **(start or {})}, **spec))
    records = bench.cluster.wait_phase(namespace, name, "Succeeded", timeout=300)["status"]["steps"]
    first, last = (datetime.fromisoformat(records[i]["completedAt"]) for i in (0, -1))
    return (last - first).total_seconds() / (len(records) - 1), len(records)


# The checkpoint policies of the curve: spec.checkpoint fields → label.
POLICIES: list[tuple[str, dict[str, Any]]] = [
    ("every 2 steps", {"everySteps": 2}),
    ("every 5 steps", {"everySteps": 5}),
    ("every 10 steps", {"everySteps": 10}),
    ("every 100 ms", {"everyMilliseconds": 100}),
]


def bare_patch_seconds(bench: BenchCluster, namespace: str, name: str, repeats: int = 40) -> float:
    """Median latency of a plain merge PATCH of the run's own checkpoint bytes into its status: the least a
    durable step can cost on this API server."""
    checkpoint = bench.cluster.run(namespace, name)["status"]["checkpoint"]
    api = bench.cluster.custom
    return statistics.median(bare_status_patch_seconds(api, namespace, name, checkpoint) for _ in range(repeats))


def run(bench: BenchCluster, steps: int = 40, delay: float = 0.01) -> list[Row]:
    namespace = bench.namespace("steps")
    in_process = in_process_step_seconds(steps, delay)
    in_pod, recorded = in_pod_step_seconds(bench, namespace, "bench-steps", steps, delay)
    bare = bare_patch_seconds(bench, namespace, "bench-steps")
    curve = []
    for index, (label, policy) in enumerate(POLICIES):
        seconds, _ = in_pod_step_seconds(bench, namespace, f"bench-steps-{index}", steps, delay, checkpoint=policy)
        curve.append((label, seconds / in_process))
    bench.delete_namespace(namespace)
    best_label, best = min(curve, key=lambda point: point[1])
    return [
        Row(
            measure="step_overhead_vs_patch",
            value=f"{(in_pod - in_process) * 1000:.1f} ms",
            anchor=f"{bare * 1000:.1f} ms",
            ratio=(in_pod - in_process) / bare,
            target=PATCH_TARGET,
            detail="what a checkpointed step costs over the plain step (per step in a pod - plain in-process) vs "
            "one bare status PATCH of the same checkpoint bytes (median of 40)",
        ),
        Row(
            measure=f"per-step wall time in a pod with checkpoints / plain in-process ({delay * 1000:.0f} ms steps)",
            value=f"{in_pod * 1000:.1f} ms",
            anchor=f"{in_process * 1000:.1f} ms",
            ratio=in_pod / in_process,
            target=TARGET,
            detail=f"per step over {recorded} steps, a checkpoint after each (the default); with "
            "spec.checkpoint " + ", ".join(f"{label}: {ratio:.2f}" for label, ratio in curve),
        ),
        Row(
            measure=f"the same with a checkpoint policy ({best_label}, the best of the curve)",
            value=f"{best * in_process * 1000:.1f} ms",
            anchor=f"{in_process * 1000:.1f} ms",
            ratio=best,
            target=TARGET,
            detail="a pod lost between checkpoints re-runs the steps completed since the last one",
        ),
    ]
