"""The CheckpointStore contract, held against every store a user can pick: `SqliteStore` (a file) and
`PostgresStore` (a real PostgreSQL the session starts on 127.0.0.1).

The first test is the README's promise: a process killed mid-run (SIGKILL, nothing flushed) resumes
from its last checkpoint when started again with the same run id, and completed steps do not re-run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kube_workflows.runtime import Checkpoint, DurableRuntime, PostgresStore, SqliteStore, Superseded

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflows"))

from kwf_testflows.steps import StepChain

ROOT = Path(__file__).resolve().parents[2]
Store = SqliteStore | PostgresStore

# What a user's script looks like: construct the workflow on the runtime, run it under a run id.
SCRIPT = """
import asyncio, json, sys
from kube_workflows.runtime import DurableRuntime, PostgresStore, SqliteStore
from kwf_testflows.steps import StepChain

kind, where, record, release = sys.argv[1:]
runtime = DurableRuntime(SqliteStore(where) if kind == "sqlite" else PostgresStore(where))
workflow = StepChain(runtime=runtime)
result = asyncio.run(runtime.run(workflow, "chain-1", steps=5, record=record, hold_at=3, release=release))
print(json.dumps(result))
"""


class Stores:
    """Opens stores on one database: each a separate client (connection), as separate processes would be."""

    def __init__(self, kind: str, where: str) -> None:
        self.kind, self.where = kind, where

    def open(self) -> Store:
        return SqliteStore(self.where) if self.kind == "sqlite" else PostgresStore(self.where)

    def start(self, record: Path, release: Path) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "workflows"), str(ROOT / "operator")])}
        return subprocess.Popen(
            [sys.executable, "-c", SCRIPT, self.kind, self.where, str(record), str(release)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture(params=["sqlite", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Stores:
    if request.param == "sqlite":
        return Stores("sqlite", str(tmp_path / "runs.db"))
    return Stores("postgres", request.getfixturevalue("postgres_dsn"))


def test_a_killed_process_resumes_after_its_last_completed_step(stores: Stores, tmp_path: Path) -> None:
    record, release = tmp_path / "record", tmp_path / "release"
    first = stores.start(record, release)
    deadline = time.monotonic() + 60
    # Steps 1 and 2 are done (and checkpointed); step 3 holds until `release` exists.
    while not (record.exists() and len(record.read_text().splitlines()) == 2):
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first process did not reach step 3"
        time.sleep(0.05)
    time.sleep(0.3)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert stores.open().completed_steps("chain-1") == ["begin", "work", "work"]

    release.touch()
    second = stores.start(record, release)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert json.loads(out) == {"steps": 5, "total": 15}
    # Steps 1 and 2 ran once, in the killed process; step 3 was in flight there and ran here.
    assert [line.split()[1] for line in record.read_text().splitlines()] == ["1", "2", "3", "4", "5"]
    assert stores.open().completed_steps("chain-1") == ["begin", *["work"] * 5]

    third = stores.start(record, release)
    out, err = third.communicate(timeout=60)
    assert third.returncode == 0, err
    assert json.loads(out) == {"steps": 5, "total": 15}  # the recorded result; nothing ran again
    assert len(record.read_text().splitlines()) == 5


async def test_a_run_resumes_in_process_and_counts_on(stores: Stores) -> None:
    store = stores.open()
    runtime = DurableRuntime(store)
    assert await runtime.run(StepChain(runtime=runtime), "r", steps=3) == {"steps": 3, "total": 6}
    saved = store.read_checkpoint("r")
    assert saved is not None and saved.final and saved.steps_completed == 4
    assert saved.result == {"steps": 3, "total": 6}


def test_a_stale_claim_cannot_write(stores: Stores) -> None:
    old, new = stores.open(), stores.open()
    assert old.claim("r") == 1
    assert new.claim("r") == 2  # another process resumed the run
    checkpoint = Checkpoint(context={"is_running": True}, step="a", steps_completed=1)
    with pytest.raises(Superseded):
        old.write_checkpoint("r", checkpoint)
    with pytest.raises(Superseded):
        old.park("r", checkpoint, {"expects": ["x"]})
    new.write_checkpoint("r", checkpoint)
    saved = new.read_checkpoint("r")
    assert saved is not None and saved.steps_completed == 1 and saved.context == {"is_running": True}


def test_concurrent_claimers_get_distinct_attempts_and_only_the_last_writes(stores: Stores) -> None:
    claimers = [stores.open() for _ in range(4)]
    attempts: dict[int, int] = {}
    barrier = threading.Barrier(len(claimers))

    def claim(index: int) -> None:
        barrier.wait()
        attempts[index] = claimers[index].claim("r")

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(claimers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(attempts.values()) == [1, 2, 3, 4]
    last = max(attempts, key=attempts.__getitem__)
    for index, store in enumerate(claimers):
        checkpoint = Checkpoint(context={"writer": index}, step="a", steps_completed=1)
        if index == last:
            store.write_checkpoint("r", checkpoint)
        else:
            with pytest.raises(Superseded):
                store.write_checkpoint("r", checkpoint)
    saved = stores.open().read_checkpoint("r")
    assert saved is not None and saved.context == {"writer": last}


def test_a_parked_run_records_what_it_waits_for(stores: Stores) -> None:
    store = stores.open()
    store.claim("r")
    waiting = {"expects": ["workflows.events.HumanResponseEvent"], "requests": [{"prefix": "ok?"}]}
    store.park("r", Checkpoint(context={"is_running": True}, step="ask", steps_completed=2), waiting)
    saved = stores.open().read_checkpoint("r")
    assert saved is not None and saved.waiting == waiting and saved.steps_completed == 2 and not saved.final
    store.write_checkpoint("r", Checkpoint(context={"is_running": True}, step="answer", steps_completed=3))
    saved = stores.open().read_checkpoint("r")
    assert saved is not None and saved.waiting is None  # answered: no longer waiting


def test_an_unclaimed_store_cannot_write(stores: Stores) -> None:
    stores.open().claim("r")
    with pytest.raises(Superseded, match="not claimed"):
        stores.open().write_checkpoint("r", Checkpoint(context={}, step=None, steps_completed=0))
    assert stores.open().read_checkpoint("r") is None
