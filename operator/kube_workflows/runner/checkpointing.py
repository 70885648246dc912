"""Checkpoint after every completed step, before the next step starts.

A llama-index-workflows runtime decorator sees each `StepStateChanged` event as the control loop
publishes it, and the control loop awaits that publication. Writing the checkpoint there makes it
synchronous: when a step's NOT_RUNNING is published, its output is in the Context but no
successor has started, and none starts until the status write has landed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from typing import Any

from pydantic_core import to_jsonable_python
from workflows import Context, Workflow
from workflows.context import JsonSerializer
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StepState,
    StepStateChanged,
    WorkflowIdleEvent,
)
from workflows.plugins import basic_runtime

from kube_workflows.checkpoint import encode_checkpoint, offload
from kube_workflows.checkpoint.outputs import REQUESTS_KEY
from kube_workflows.models.workflowrun import CheckpointPolicy
from kube_workflows.runner import failpoints, outputs, patches
from kube_workflows.runner.reporter import Reporter
from kube_workflows.runtime import compat
from kube_workflows.runtime.compat import (
    BaseInternalRunAdapterDecorator,
    BaseRuntimeDecorator,
    IncrementalSnapshot,
    InternalRunAdapter,
    WorkflowTick,
)

log = logging.getLogger(__name__)


class CheckpointTooLarge(Exception):
    pass


# status.checkpoint.storage of a final checkpoint whose Context was over spec.checkpoint.maxBytes.
OMITTED = "Omitted"


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


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def request_record(event: InputRequiredEvent) -> dict[str, Any]:
    """An InputRequiredEvent as status shows it: its fields (declared and extra) and its class."""
    record: dict[str, Any] = to_jsonable_python(compat.event_fields(event), fallback=repr)
    return {**record, "type": qualified_name(type(event))}


class StepCheckpointer:
    """Turns step completions into fenced status writes, one per step."""

    def __init__(
        self,
        reporter: Reporter,
        *,
        attempt: int,
        seq: int,
        steps_completed: int,
        records: patches.Records,
        policy: CheckpointPolicy,
        owner: dict[str, Any],
        current: dict[str, Any] | None = None,
        events_delivered: int = 0,
    ) -> None:
        self.reporter = reporter
        self.attempt = attempt
        self.seq = seq
        self.steps_completed = steps_completed
        self.records = records
        self.policy = policy
        self.events_delivered = events_delivered
        # Human in the loop: what the workflow asked for since the last answer, and whether it is idle.
        self.requests: list[dict[str, Any]] = []
        self.idle = asyncio.Event()
        self.steps_since_delivery = 0
        # SIGTERM (suspend, eviction, node drain): stop after the running step's checkpoint.
        self.stop_requested = False
        # spec.checkpoint.everySteps / everyMilliseconds: steps completed since the last write.
        self.unwritten: list[dict[str, Any]] = []
        self.written_at = time.monotonic()
        self.owner = owner
        self.current = current  # the checkpoint status points at (its offload slot is in use)
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
        # Time spent checkpointing, which the workflow's clock does not count (see _CheckpointingAdapter).
        self.paused_seconds = 0.0

    def snapshot(self) -> dict[str, Any]:
        if self.snapshots is not None:
            return self.snapshots.take(JsonSerializer())
        assert self.ctx is not None
        return self.ctx.to_dict(serializer=JsonSerializer())

    async def checkpoint_value(self, snapshot: dict[str, Any], step: str | None, final: bool) -> dict[str, Any]:
        """Encode the snapshot; offload it first when it is too large for status."""
        encoded = encode_checkpoint(snapshot)
        too_large = encoded.stored_bytes > self.policy.max_bytes
        if too_large:
            problem = (
                f"checkpoint after step {step!r} is {encoded.stored_bytes} bytes compressed, over "
                f"spec.checkpoint.maxBytes ({self.policy.max_bytes}); keep large data out of ctx.store"
            )
            if not final:
                raise CheckpointTooLarge(problem)
            log.warning("%s; the result is recorded without the final Context", problem)
        self.seq += 1
        value = patches.checkpoint_value(
            encoded,
            seq=self.seq,
            attempt=self.attempt,
            step=step,
            steps_completed=self.steps_completed,
            final=final,
            events_delivered=self.events_delivered,
        )
        if too_large:
            # Still a final checkpoint: it is what says the workflow returned (spec.contextFrom refuses it).
            value.update(data="", storage=OMITTED)
        elif self.policy.history or self.policy.sensitive or encoded.stored_bytes > self.policy.inline_limit_bytes:
            # A sensitive run's Context never sits in status, however small (it is readable by anyone who
            # may get the WorkflowRun).
            value.update(await asyncio.to_thread(self._offload, encoded.data))
        self.records.previous, self.current = self.current, value
        return value

    def resume_from(self, checkpoint: dict[str, Any]) -> None:
        """Go on from an older checkpoint than status.checkpoint (which was damaged): count from it, and
        write next into the slot the damaged one used, never into the one resumed from."""
        self.steps_completed = int(checkpoint.get("stepsCompleted") or 0)
        self.events_delivered = int(checkpoint.get("eventsDelivered") or 0)
        self.current = checkpoint
        self.records.previous = None

    def _offload(self, data: str) -> dict[str, Any]:
        """Write the chunks (before status points at them); return the status fields that do."""
        kind = offload.storage_kind(self.policy.sensitive)
        if self.policy.history:
            slot = offload.history_slot(self.seq, self.policy.history)
        else:
            slot = offload.next_slot(self.current, self.records.previous)
        run_name = self.owner["name"]
        names = []
        for index, payload in enumerate(offload.split(data)):
            name = offload.chunk_name(run_name, slot, index)
            chunk = offload.chunk_object(
                kind, name, self.reporter.namespace, run_name, self.owner, payload, attempt=self.attempt, seq=self.seq
            )
            failpoints.reached("before-chunk")
            self.reporter.put_chunk(chunk)
            failpoints.reached("after-chunk")
            names.append(name)
        return {"data": "", "storage": kind, "chunks": names}

    def send(self, point: str, what: str, patch: patches.JsonPatch) -> None:
        """One fenced status write (in a worker thread), with the failpoints around it."""
        failpoints.reached(f"before-{point}")
        self.reporter.write(what, patch)
        failpoints.reached(f"after-{point}")

    async def flush(self) -> None:
        """Checkpoint the steps completed since the last checkpoint (spec.checkpoint.every*), if any."""
        if not self.unwritten or self.ctx is None or self.fatal is not None:
            return
        snapshot = self.snapshot()
        checkpoint = await self.checkpoint_value(snapshot, self.last_step, final=False)
        patch = patches.step_checkpoint_patch(self.attempt, checkpoint, self.take_unwritten(), None, self.records)
        async with self.write_lock:
            await asyncio.to_thread(self.send, "checkpoint", f"checkpoint {self.seq} before stopping", patch)

    async def park(self, snapshot: dict[str, Any], waiting: dict[str, Any]) -> None:
        """Write the waiting Context and what it waits for, in one fenced write."""
        try:
            checkpoint = await self.checkpoint_value(snapshot, self.last_step, final=False)
            if self.policy.sensitive and "requestsRef" not in waiting:
                ref = await asyncio.to_thread(
                    outputs.withhold, self.reporter, self.owner, REQUESTS_KEY, waiting["requests"]
                )
                waiting = {**waiting, "requests": [], "requestsRef": ref}
            patch = patches.waiting_patch(self.attempt, checkpoint, waiting, self.take_unwritten(), self.records)
            async with self.write_lock:
                await asyncio.to_thread(self.send, "park", f"checkpoint {self.seq}: waiting for input", patch)
        except BaseException as exc:
            self.fatal = exc
            raise

    def running_steps(self) -> set[str]:
        return {name for name, n in self._running.items() if n > 0}

    def stop_now(self) -> None:
        log.warning("stopping (SIGTERM) with checkpoint %d written; the next pod resumes from it", self.seq)
        logging.shutdown()
        os._exit(128 + signal.SIGTERM)

    def running_step(self) -> str | None:
        """The step that was running last: the one to blame when the workflow raises."""
        return self._last_started

    def finished_step(self) -> str | None:
        """The step that returned the StopEvent."""
        return self._stop_step

    def take_unwritten(self) -> list[dict[str, Any]]:
        """Step records completed since the last checkpoint (they carry its seq once it is written)."""
        taken, self.unwritten = self.unwritten, []
        return [{**record, "seq": self.seq} for record in taken]

    def step_record(self, name: str) -> dict[str, Any]:
        started = self._started.pop(name, None)
        record: dict[str, Any] = {
            "name": name,
            "seq": self.seq,
            "attempt": self.attempt,
            "completedAt": patches.now(),
        }
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
        if not (self.stop_requested or self.policy.due(len(self.unwritten), time.monotonic() - self.written_at)):
            self.last_step = event.name
            return
        paused_at = time.monotonic()
        snapshot = self.snapshot()
        if compat.has_ended(snapshot):
            # The step raised and ended the run: a snapshot now would restore to a fresh start.
            return
        try:
            checkpoint = await self.checkpoint_value(snapshot, event.name, final=False)
            current = sorted(self.running_steps() | next_steps(snapshot, self.routes))
            patch = patches.step_checkpoint_patch(
                self.attempt, checkpoint, self.take_unwritten(), ",".join(current) or None, self.records
            )
            async with self.write_lock:
                started = time.perf_counter()
                await asyncio.to_thread(self.send, "checkpoint", f"checkpoint {self.seq} after {event.name}", patch)
                self.write_seconds.append(time.perf_counter() - started)
                self.written_at = time.monotonic()
            self.last_step = event.name
            self.paused_seconds += time.monotonic() - paused_at
            if self.stop_requested:
                self.stop_now()
            log.info(
                "step %s completed; checkpoint %d written (%d bytes)",
                event.name,
                self.seq,
                checkpoint["storedBytes"],
            )
        except BaseException as exc:
            # Remember why: the control loop wraps or swallows exceptions raised from here.
            self.fatal = exc
            raise


class _CheckpointingAdapter(BaseInternalRunAdapterDecorator):
    def __init__(self, decorated: InternalRunAdapter, checkpointer: StepCheckpointer) -> None:
        super().__init__(decorated)
        self._checkpointer = checkpointer

    async def get_now(self) -> float:
        # The workflow's clock stands still while a checkpoint is written: `Workflow(timeout=...)` (the
        # library's alive time, summed across pods) then measures the workflow's own time, so a run that
        # fits its timeout in-process fits it in a pod.
        return await super().get_now() - self._checkpointer.paused_seconds

    async def on_tick(self, tick: WorkflowTick) -> None:
        if self._checkpointer.snapshots is not None:
            self._checkpointer.snapshots.record(tick)
        await super().on_tick(tick)

    async def write_to_event_stream(self, event: Event) -> None:
        if isinstance(event, StepStateChanged):
            await self._checkpointer.on_step_state(event)
        else:
            self._checkpointer.on_stream_event(event)
        await super().write_to_event_stream(event)


class CheckpointingRuntime(BaseRuntimeDecorator):
    """The basic in-process runtime, plus a checkpoint after every completed step."""

    def __init__(self, checkpointer: StepCheckpointer) -> None:
        super().__init__(basic_runtime)
        self._checkpointer = checkpointer

    def get_internal_adapter(self, workflow: Workflow) -> InternalRunAdapter:
        adapter = self._decorated.get_internal_adapter(workflow)
        snapshots = self._checkpointer.snapshots
        # The library asks for the run's adapter more than once: every one feeds the same journal.
        # Releases that cannot fold a suffix of the journal snapshot with `ctx.to_dict()` instead.
        if compat.FOLDS_TICK_SUFFIX and (snapshots is None or snapshots.run_id != adapter.run_id):
            self._checkpointer.snapshots = IncrementalSnapshot(adapter)
        return _CheckpointingAdapter(adapter, self._checkpointer)


def install(workflow: Workflow, checkpointer: StepCheckpointer, runtime: CheckpointingRuntime) -> None:
    """Make sure `workflow` runs on `runtime`, and learn its steps' events.

    A workflow constructed inside `compat.registering(runtime)` is on it already; one constructed
    before (a module-level instance imported earlier) is moved from the default runtime. A runtime
    the user configured is refused (ValueError), not silently replaced.
    """
    if runtime not in list(compat.runtimes_of(workflow)):
        compat.switch_runtime(workflow, runtime)
    checkpointer.routes = event_routes(workflow)
    checkpointer.answer_events = answer_events(workflow)
    checkpointer.stop_events = compat.stop_event_names(workflow)
