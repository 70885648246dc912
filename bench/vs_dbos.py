"""Measure: kube-workflows per step ÷ the DBOS runtime per step, the same workflow (StepChain, 10 ms
steps, a checkpoint after every step) in the same run. Target ≤ 0.5. Two rows: DBOS on SQLite
(`vs_dbos_sqlite`) and on PostgreSQL (`vs_dbos_postgres`: a server of the bench's own on 127.0.0.1,
Debian's `postgresql`, fsyncing its commits as etcd does its writes).

The peer is llama-agents-dbos's `DBOSRuntime` (bench/peers/dbos_run.py), in a venv of its own under
~/.cache/kube-workflows (it needs dbos<3), made on first use from PyPI.
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
from local_postgres import LocalPostgres

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


def dbos_seconds(workflow: str, start: dict[str, Any], repeats: int = 3, database_url: str | None = None) -> float:
    """Best wall time of `repeats` runs of `workflow` on the DBOS runtime (SQLite unless `database_url`)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests" / "workflows")}
    out = subprocess.run(
        [
            str(peer_python()),
            str(REPO / "bench" / "peers" / "dbos_run.py"),
            f"--workflow={workflow}",
            f"--input={json.dumps(start)}",
            f"--repeats={repeats}",
            *([f"--database-url={database_url}"] if database_url else []),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    ).stdout
    return float(json.loads(out.strip().splitlines()[-1])["seconds"])


def dbos_step_seconds(steps: int, delay: float, database_url: str | None = None) -> float:
    return dbos_seconds(WORKFLOW, {"steps": steps, "delay": delay}, database_url=database_url) / (steps + 1)


def run(bench: BenchCluster, steps: int = 40, delay: float = 0.01) -> list[Row]:
    namespace = bench.namespace("vs-dbos")
    ours, recorded = in_pod_step_seconds(bench, namespace, "bench-vs-dbos", steps, delay)
    bench.delete_namespace(namespace)
    on_sqlite = dbos_step_seconds(steps, delay)
    server = LocalPostgres(durable=True)
    server.start()
    try:
        on_postgres = dbos_step_seconds(steps, delay, database_url=server.database())
    finally:
        server.stop()
    return [
        Row(
            measure=f"vs_dbos_{database}",
            value=f"{ours * 1000:.1f} ms",
            anchor=f"{peer * 1000:.1f} ms",
            ratio=ours / peer,
            target=TARGET,
            detail=f"per {delay * 1000:.0f} ms step, a checkpoint after every step: a WorkflowRun in a pod ({recorded} "
            f"step records) vs {PEER[0]} DBOSRuntime on {label} in one process, same StepChain workflow",
        )
        for database, label, peer in (
            ("sqlite", "SQLite", on_sqlite),
            ("postgres", "PostgreSQL (127.0.0.1, fsync on)", on_postgres),
        )
    ]
