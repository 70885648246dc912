"""Checkpoint after every completed step, before the next step starts (how `DurableRuntime` works).

A llama-index-workflows runtime decorator sees each `StepStateChanged` event as the control loop
publishes it, and the control loop awaits that publication. Writing the checkpoint there makes it
synchronous: when a step's NOT_RUNNING is published, its output is in the Context but no successor
has started, and none starts until the store's write has returned (the rule is pinned by
tests/unit/test_library_contract.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_jsonable_python
from workflows import Context, Workflow
from workflows.context import JsonSerializer
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    InternalDispatchEvent,
    StepState,
    StepStateChanged,
    StopEvent,
    WorkflowIdleEvent,
)
from workflows.plugins import basic_runtime

from kube_workflows.runtime import compat
from kube_workflows.runtime.compat import (
    BaseInternalRunAdapterDecorator,
    BaseRuntimeDecorator,
    IncrementalSnapshot,
    InternalRunAdapter,
    Runtime,
    WorkflowTick,
)
from kube_workflows.runtime.store import Checkpoint, CheckpointStore

log = logging.getLogger("kube_workflows.runtime")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def event_routes(workflow: Workflow) -> dict[str, list[str]]:
    """Event class (qualified name) → the steps that accept it, to name the steps about to run."""
    routes: dict[str, list[str]] = {}
    for name, events in compat.accepted_events(workflow).items():
        for event in events:
            routes.setdefault(qualified_name(event), []).append(name)
    return routes


def answer_events(workflow: Workflow) -> list[str]:
    """HumanResponseEvent classes the workflow's steps accept: what answers an InputRequiredEvent a step
    returned (the other style, `ctx.wait_for_event`, shows up as a waiter in the Context instead)."""
    accepted = {event for events in compat.accepted_events(workflow).values() for event in events}
    return sorted(qualified_name(e) for e in accepted if isinstance(e, type) and issubclass(e, HumanResponseEvent))


def next_steps(snapshot: dict[str, Any], routes: dict[str, list[str]]) -> set[str]:
    """Steps that pending deliveries or queued work will run next, from a Context snapshot."""
    names = compat.busy_steps(snapshot)
    for qualified in compat.delivered_event_names(snapshot):
        names.update(routes.get(qualified, []))
    return names


def request_record(event: InputRequiredEvent) -> dict[str, Any]:
    """An InputRequiredEvent as a store keeps it: its fields (declared and extra) and its class."""
    record: dict[str, Any] = to_jsonable_python(compat.event_fields(event), fallback=repr)
    return {**record, "type": qualified_name(type(event))}


def is_published(event: Event) -> bool:
    """Whether a store publishes a streamed event: what the workflow wrote (InputRequiredEvent included),
    not the library's own dispatch events, nor the StopEvent (the result is recorded as such)."""
    return not isinstance(event, InternalDispatchEvent | StopEvent)


def stream_record(event: Event, step: str | None) -> dict[str, Any]:
    """A streamed event as a store publishes it (the store numbers it): the fields a WorkflowServer
    event envelope is built from (`types`: its Event superclasses by name, as the envelope lists them)."""
    cls = type(event)
    record: dict[str, Any] = {
        "type": qualified_name(cls),
        "value": to_jsonable_python(compat.event_fields(event), fallback=repr),
        "timestamp": now(),
    }
    types = [c.__name__ for c in cls.mro()[1:] if issubclass(c, Event) and c is not Event]
    if types:
        record["types"] = types
    if step is not None:
        record["step"] = step
    return record


