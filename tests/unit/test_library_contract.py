"""What kube-workflows relies on in llama-index-workflows beyond its documented API, pinned.

Every function of `kube_workflows.runtime.compat` has a test here that runs the real library: when a
release changes one of these behaviours, this file fails and names it, instead of a run silently
losing a step. `make test-compat` runs it against every supported release. (The incremental snapshot
fold is pinned by tests/unit/test_snapshots.py.)
"""

from __future__ import annotations

import asyncio
import sys
import tomllib
from pathlib import Path
from typing import Any, ClassVar

import pytest
from workflows import Context, Workflow, step
from workflows.context import JsonSerializer
from workflows.errors import WorkflowTimeoutError
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StepState,
    StepStateChanged,
    StopEvent,
)
from workflows.plugins import basic_runtime

from kube_workflows.runtime import compat, library_version
from kube_workflows.runtime.compat import BaseInternalRunAdapterDecorator, BaseRuntimeDecorator, InternalRunAdapter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflows"))

from kwf_testflows.questions import Questions
from kwf_testflows.steps import Next, StepChain

ROOT = Path(__file__).resolve().parents[2]


class Outer:
    class Done(StopEvent):
        """A StopEvent subclass nested in a class: `str(type)` has no importable module path."""


class NestedStop(Workflow):
    @step
    async def only(self, ev: StartEvent) -> Outer.Done:
        return Outer.Done(result="ok")


class Slow(Workflow):
    @step
    async def wait(self, ev: StartEvent) -> StopEvent:
        await asyncio.sleep(5)
        return StopEvent()


class Observing(BaseInternalRunAdapterDecorator):
    """Records, as each StepStateChanged is published, what the Context holds and which steps ran."""

    def __init__(self, decorated: InternalRunAdapter, runtime: ObservingRuntime) -> None:
        super().__init__(decorated)
        self.runtime = runtime

    async def write_to_event_stream(self, event: Event) -> None:
        if isinstance(event, StepStateChanged):
            if event.step_state == StepState.RUNNING:
                self.runtime.started.append(event.name)
            elif event.step_state == StepState.NOT_RUNNING:
                assert self.runtime.ctx is not None
                snapshot = self.runtime.ctx.to_dict(serializer=JsonSerializer())
                self.runtime.published.append((event, list(self.runtime.started), snapshot))
        await super().write_to_event_stream(event)


class ObservingRuntime(BaseRuntimeDecorator):
    def __init__(self) -> None:
        super().__init__(basic_runtime)
        self.ctx: Context | None = None
        self.started: list[str] = []
        self.published: list[tuple[StepStateChanged, list[str], dict[str, Any]]] = []

    def get_internal_adapter(self, workflow: Workflow) -> InternalRunAdapter:
        return Observing(self._decorated.get_internal_adapter(workflow), self)


async def observe(workflow_class: type[Workflow], **start: Any) -> tuple[Any, ObservingRuntime]:
    runtime = ObservingRuntime()
    with compat.registering(runtime):
        workflow = workflow_class()
    assert workflow.runtime is runtime
    handler = workflow.run(**start)
    runtime.ctx = handler.ctx
    return await handler, runtime


# --- the durability rule itself -------------------------------------------------------------------


async def test_not_running_is_published_with_the_output_in_the_context_before_the_successor_starts() -> None:
    """The checkpoint taken when a step's NOT_RUNNING is published must hold the step's output and no
    trace of its successor having run: otherwise a resume loses the output or re-runs nothing."""
    result, runtime = await observe(StepChain, steps=3)
    assert result == {"steps": 3, "total": 6}
    begin = next((started, snap) for event, started, snap in runtime.published if event.name == "begin")
    started, snapshot = begin
    assert "work" not in started, "the successor started before its predecessor's NOT_RUNNING was published"
    routes = {"kwf_testflows.steps.Next": ["work"]}
    waiting_for = compat.busy_steps(snapshot) | {
        step for name in compat.delivered_event_names(snapshot) for step in routes.get(name, [])
    }
    assert waiting_for == {"work"}, f"begin's output (Next) is not in the Context: {snapshot}"
    assert compat.NOT_RUNNING_PRECEDES_SUCCESSOR


