"""Measure: kube-workflows per step ÷ the DBOS runtime per step (`vs_dbos_sqlite`), the same workflow
(StepChain, 10 ms steps, a checkpoint after every step) in the same run. Target ≤ 0.5.

The peer is llama-agents-dbos's `DBOSRuntime` on SQLite (bench/peers/dbos_run.py), in a venv of its
own under ~/.cache/kube-workflows (it needs dbos<3), made on first use from PyPI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.cluster import REPO, BenchCluster
from bench.report import Row
from bench.step_overhead import WORKFLOW, in_pod_step_seconds

TARGET = 0.5
PEER = ("llama-agents-dbos==0.7.0", "dbos<3")
VENV = Path.home() / ".cache" / "kube-workflows" / f"bench-{PEER[0].replace('==', '-')}"


def peer_python() -> Path:
    python = VENV / "bin" / "python"
    if not (VENV / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER], check=True)
        (VENV / ".installed").touch()
    return python


def dbos_seconds(workflow: str, start: dict[str, Any], repeats: int = 3) -> float:
    """Best wall time of `repeats` runs of `workflow` on the DBOS runtime."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests" / "workflows")}
    out = subprocess.run(
        [
            str(peer_python()),
            str(REPO / "bench" / "peers" / "dbos_run.py"),
            f"--workflow={workflow}",
            f"--input={json.dumps(start)}",
            f"--repeats={repeats}",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    ).stdout
    return float(json.loads(out.strip().splitlines()[-1])["seconds"])


def dbos_step_seconds(steps: int, delay: float) -> float:
    return dbos_seconds(WORKFLOW, {"steps": steps, "delay": delay}) / (steps + 1)


def run(bench: BenchCluster, steps: int = 40, delay: float = 0.01) -> list[Row]:
    namespace = bench.namespace("vs-dbos")
    ours, recorded = in_pod_step_seconds(bench, namespace, "bench-vs-dbos", steps, delay)
    peer = dbos_step_seconds(steps, delay)
    bench.delete_namespace(namespace)
    return [
        Row(
            measure="vs_dbos_sqlite",
            value=f"{ours * 1000:.1f} ms",
            anchor=f"{peer * 1000:.1f} ms",
            ratio=ours / peer,
            target=TARGET,
            detail=f"per {delay * 1000:.0f} ms step, a checkpoint after every step: a WorkflowRun in a pod ({recorded} "
            f"step records) vs {PEER[0]} DBOSRuntime on SQLite in one process, same StepChain workflow",
        )
    ]
