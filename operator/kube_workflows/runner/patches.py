"""Status patches the runner writes (pure builders; `reporter` sends them).

Checkpoint patches are JSON patches that start with a `test` of `/status/attempt`: once a newer
pod has claimed the run, a stale pod's write is rejected by the API server itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kube_workflows.checkpoint import ENCODING, EncodedCheckpoint

MAX_STEP_RECORDS = 50
JsonPatch = list[dict[str, Any]]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Phases in which a runner that claims the run is the news: it runs now, whatever the Job says yet.
_CLAIM_SETS_RUNNING = (None, "Pending", "Waiting")


def claim_patch(resource_version: str, attempt: int, pod: str, status: dict[str, Any]) -> dict[str, Any]:
    """Merge patch that makes `attempt` the run's owner; the resourceVersion makes it compare-and-swap."""
    claim: dict[str, Any] = {
        "attempt": attempt,
        "runner": {"pod": pod, "attempt": attempt, "startedAt": now(), "writes": 0},
        # Lists the checkpoint writes append to with JSON patch ("add .../-" needs the list to exist).
        "steps": status.get("steps") or [],
        "history": status.get("history") or [],
        "error": None,
    }
    if status.get("phase") in _CLAIM_SETS_RUNNING:
        # The Job controller reports the pod ready a little later; the operator keeps this phase.
        claim["phase"] = "Running"
    return {"metadata": {"resourceVersion": resource_version}, "status": claim}


def checkpoint_value(
    encoded: EncodedCheckpoint,
    *,
    seq: int,
    attempt: int,
    step: str | None,
    steps_completed: int,
    final: bool,
    events_delivered: int = 0,
) -> dict[str, Any]:
    return {
        "seq": seq,
        "attempt": attempt,
        "step": step,
        "stepsCompleted": steps_completed,
        "final": final,
        "eventsDelivered": events_delivered,
        "encoding": ENCODING,
        "sizeBytes": encoded.size_bytes,
        "storedBytes": encoded.stored_bytes,
        "sha256": encoded.sha256,
        "time": now(),
        "data": encoded.data,
    }


@dataclass
class Records:
    """How long status.steps and status.history are, so appends can drop the oldest entry."""

    steps_len: int = 0
    history_len: int = 0
    history_keep: int = 0
    clear_waiting: bool = False
    # The checkpoint the new one replaces: kept as status.previousCheckpoint while its chunks are intact
    # (offloaded to the three rotating slots), to resume from should the new one's chunks be damaged.
    previous: dict[str, Any] | None = None

    def checkpoint_ops(self, checkpoint: dict[str, Any] | None) -> JsonPatch:
        # "add" (not "replace") because it sets an object member whether or not it exists yet.
        if checkpoint is None:
            return []
        ops: JsonPatch = [{"op": "add", "path": "/status/checkpoint", "value": checkpoint}]
        if not self.history_keep and self.previous and self.previous.get("chunks") and checkpoint.get("chunks"):
            ops.append({"op": "add", "path": "/status/previousCheckpoint", "value": self.previous})
        if self.history_keep:
            ops.append({"op": "add", "path": "/status/history/-", "value": checkpoint})
            if self.history_len >= self.history_keep:
                ops.append({"op": "remove", "path": "/status/history/0"})
            self.history_len = min(self.history_len + 1, self.history_keep)
        if self.clear_waiting:
            ops.append({"op": "remove", "path": "/status/waiting"})
            self.clear_waiting = False
        return ops

    def step_ops(self, step_records: list[dict[str, Any]]) -> JsonPatch:
        ops: JsonPatch = []
        for record in step_records:
            ops.append({"op": "add", "path": "/status/steps/-", "value": record})
            if self.steps_len >= MAX_STEP_RECORDS:
                ops.append({"op": "remove", "path": "/status/steps/0"})
            self.steps_len = min(self.steps_len + 1, MAX_STEP_RECORDS)
        return ops


def fence(attempt: int) -> dict[str, Any]:
    return {"op": "test", "path": "/status/attempt", "value": attempt}


def guarded(patch: JsonPatch, writes: int) -> JsonPatch:
    """`patch` applied at most once: it tests that the attempt has made `writes` writes and counts itself.

    A retry of a write whose response was lost then fails its `test` instead of appending step
    records twice or removing a history entry that is already gone."""
    return [
        *patch[:1],
        {"op": "test", "path": "/status/runner/writes", "value": writes},
        {"op": "replace", "path": "/status/runner/writes", "value": writes + 1},
        *patch[1:],
    ]


def step_checkpoint_patch(
    attempt: int,
    checkpoint: dict[str, Any],
    step_records: list[dict[str, Any]],
    current_step: str | None,
    records: Records,
) -> JsonPatch:
    """One write per checkpoint: the Context, the steps completed since the last one, the current step."""
    return [
        fence(attempt),
        *records.checkpoint_ops(checkpoint),
        {"op": "add", "path": "/status/currentStep", "value": current_step},
        *records.step_ops(step_records),
    ]


def final_patch(
    attempt: int,
    checkpoint: dict[str, Any] | None,
    result: Any,
    step_records: list[dict[str, Any]],
    records: Records,
    result_ref: dict[str, Any] | None = None,
) -> JsonPatch:
    """The result (or, for a sensitive run, `result_ref`: where it is instead) and the final Context."""
    where = [{"op": "add", "path": "/status/resultRef", "value": result_ref}] if result_ref else []
    return [
        fence(attempt),
        *records.checkpoint_ops(checkpoint),
        {"op": "add", "path": "/status/result", "value": None if result_ref else result},
        *where,
        *records.step_ops(step_records),
    ]


def waiting_patch(
    attempt: int,
    checkpoint: dict[str, Any],
    waiting: dict[str, Any],
    step_records: list[dict[str, Any]],
    records: Records,
) -> JsonPatch:
    """Park the run: the Context with its waiters, and what it waits for. The pod then exits."""
    records.clear_waiting = False  # replaced, not removed
    return [
        fence(attempt),
        *records.checkpoint_ops(checkpoint),
        {"op": "add", "path": "/status/waiting", "value": waiting},
        {"op": "add", "path": "/status/currentStep", "value": None},
        *records.step_ops(step_records),
    ]


def storage_patch(attempt: int, chunks: int, outputs: bool) -> JsonPatch:
    """Ask the operator for chunk and outputs objects (see builders/storage.py)."""
    wanted = {"chunks": chunks, "outputs": outputs, "askedAt": now()}
    return [fence(attempt), {"op": "add", "path": "/status/runner/storageWanted", "value": wanted}]


def recovery_patch(attempt: int, recovered_from: dict[str, Any]) -> JsonPatch:
    """The latest checkpoint was damaged and this attempt resumed from an older one: say so."""
    return [fence(attempt), {"op": "add", "path": "/status/runner/recoveredFrom", "value": recovered_from}]


def error_patch(attempt: int, error: dict[str, Any]) -> JsonPatch:
    return [fence(attempt), {"op": "add", "path": "/status/error", "value": error}]
