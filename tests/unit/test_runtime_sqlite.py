"""`DurableRuntime` over `SqliteStore`: the runner's durability in a plain process, no cluster.

The store contract itself (a killed process resumes, a stale claim cannot write, concurrent claimers) is
held against SqliteStore and PostgresStore alike in tests/integration/test_runtime_stores.py.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from workflows.plugins import basic_runtime

from kube_workflows.runtime import Checkpoint, DurableRuntime, IncompatibleCheckpoint, SqliteStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflows"))

from kwf_testflows.instances import TracingRuntime
from kwf_testflows.steps import StepChain

ROOT = Path(__file__).resolve().parents[2]


async def test_a_checkpoint_of_another_workflow_is_refused(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "runs.db")
    store.claim("r")
    store.write_checkpoint(
        "r", Checkpoint(context={"is_running": True, "workers": {"other": {}}}, step="other", steps_completed=1)
    )
    runtime = DurableRuntime(store)
    with pytest.raises(IncompatibleCheckpoint, match=r"steps \['other'\].*has steps \['begin', 'work'\]"):
        await runtime.run(StepChain(runtime=runtime), "r")


async def test_a_workflow_on_another_runtime_is_refused(tmp_path: Path) -> None:
    runtime = DurableRuntime(SqliteStore(tmp_path / "runs.db"))
    with pytest.raises(ValueError, match="without runtime="):
        await asyncio.wait_for(runtime.run(StepChain(runtime=TracingRuntime(basic_runtime)), "r"), 10)


async def test_the_readme_example_runs_once_then_returns_its_recorded_result(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "examples"))
    from kwf_examples.durable_local import MyWorkflow

    store = SqliteStore(tmp_path / "runs.db")
    for _ in range(2):
        runtime = DurableRuntime(store)
        assert await runtime.run(MyWorkflow(runtime=runtime), "order-1") == "The step ran 1 times"
    assert store.completed_steps("order-1") == ["count", "report"]
