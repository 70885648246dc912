"""kube_workflows.idempotency_key(): the same for a step that re-runs after a crash, new otherwise.

The key builds on the library's per-execution "work item" id kept in the checkpointed Context; the first
test pins that behaviour of llama-index-workflows, so a library upgrade that changes it fails here.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from workflows import Context, Workflow, step
from workflows.context import JsonSerializer
from workflows.events import Event, StartEvent, StepState, StepStateChanged, StopEvent

from kube_workflows import idempotency_key
from kube_workflows.models import exit_codes
from kube_workflows.runner.main import RunnerIdentity, execute
from kube_workflows.runner.reporter import Reporter

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))

from inmemory_api import InMemoryApi

keys: list[tuple[int, str]] = []


class Next(Event):
    i: int


class Loop(Workflow):
    @step
    async def work(self, ctx: Context, ev: StartEvent | Next) -> Next | StopEvent:
        i = ev.i if isinstance(ev, Next) else 1
        keys.append((i, idempotency_key()))
        await asyncio.sleep(0.1)
        return Next(i=i + 1) if i < 4 else StopEvent(result="done")


async def test_the_key_survives_a_restore_and_is_new_for_every_other_execution() -> None:
    keys.clear()
    handler = Loop(timeout=None).run()
    snapshot: dict[str, Any] | None = None
    async for event in handler.stream_events(expose_internal=True):
        if isinstance(event, StepStateChanged) and event.step_state == StepState.RUNNING and len(keys) == 2:
            await asyncio.sleep(0.02)  # execution 3 has taken its key and is still running
            snapshot = handler.ctx.to_dict(serializer=JsonSerializer())
            break
    await handler.cancel_run()
    assert snapshot is not None
    before = dict(keys)
    assert len(set(before.values())) == len(before) == 3  # one key per execution
    keys.clear()
    restored = Context.from_dict(Loop(timeout=None), json.loads(json.dumps(snapshot)), serializer=JsonSerializer())
    assert await Loop(timeout=None).run(ctx=restored) == "done"
    after = dict(keys)
    assert after[3] == before[3]  # the execution in flight re-ran: same key
    assert after[4] not in before.values()  # the next one: a new key


def test_outside_a_step_it_says_so() -> None:
    with pytest.raises(RuntimeError, match="inside a workflow step"):
        idempotency_key()


async def test_a_payment_whose_step_re_runs_is_charged_once(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    runs = InMemoryApi(
        pay={
            "metadata": {"name": "pay", "namespace": "ns", "uid": "uid-pay"},
            "spec": {"workflow": "kwf_examples.payment:Payment", "input": {"ledger": str(ledger), "amount": 42}},
        }
    )
    runs.supersede_after = 0  # the pod is replaced before the charge step's checkpoint lands
    first = await execute(RunnerIdentity("ns", "pay", "p1", handle_sigterm=False), Reporter("ns", "pay", api=runs))
    assert first == exit_codes.SUPERSEDED
    second = await execute(RunnerIdentity("ns", "pay", "p2", handle_sigterm=False), Reporter("ns", "pay", api=runs))
    assert second == exit_codes.SUCCEEDED
    calls = [json.loads(line) for line in ledger.read_text().splitlines()]
    # The step ran twice with one key; the provider charged once.
    assert len(calls) == 2 and calls[0]["key"] == calls[1]["key"] and calls[0]["key"].startswith("uid-pay/charge/")
    assert [c["charged"] for c in calls] == [True, False]
    assert runs["pay"]["status"]["result"] == {"charge": "ch_1", "charges": 1}