async def test_a_published_snapshot_says_running_and_names_every_step() -> None:
    _, runtime = await observe(StepChain, steps=2)
    for _event, _started, snapshot in runtime.published[:-1]:  # the last one returned the StopEvent
        assert compat.is_running(snapshot) and not compat.has_ended(snapshot)
        assert compat.snapshot_steps(snapshot) == compat.step_names(StepChain()) == {"begin", "work"}


def test_an_ended_snapshot_is_told_apart() -> None:
    assert compat.has_ended({"is_running": False}) and not compat.is_running({"is_running": False})
    assert not compat.has_ended({}) and not compat.is_running({})


# --- a workflow's steps -----------------------------------------------------------------------------


def test_accepted_events_are_read_per_step() -> None:
    assert compat.accepted_events(StepChain()) == {"begin": [StartEvent], "work": [Next]}
    accepted = compat.accepted_events(Questions())
    assert set(accepted) == {"greet", "ask_colour", "finish"} or all(isinstance(v, list) for v in accepted.values())
    assert any(issubclass(e, HumanResponseEvent) for events in accepted.values() for e in events if isinstance(e, type))


async def test_the_stop_output_is_named_as_the_steps_declare_it() -> None:
    _, runtime = await observe(NestedStop)
    (event, _started, _snapshot) = runtime.published[-1]
    assert event.output_event_name == str(Outer.Done)
    stop_names = compat.stop_event_names(NestedStop())
    assert compat.is_stop_output(event.output_event_name, stop_names)


def test_a_stop_class_is_recognised_by_import_even_when_nested() -> None:
    """`str(type)` of a nested class ("mod.Outer.Done") is not "module.Class": resolve it part by part."""
    assert compat.is_stop_output(str(Outer.Done), set())
    assert compat.is_stop_output(str(StopEvent), set())
    assert not compat.is_stop_output(str(Next), set())
    assert not compat.is_stop_output("<class 'no.such.Module'>", set())
    assert not compat.is_stop_output(None, set())


async def test_a_timeout_set_after_construction_applies() -> None:
    workflow = Slow(timeout=None)
    compat.set_timeout(workflow, 0.2)
    with pytest.raises(WorkflowTimeoutError):
        await workflow.run()


# --- which runtime a workflow runs on ---------------------------------------------------------------


def test_a_decorators_own_registering_registers_the_runtime_it_decorates() -> None:
    """The library quirk `compat.registering` exists for."""
    runtime = ObservingRuntime()
    with runtime.registering():
        assert StepChain().runtime is basic_runtime
    with compat.registering(runtime):
        assert StepChain().runtime is runtime


def test_a_default_runtime_workflow_is_switched_and_another_runtime_refused() -> None:
    workflow = StepChain()
    runtime = ObservingRuntime()
    compat.switch_runtime(workflow, runtime)
    assert workflow.runtime is runtime
    assert list(compat.runtimes_of(workflow)) == [runtime, basic_runtime]

    class Other(BaseRuntimeDecorator):
        pass

    foreign = StepChain(runtime=Other(basic_runtime))
    with pytest.raises(ValueError, match="construct the workflow without runtime="):
        compat.switch_runtime(foreign, runtime)


def test_verbose_wraps_the_registered_runtime() -> None:
    runtime = ObservingRuntime()
    with compat.registering(runtime):
        workflow = StepChain(verbose=True)
    assert runtime in list(compat.runtimes_of(workflow))


# --- the running step ---------------------------------------------------------------------------------


class Keyed(Workflow):
    seen: ClassVar[list[tuple[str, str | None]]] = []

    @step
    async def keyed(self, ev: StartEvent) -> StopEvent:
        Keyed.seen.append(compat.current_step())
        return StopEvent()


