"""The store protocol a durable runtime writes through: claim, write a checkpoint, read it back, park.

A store keeps one record per run id. Its writes are fenced by the attempt its `claim` returned: once a
later claim has taken the run (another process resumed it), a stale writer's writes are refused with
an exception, never applied. Stores are blocking; the runtime calls them from a worker thread, one
call at a time per run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class Superseded(Exception):
    """A later claim owns the run; this writer's checkpoint was refused."""


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """What the runtime hands the store after a step (or when the run parks or finishes)."""

    # `ctx.to_dict(serializer=JsonSerializer())`: restoring it resumes the run after `step`.
    context: dict[str, Any]
    # The step whose completion this checkpoint follows (None before any step completed).
    step: str | None
    steps_completed: int
    # Outside events (answers) delivered so far.
    events_delivered: int = 0
    # The steps completed since the previous checkpoint: {"name", "completedAt", "durationMs"?, ...}.
    steps: tuple[dict[str, Any], ...] = ()
    # Events the workflow streamed that this write publishes, oldest first (see `_engine.stream_record`):
    # {"type", "value", "timestamp", "types"?, "step"?}. The store numbers them on from the run's last one,
    # in the same write as the checkpoint, so a step re-run after a crash never publishes its events twice.
    events: tuple[dict[str, Any], ...] = ()
    # The steps running or about to run once this checkpoint has landed.
    next_steps: tuple[str, ...] = ()
    # The workflow returned: `result` is its StopEvent's result, JSON-able.
    final: bool = False
    result: Any = None


@dataclass(frozen=True, kw_only=True)
class SavedCheckpoint:
    """A run's latest checkpoint, as `read_checkpoint` returns it."""

    context: dict[str, Any]
    steps_completed: int = 0
    events_delivered: int = 0
    final: bool = False
    result: Any = None
    # What is waiting for an answer, when the run parked (`CheckpointStore.park`).
    waiting: dict[str, Any] | None = None
    # Where it came from, for error messages ("run 'order-42' in runs.db").
    source: str = field(default="", compare=False)


class CheckpointStore(Protocol):
    """Where a durable runtime keeps its runs."""

    def claim(self, run_id: str) -> int:
        """Become the run's writer (creating the run when new); return this claim's attempt number.
        Every later write of this claim is refused once another claim has taken the run."""
        ...

    def read_checkpoint(self, run_id: str) -> SavedCheckpoint | None:
        """The run's latest checkpoint, None when none was written."""
        ...

    def write_checkpoint(self, run_id: str, checkpoint: Checkpoint) -> None:
        """Store `checkpoint` as the run's latest (atomically: the previous one stays until it lands).
        Raises Superseded (or the store's own equivalent) when another claim owns the run."""
        ...

    def park(self, run_id: str, checkpoint: Checkpoint, waiting: dict[str, Any]) -> None:
        """Like `write_checkpoint`, also recording what the run waits for (`waiting`: "requests",
        "expects", ...): the run is idle until an answer comes and the process may exit."""
        ...
