"""The one place kube-workflows relies on llama-index-workflows beyond its documented API.

Durability needs a few things the library does not (yet) publish: the runtime plugin base classes
live in `workflows.runtime.*` modules, a step's declared events are only on `_step_config`, a
restored Context is read through its serialized form, and so on. Each use is here, under a name
that says what kube-workflows needs rather than how the library spells it, and each is pinned by
tests/unit/test_library_contract.py, which fails loudly when a release changes one. `make
test-compat` runs that file (and the rest) against every supported minor release.

Nothing here is API for users; `kube_workflows.runtime` is.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

from workflows import Workflow
from workflows.context.serializers import BaseSerializer
from workflows.events import Event, StopEvent
from workflows.plugins import BasicRuntime

# Runtime plugin interfaces: `Workflow(runtime=...)` and `Runtime.registering()` are public, the
# classes a plugin subclasses are not exported from a public module (llama-agents-dbos imports
# them from the same places).
from workflows.runtime.control_loop import rebuild_state_from_ticks
from workflows.runtime.runtime_decorators import BaseInternalRunAdapterDecorator, BaseRuntimeDecorator
from workflows.runtime.types.internal_state import BrokerState
from workflows.runtime.types.plugin import InternalRunAdapter, Runtime, as_snapshottable_adapter
from workflows.runtime.types.results import StepWorkerContext, StepWorkerStateContextVar
from workflows.runtime.types.ticks import WorkflowTick

from kube_workflows.runtime import library_version

__all__ = [
    "BaseInternalRunAdapterDecorator",
    "BaseRuntimeDecorator",
    "IncrementalSnapshot",
    "InternalRunAdapter",
    "Invocation",
    "Runtime",
    "RuntimeConflict",
    "WorkflowTick",
    "accepted_events",
    "awaited_events",
    "busy_steps",
    "current_invocation",
    "current_step",
    "delivered_event_names",
    "event_fields",
    "has_ended",
    "invocation_returned",
    "invocation_step",
    "is_idle",
    "is_running",
    "is_stop_output",
    "registering",
    "runtimes_of",
    "set_timeout",
    "snapshot_steps",
    "step_names",
    "stop_event_names",
    "switch_runtime",
]


# --- A workflow's steps -------------------------------------------------------------------------


def accepted_events(workflow: Workflow) -> dict[str, list[type[Event]]]:
    """Step name → the event classes it accepts (the library keeps them on `_step_config`)."""
    return {name: list(fn._step_config.accepted_events) for name, fn in workflow._get_steps().items()}


def step_names(workflow: Workflow) -> set[str]:
    """The steps a Context of this workflow has workers for (`Context.to_dict()["workers"]`' keys)."""
    return set(workflow._get_steps())


def stop_event_names(workflow: Workflow) -> set[str]:
    """How `StepStateChanged.output_event_name` names each StopEvent class the workflow's steps return.

    The library writes `str(type)` ("<class 'pkg.mod.Done'>"); naming the classes the steps declare
    also covers classes no import path reaches (nested in a function, say).
    """
    names = {str(StopEvent)}
    for fn in workflow._get_steps().values():
        for returned in fn._step_config.return_types:
            if isinstance(returned, type) and issubclass(returned, StopEvent):
                names.add(str(returned))
    return names


def is_stop_output(output_event_name: str | None, stop_names: set[str]) -> bool:
    """Whether a step's NOT_RUNNING reports that it returned a StopEvent."""
    if not output_event_name:
        return False
    return output_event_name in stop_names or _imports_as_stop_event(output_event_name)


def _imports_as_stop_event(output_event_name: str) -> bool:
    """`str(type)` of a class the steps did not declare: import it, nested classes included."""
    qualified = output_event_name.removeprefix("<class '").removesuffix("'>")
    parts = qualified.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for name in parts[split:]:
                target = getattr(target, name)
        except AttributeError:
            return False
        return isinstance(target, type) and issubclass(target, StopEvent)
    return False


def set_timeout(workflow: Workflow, seconds: float) -> None:
    """`Workflow(timeout=...)` for a workflow the user's code already constructed."""
    workflow._timeout = seconds


# --- Which runtime a workflow runs on -------------------------------------------------------------


def runtimes_of(workflow: Workflow) -> Iterator[Runtime]:
    """The workflow's runtime and the ones it decorates (`verbose=True` wraps the runtime)."""
    runtime: Runtime | None = workflow.runtime
    while runtime is not None:
        yield runtime
        runtime = getattr(runtime, "_decorated", None) if isinstance(runtime, BaseRuntimeDecorator) else None


def registering(runtime: Runtime) -> AbstractContextManager[Runtime]:
    """`runtime.registering()` for a runtime decorator too: workflows constructed inside the block run
    on `runtime`. (`BaseRuntimeDecorator.registering()` registers the runtime it decorates instead.)"""
    return Runtime.registering(runtime)


class RuntimeConflict(ValueError):
    """The workflow runs on a runtime its author chose; kube-workflows does not silently replace it."""


def switch_runtime(workflow: Workflow, runtime: Runtime) -> None:
    """Move a workflow constructed on the default runtime (before `Runtime.registering()` was in
    effect: a module-level instance imported earlier), or on another instance of `runtime`'s class,
    onto `runtime`. Refuses any other runtime (RuntimeConflict)."""
    current = workflow.runtime
    if not isinstance(current, BasicRuntime) and not _same_kind(current, runtime):
        raise RuntimeConflict(
            f"the workflow was constructed with runtime={type(current).__name__}(...); kube-workflows supplies the "
            "durable runtime itself: construct the workflow without runtime="
        )
    workflow._switch_runtime(runtime)


def _same_kind(current: Runtime, runtime: Runtime) -> bool:
    return type(current) is type(runtime)


# --- The running step ---------------------------------------------------------------------------


def current_step() -> tuple[str, str | None]:
    """(step name, the library's id for this execution) of the step running in this task.

    Raises LookupError outside a step.
    """
    state = StepWorkerStateContextVar.get().state
    return state.step_name, state.work_item_id


# One execution of a step, as the library hands it to the step's task (and the tasks it starts).
Invocation = StepWorkerContext


def current_invocation() -> Invocation | None:
    """The step execution running in this task (`ctx.write_event_to_stream` runs in a task that inherits
    it), None outside a step."""
    try:
        return StepWorkerStateContextVar.get()
    except LookupError:
        return None


def invocation_step(invocation: Invocation) -> str:
    return invocation.state.step_name


def invocation_returned(invocation: Invocation) -> bool:
    """Whether that step execution has returned or raised (the library then stops numbering its sends)."""
    return invocation.sends.closed


def event_fields(event: Event) -> dict[str, Any]:
    """An event's declared fields and the extra ones passed to its constructor."""
    fields = {k: getattr(event, k) for k in type(event).model_fields}
    fields.update(dict(event.items()))
    return fields


# Ordering rule the checkpoint relies on (pinned by the contract test, not documented by the
# library): a step's StepStateChanged(NOT_RUNNING) is published, and awaited, after its output is in
# the Context and before any step it triggers starts.
NOT_RUNNING_PRECEDES_SUCCESSOR = True


# --- The serialized Context (`Context.to_dict()`) -----------------------------------------------


def is_running(snapshot: dict[str, Any]) -> bool:
    """Whether a checkpoint was taken mid-run (restoring it resumes the run)."""
    return bool(snapshot.get("is_running"))


def has_ended(snapshot: dict[str, Any]) -> bool:
    """Whether the run has ended (a step raised): restoring such a snapshot starts afresh."""
    return snapshot.get("is_running", True) is False


def snapshot_steps(snapshot: dict[str, Any]) -> set[str]:
    """The step names a snapshot has workers for."""
    return set(snapshot.get("workers") or {})


def busy_steps(snapshot: dict[str, Any]) -> set[str]:
    """Steps with queued or in-progress work."""
    return {
        name
        for name, worker in (snapshot.get("workers") or {}).items()
        if worker.get("queue") or worker.get("in_progress")
    }


def delivered_event_names(snapshot: dict[str, Any]) -> list[str]:
    """Qualified class names of the events waiting to be delivered to steps."""
    names = []
    for delivery in snapshot.get("deliveries") or []:
        try:
            qualified = json.loads(delivery.get("event") or "{}").get("qualified_name")
        except (TypeError, ValueError, AttributeError):
            continue
        if qualified:
            names.append(str(qualified))
    return names


def awaited_events(snapshot: dict[str, Any]) -> list[str]:
    """Event classes the Context's waiters (`ctx.wait_for_event`) wait for."""
    return sorted(
        {
            str(waiter["waiting_for_event"])
            for worker in (snapshot.get("workers") or {}).values()
            for waiter in worker.get("collected_waiters") or []
            if waiter.get("waiting_for_event") and not waiter.get("resolved_event")
        }
    )


def is_idle(snapshot: dict[str, Any]) -> bool:
    """A running Context with no queued work and no pending deliveries: only an outside event moves it."""
    return bool(snapshot.get("is_running")) and not busy_steps(snapshot) and not snapshot.get("deliveries")


# --- Snapshots whose cost does not grow with the run ----------------------------------------------

# From 2.26 the reducer folds a suffix of the tick log onto an earlier state (each session's start
# tick rewinds in-progress work itself); before, `rebuild_state_from_ticks` rewinds on every call,
# so only a replay from the start is right.
FOLDS_TICK_SUFFIX = library_version.installed_tuple() >= (2, 26)


class IncrementalSnapshot:
    """`ctx.to_dict()` of one run, kept folded at the last snapshot and fed every journaled tick.

    `ctx.to_dict()` replays the run's whole tick log, so a checkpoint after step n costs O(n) and a
    run of n steps O(n²); this replays only the ticks since the last snapshot. Uses the adapter's
    `init_state`, `rebuild_state_from_ticks` and `BrokerState.to_serialized`.
    """

    def __init__(self, adapter: InternalRunAdapter) -> None:
        snapshottable = as_snapshottable_adapter(adapter)
        if snapshottable is None:
            raise TypeError(f"{type(adapter).__name__} keeps no tick log to snapshot")
        self._adapter = adapter
        self._snapshottable = snapshottable
        self._state: BrokerState | None = None
        self._pending: list[WorkflowTick] = []

    @property
    def run_id(self) -> str:
        return self._adapter.run_id

    def record(self, tick: WorkflowTick) -> None:
        self._pending.append(tick)

    def take(self, serializer: BaseSerializer) -> dict[str, Any]:
        """What `ctx.to_dict(serializer=serializer)` returns now."""
        if self._state is None or self._pending:
            start = self._snapshottable.init_state if self._state is None else self._state
            self._state = rebuild_state_from_ticks(start, self._pending, run_id=self._adapter.run_id)
            self._pending = []
        serialized = self._state.to_serialized(serializer)
        store = self._adapter.get_state_store(())
        serialized.state = store.to_dict(serializer) if store is not None else {}
        snapshot: dict[str, Any] = serialized.model_dump(mode="python")
        return snapshot