class RunRecorder:
    """One run on a durable runtime: turns step completions into checkpoints, one store write each."""

    def __init__(
        self,
        store: CheckpointStore,
        run_id: str,
        *,
        steps_completed: int = 0,
        events_delivered: int = 0,
        every_steps: int | None = None,
        every_seconds: float | None = None,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.steps_completed = steps_completed
        self.events_delivered = events_delivered
        self.every_steps = every_steps
        self.every_seconds = every_seconds
        # Human in the loop: what the workflow asked for since the last answer, and whether it is idle.
        self.requests: list[dict[str, Any]] = []
        self.idle = asyncio.Event()
        self.steps_since_delivery = 0
        # Asked to stop (SIGTERM): `on_stop` runs once the running step's checkpoint has landed.
        self.stop_requested = False
        self.on_stop = on_stop
        # every_steps / every_seconds: steps completed since the last write.
        self.unwritten: list[dict[str, Any]] = []
        # Streamed events not published yet, with the step execution that wrote each (None: outside one).
        self.streamed: list[tuple[compat.Invocation | None, dict[str, Any]]] = []
        self.written_at = time.monotonic()
        self.ctx: Context | None = None
        self.snapshots: IncrementalSnapshot | None = None  # set when the run starts on our runtime
        self.routes: dict[str, list[str]] = {}
        self.answer_events: list[str] = []
        self.stop_events: set[str] = set()
        self.fatal: BaseException | None = None
        self.write_lock = asyncio.Lock()
        self._started: dict[str, float] = {}
        self._running: dict[str, int] = {}
        self.last_step: str | None = None
        self._last_started: str | None = None
        self._stop_step: str | None = None
        self.write_seconds: list[float] = []
        # Time spent checkpointing, which the workflow's clock does not count (see _RecordingAdapter).
        self.paused_seconds = 0.0

    def learn(self, workflow: Workflow) -> None:
        """Read the workflow's steps: which events route where, which answer questions, which end it."""
        self.routes = event_routes(workflow)
        self.answer_events = answer_events(workflow)
        self.stop_events = compat.stop_event_names(workflow)

    def due(self) -> bool:
        """Whether to checkpoint now (every_steps / every_seconds; unset: after every step)."""
        if self.every_steps is None and self.every_seconds is None:
            return True
        by_steps = self.every_steps is not None and len(self.unwritten) >= self.every_steps
        by_time = self.every_seconds is not None and time.monotonic() - self.written_at >= self.every_seconds
        return by_steps or by_time

    def snapshot(self) -> dict[str, Any]:
        if self.snapshots is not None:
            return self.snapshots.take(JsonSerializer())
        assert self.ctx is not None
        return self.ctx.to_dict(serializer=JsonSerializer())

    def checkpoint(
        self, snapshot: dict[str, Any], step: str | None, *, everything: bool = False, **fields: Any
    ) -> Checkpoint:
        """The steps since the last checkpoint, taken, with the counts so far and the streamed events this
        write publishes (`everything`: all of them, as no step runs any more)."""
        return Checkpoint(
            context=snapshot,
            step=step,
            steps_completed=self.steps_completed,
            events_delivered=self.events_delivered,
            steps=tuple(self.take_unwritten()),
            events=self.take_streamed(step, everything=everything),
            **fields,
        )

    def take_streamed(self, completed: str | None, *, everything: bool = False) -> tuple[dict[str, Any], ...]:
        """The streamed events a checkpoint after step `completed` publishes: those of step executions that
        returned and whose completion it (or an earlier checkpoint) holds. A step still running keeps its
        events for its own checkpoint: killed before that, it runs again and streams them again, once."""
        if not self.streamed:
            return ()  # a step that streams nothing costs its checkpoint nothing
        running = self.running_steps()

        def done(invocation: compat.Invocation | None) -> bool:
            if everything or invocation is None:
                return True
            step = compat.invocation_step(invocation)
            return compat.invocation_returned(invocation) and (step == completed or step not in running)

        taken = [record for invocation, record in self.streamed if done(invocation)]
        self.streamed = [(invocation, record) for invocation, record in self.streamed if not done(invocation)]
        return tuple(taken)

    async def write(self, checkpoint: Checkpoint) -> None:
        async with self.write_lock:
            started = time.perf_counter()
            await asyncio.to_thread(self.store.write_checkpoint, self.run_id, checkpoint)
            self.write_seconds.append(time.perf_counter() - started)
            self.written_at = time.monotonic()

    async def flush(self) -> None:
        """Checkpoint the steps completed since the last checkpoint (every_steps / every_seconds), if any."""
        if not self.unwritten or self.ctx is None or self.fatal is not None:
            return
        await self.write(self.checkpoint(self.snapshot(), self.last_step))

    async def park(self, snapshot: dict[str, Any], waiting: dict[str, Any]) -> None:
        """Write the waiting Context and what it waits for, in one store write."""
        try:
            checkpoint = self.checkpoint(snapshot, self.last_step, everything=True)
            async with self.write_lock:
                await asyncio.to_thread(self.store.park, self.run_id, checkpoint, waiting)
        except BaseException as exc:
            self.fatal = exc
            raise

    async def finish(self, result: Any) -> None:
        """Write the final checkpoint: the result, with the Context the workflow ended with."""
        stop_step = self._stop_step
        if stop_step:
            self.steps_completed += 1
            self.unwritten.append(self.step_record(stop_step))
        value = to_jsonable_python(result, fallback=repr)
        step = stop_step or self.last_step
        await self.write(self.checkpoint(self.snapshot(), step, everything=True, final=True, result=value))

    def running_steps(self) -> set[str]:
        return {name for name, n in self._running.items() if n > 0}

    def running_step(self) -> str | None:
        """The step that was running last: the one to blame when the workflow raises."""
        return self._last_started

    def finished_step(self) -> str | None:
        """The step that returned the StopEvent."""
        return self._stop_step

    def take_unwritten(self) -> list[dict[str, Any]]:
        taken, self.unwritten = self.unwritten, []
        return taken

    def step_record(self, name: str) -> dict[str, Any]:
        started = self._started.pop(name, None)
        record: dict[str, Any] = {"name": name, "completedAt": now()}
        if started is not None:
            record["durationMs"] = int((time.monotonic() - started) * 1000)
        if self.write_seconds:  # a write cannot report its own latency; it reports the one before
            record["lastWriteMs"] = round(self.write_seconds[-1] * 1000, 1)
        return record

    def on_stream_event(self, event: Event) -> None:
        if isinstance(event, InputRequiredEvent):
            self.requests.append(request_record(event))
        elif isinstance(event, WorkflowIdleEvent):
            self.idle.set()
        if is_published(event):
            invocation = compat.current_invocation()
            step = compat.invocation_step(invocation) if invocation is not None else None
            self.streamed.append((invocation, stream_record(event, step)))

    async def on_step_state(self, event: StepStateChanged) -> None:
        if event.step_state == StepState.RUNNING:
            self.steps_since_delivery += 1
            self._started[event.name] = time.monotonic()
            self._last_started = event.name
            self._running[event.name] = self._running.get(event.name, 0) + 1
            return
        if event.step_state != StepState.NOT_RUNNING:
            return
        self._running[event.name] = max(0, self._running.get(event.name, 0) - 1)
        if compat.is_stop_output(event.output_event_name, self.stop_events):
            self._stop_step = event.name  # the final write records it together with the result
            return
        if self.fatal is not None:
            return
        self.steps_completed += 1
        self.unwritten.append(self.step_record(event.name))
        if not (self.stop_requested or self.due()):
            self.last_step = event.name
            return
        paused_at = time.monotonic()
        snapshot = self.snapshot()
        if compat.has_ended(snapshot):
            # The step raised and ended the run: a snapshot now would restore to a fresh start.
            return
        try:
            upcoming = tuple(sorted(self.running_steps() | next_steps(snapshot, self.routes)))
            await self.write(self.checkpoint(snapshot, event.name, next_steps=upcoming))
            self.last_step = event.name
            self.paused_seconds += time.monotonic() - paused_at
            if self.stop_requested and self.on_stop is not None:
                self.on_stop()
            log.info("step %s completed; checkpoint written", event.name)
        except BaseException as exc:
            # Remember why: the control loop wraps or swallows exceptions raised from here.
            self.fatal = exc
            raise


class _RecordingAdapter(BaseInternalRunAdapterDecorator):
    def __init__(self, decorated: InternalRunAdapter, recorder: RunRecorder) -> None:
        super().__init__(decorated)
        self._recorder = recorder

    async def get_now(self) -> float:
        # The workflow's clock stands still while a checkpoint is written: `Workflow(timeout=...)` (the
        # library's alive time, summed across processes) then measures the workflow's own time.
        return await super().get_now() - self._recorder.paused_seconds

    async def on_tick(self, tick: WorkflowTick) -> None:
        if self._recorder.snapshots is not None:
            self._recorder.snapshots.record(tick)
        await super().on_tick(tick)

    async def write_to_event_stream(self, event: Event) -> None:
        if isinstance(event, StepStateChanged):
            await self._recorder.on_step_state(event)
        else:
            self._recorder.on_stream_event(event)
        await super().write_to_event_stream(event)


class RecordingRuntime(BaseRuntimeDecorator):
    """The basic in-process runtime, plus the recorder of the workflow's current run."""

    def __init__(self) -> None:
        super().__init__(basic_runtime)
        # One durable run per Workflow instance at a time: the recorder the next run of it reports to.
        self._recorders: dict[int, RunRecorder] = {}

    def attach(self, workflow: Workflow, recorder: RunRecorder) -> None:
        if self._recorders.get(id(workflow)) not in (None, recorder):
            raise RuntimeError("this Workflow instance already has a durable run going; construct another")
        self._recorders[id(workflow)] = recorder
        recorder.learn(workflow)

    def detach(self, workflow: Workflow) -> None:
        self._recorders.pop(id(workflow), None)

    @contextmanager
    def registering(self) -> Iterator[Runtime]:
        """Workflows constructed inside the block run on this runtime."""
        with compat.registering(self) as runtime:
            yield runtime

    def get_internal_adapter(self, workflow: Workflow) -> InternalRunAdapter:
        adapter = self._decorated.get_internal_adapter(workflow)
        recorder = self._recorders.get(id(workflow))
        if recorder is None:
            return adapter  # a plain run of the workflow, not through DurableRuntime.start
        snapshots = recorder.snapshots
        # The library asks for the run's adapter more than once: every one feeds the same journal.
        # Releases that cannot fold a suffix of the journal snapshot with `ctx.to_dict()` instead.
        if compat.FOLDS_TICK_SUFFIX and (snapshots is None or snapshots.run_id != adapter.run_id):
            recorder.snapshots = IncrementalSnapshot(adapter)
        return _RecordingAdapter(adapter, recorder)


__all__ = ["RecordingRuntime", "RunRecorder", "Runtime"]
