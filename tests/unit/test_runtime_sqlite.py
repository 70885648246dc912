"""`DurableRuntime` over `SqliteStore`: the runner's durability in a plain process, no cluster.

The first test is the README's promise: a process killed mid-run (SIGKILL, nothing flushed) resumes
from its last checkpoint when started again with the same run id, and completed steps do not re-run.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from workflows.plugins import basic_runtime

from kube_workflows.runtime import Checkpoint, DurableRuntime, IncompatibleCheckpoint, SqliteStore, Superseded

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflows"))

from kwf_testflows.instances import TracingRuntime
from kwf_testflows.steps import StepChain

ROOT = Path(__file__).resolve().parents[2]

# What a user's script looks like: construct the workflow on the runtime, run it under a run id.
SCRIPT = """
import asyncio, json, sys
from kube_workflows.runtime import DurableRuntime, SqliteStore
from kwf_testflows.instances import TracingRuntime
from kwf_testflows.steps import StepChain

db, record, release = sys.argv[1:]
runtime = DurableRuntime(SqliteStore(db))
workflow = StepChain(runtime=runtime)
result = asyncio.run(runtime.run(workflow, "chain-1", steps=5, record=record, hold_at=3, release=release))
print(json.dumps(result))
"""


def start(db: Path, record: Path, release: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "workflows"), str(ROOT / "operator")])}
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(db), str(record), str(release)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_killed_process_resumes_after_its_last_completed_step(tmp_path: Path) -> None:
    db, record, release = tmp_path / "runs.db", tmp_path / "record", tmp_path / "release"
    first = start(db, record, release)
    deadline = time.monotonic() + 60
    # Steps 1 and 2 are done (and checkpointed); step 3 holds until `release` exists.
    while not (record.exists() and len(record.read_text().splitlines()) == 2):
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first process did not reach step 3"
        time.sleep(0.05)
    time.sleep(0.3)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert SqliteStore(db).completed_steps("chain-1") == ["begin", "work", "work"]

    release.touch()
    second = start(db, record, release)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert json.loads(out) == {"steps": 5, "total": 15}
    # Steps 1 and 2 ran once, in the killed process; step 3 was in flight there and ran here.
    assert [line.split()[1] for line in record.read_text().splitlines()] == ["1", "2", "3", "4", "5"]
    assert SqliteStore(db).completed_steps("chain-1") == ["begin", *["work"] * 5]

    third = start(db, record, release)
    out, err = third.communicate(timeout=60)
    assert third.returncode == 0, err
    assert json.loads(out) == {"steps": 5, "total": 15}  # the recorded result; nothing ran again
    assert len(record.read_text().splitlines()) == 5


async def test_a_run_resumes_in_process_and_counts_on(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "runs.db")
    runtime = DurableRuntime(store)
    assert await runtime.run(StepChain(runtime=runtime), "r", steps=3) == {"steps": 3, "total": 6}
    saved = store.read_checkpoint("r")
    assert saved is not None and saved.final and saved.steps_completed == 4
    assert saved.result == {"steps": 3, "total": 6}


def test_a_stale_claim_cannot_write(tmp_path: Path) -> None:
    old, new = SqliteStore(tmp_path / "runs.db"), SqliteStore(tmp_path / "runs.db")
    assert old.claim("r") == 1
    assert new.claim("r") == 2  # another process resumed the run
    checkpoint = Checkpoint(context={"is_running": True}, step="a", steps_completed=1)
    with pytest.raises(Superseded):
        old.write_checkpoint("r", checkpoint)
    new.write_checkpoint("r", checkpoint)
    saved = new.read_checkpoint("r")
    assert saved is not None and saved.steps_completed == 1 and saved.context == {"is_running": True}


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
