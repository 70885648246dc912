"""IncrementalSnapshot equals the library's own `ctx.to_dict()` at every step (a contract with
llama-index-workflows internals: a library change that breaks the fold fails here). Releases whose
reducer cannot fold a suffix of the tick log (`compat.FOLDS_TICK_SUFFIX` false) must show the mismatch
that makes the runtime snapshot with `ctx.to_dict()` there instead."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from workflows import Context, Workflow
from workflows.context import JsonSerializer
from workflows.events import Event, StepStateChanged
from workflows.plugins import basic_runtime

from kube_workflows.runtime import compat
from kube_workflows.runtime.compat import (
    BaseInternalRunAdapterDecorator,
    BaseRuntimeDecorator,
    IncrementalSnapshot,
    InternalRunAdapter,
    WorkflowTick,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflows"))

from kwf_testflows.contract import InFlightWrites
from kwf_testflows.fanout import FanOut
from kwf_testflows.questions import Questions
from kwf_testflows.steps import StepChain

# Timestamps the library recomputes (time.time()) on every replay.
VOLATILE = ("stamp", "_at", "elapsed", "not_before")


def stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if not any(word in k for word in VOLATILE)}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


class Comparing(BaseInternalRunAdapterDecorator):
    def __init__(self, decorated: InternalRunAdapter, runtime: ComparingRuntime) -> None:
        super().__init__(decorated)
        self.runtime = runtime

    async def on_tick(self, tick: WorkflowTick) -> None:
        assert self.runtime.snapshots is not None
        self.runtime.snapshots.record(tick)
        await super().on_tick(tick)

    async def write_to_event_stream(self, event: Event) -> None:
        if isinstance(event, StepStateChanged):
            assert self.runtime.ctx is not None and self.runtime.snapshots is not None
            expected = self.runtime.ctx.to_dict(serializer=JsonSerializer())
            self.runtime.compared.append(stable(self.runtime.snapshots.take(JsonSerializer())) == stable(expected))
        await super().write_to_event_stream(event)


class ComparingRuntime(BaseRuntimeDecorator):
    def __init__(self) -> None:
        super().__init__(basic_runtime)
        self.snapshots: IncrementalSnapshot | None = None
        self.ctx: Context | None = None
        self.compared: list[bool] = []

    def get_internal_adapter(self, workflow: Workflow) -> InternalRunAdapter:
        adapter = self._decorated.get_internal_adapter(workflow)
        if self.snapshots is None or self.snapshots.run_id != adapter.run_id:
            self.snapshots = IncrementalSnapshot(adapter)
        return Comparing(adapter, self)


async def compare(workflow: type[Workflow], **start: Any) -> tuple[Any, list[bool]]:
    runtime = ComparingRuntime()
    with compat.registering(runtime):  # workflows constructed here run on `runtime`
        instance = workflow()
    handler = instance.run(**start)
    runtime.ctx = handler.ctx
    return await handler, runtime.compared


@pytest.mark.parametrize(
    ("workflow", "start"),
    [
        (StepChain, {"steps": 30}),
        (FanOut, {"items": 10, "delay": 0.01}),
        (InFlightWrites, {}),
    ],
)
async def test_every_step_snapshot_equals_the_librarys(workflow: type[Workflow], start: dict[str, Any]) -> None:
    try:
        result, compared = await compare(workflow, **start)
        folds = result is not None and bool(compared) and all(compared)
    except ValueError:  # the reducer found the folded state inconsistent
        folds = False
    # Before 2.26 every fold rewinds in-progress work, so concurrent steps come out wrong: the runtime
    # snapshots with `ctx.to_dict()` there (compat.FOLDS_TICK_SUFFIX).
    assert folds is (compat.FOLDS_TICK_SUFFIX or workflow is not FanOut)


async def test_a_restored_run_waiting_for_input_folds_from_its_restored_state() -> None:
    first = Questions()
    handler = first.run()
    async for event in handler.stream_events():
        if type(event).__name__ == "InputRequiredEvent":
            break
    saved = handler.ctx.to_dict(serializer=JsonSerializer())
    await handler.cancel_run()
    runtime = ComparingRuntime()
    with compat.registering(runtime):
        workflow = Questions()
    restored = Context.from_dict(workflow, saved, serializer=JsonSerializer())
    resumed = workflow.run(ctx=restored)
    runtime.ctx = resumed.ctx
    from workflows.events import HumanResponseEvent

    from kwf_testflows.questions import Colour

    resumed.ctx.send_event(HumanResponseEvent(response="Ada"))
    async for event in resumed.stream_events():
        if type(event).__name__ == "InputRequiredEvent":
            resumed.ctx.send_event(Colour(response="red"))
    assert (await resumed)["answer"] == "Ada likes red"
    assert runtime.compared and all(runtime.compared), runtime.compared