async def test_the_running_step_and_its_execution_id_are_visible_inside_it() -> None:
    Keyed.seen.clear()
    await Keyed().run()
    [(name, work_item)] = Keyed.seen
    assert name == "keyed" and work_item
    with pytest.raises(LookupError):
        compat.current_step()


class Streamer(Workflow):
    @step
    async def talk(self, ctx: Context, ev: StartEvent) -> StopEvent:
        ctx.write_event_to_stream(Note())
        return StopEvent()


class Note(Event):
    pass


class StreamObserving(BaseInternalRunAdapterDecorator):
    """Records each streamed event's step execution, and what is known of it at each NOT_RUNNING."""

    def __init__(self, decorated: InternalRunAdapter, log: list[tuple[str, Any]]) -> None:
        super().__init__(decorated)
        self.log = log

    async def write_to_event_stream(self, event: Event) -> None:
        if isinstance(event, Note):
            invocation = compat.current_invocation()
            assert invocation is not None
            self.log.append(("note", (compat.invocation_step(invocation), compat.invocation_returned(invocation))))
            self.log.append(("invocation", invocation))
        elif isinstance(event, StepStateChanged) and event.step_state == StepState.NOT_RUNNING:
            invocations = [value for what, value in self.log if what == "invocation"]
            self.log.append(("not_running", [compat.invocation_returned(i) for i in invocations]))
        await super().write_to_event_stream(event)


async def test_a_streamed_event_names_its_step_execution_which_has_returned_by_its_not_running() -> None:
    """The recorder publishes a step's events with that step's checkpoint: it needs to know which step
    execution wrote each, to see it written before the step's NOT_RUNNING, and it returned by then."""
    log: list[tuple[str, Any]] = []

    class Runtime(BaseRuntimeDecorator):
        def get_internal_adapter(self, workflow: Workflow) -> InternalRunAdapter:
            return StreamObserving(self._decorated.get_internal_adapter(workflow), log)

    with compat.registering(Runtime(basic_runtime)):
        workflow = Streamer()
    await workflow.run()
    assert [entry for entry in log if entry[0] != "invocation"] == [("note", ("talk", False)), ("not_running", [True])]
    assert compat.current_invocation() is None


def test_an_events_extra_fields_are_read() -> None:
    event = InputRequiredEvent(prefix="Name?", reviewer="ada")
    assert compat.event_fields(event) == {"prefix": "Name?", "reviewer": "ada"}


async def test_a_context_waiting_for_an_answer_is_idle_and_names_what_it_waits_for() -> None:
    handler = Questions().run()
    async for event in handler.stream_events():
        if isinstance(event, InputRequiredEvent):
            break
    await asyncio.sleep(0.05)
    snapshot = handler.ctx.to_dict(serializer=JsonSerializer())
    await handler.cancel_run()
    assert compat.awaited_events(snapshot) == ["workflows.events.HumanResponseEvent"]
    assert compat.is_idle(snapshot)


# --- the supported range ------------------------------------------------------------------------------


def test_the_installed_release_is_supported() -> None:
    assert library_version.problem() is None


@pytest.mark.parametrize("found", ["2.25.0", "2.24.1", "2.27.0", "3.0.0", "2.27.0rc1"])
def test_a_release_outside_the_range_is_refused_by_name(found: str) -> None:
    problem = library_version.problem(found)
    assert problem is not None
    assert found in problem and library_version.SUPPORTED in problem


def test_versions_parse_to_their_release() -> None:
    assert library_version.parse("2.26.1") == (2, 26, 1)
    assert library_version.parse("2.27.0rc1") == (2, 27, 0)
    assert library_version.parse("2.26") == (2, 26)


def test_the_pin_is_the_supported_range() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"llama-index-workflows{library_version.SUPPORTED}" in dependencies
