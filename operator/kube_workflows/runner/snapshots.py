"""Context snapshots whose cost does not grow with the run's length.

`ctx.to_dict()` rebuilds the run's state by replaying its whole tick log from the start (llama-index-
workflows 2.26), so a checkpoint after step n costs O(n), and a run of n steps O(n²). The reducer is
pure and built to fold a suffix of ticks onto an earlier state, so this keeps the state folded at the
last snapshot and replays only the ticks since: O(ticks per step) per snapshot. The result equals
`ctx.to_dict()` (tests/unit/test_snapshots.py pins that, step by step, for chains, fan-outs, waits and
restored runs).

Library internals used (not public API; the contract test fails when they change): the adapter's
`init_state` through `as_snapshottable_adapter`, `rebuild_state_from_ticks`, `BrokerState.to_serialized`.
"""

from __future__ import annotations

from typing import Any

from workflows.context.serializers import BaseSerializer
from workflows.runtime.control_loop import rebuild_state_from_ticks
from workflows.runtime.types.internal_state import BrokerState
from workflows.runtime.types.plugin import InternalRunAdapter, as_snapshottable_adapter
from workflows.runtime.types.ticks import WorkflowTick


class IncrementalSnapshot:
    """Snapshots of one run, fed every tick the control loop journals (`record`)."""

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
