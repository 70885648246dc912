"""Status patches the runner writes (pure builders; `reporter` sends them).

Checkpoint patches are JSON patches that start with a `test` of `/status/attempt`: once a newer
pod has claimed the run, a stale pod's write is rejected by the API server itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kube_workflows.checkpoint import ENCODING, EncodedCheckpoint

MAX_STEP_RECORDS = 50
JsonPatch = list[dict[str, Any]]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def claim_patch(resource_version: str, attempt: int, pod: str, steps: list[Any] | None) -> dict[str, Any]:
    """Merge patch that makes `attempt` the run's owner; the resourceVersion makes it compare-and-swap."""
    return {
        "metadata": {"resourceVersion": resource_version},
        "status": {
            "attempt": attempt,
            "runner": {"pod": pod, "attempt": attempt, "startedAt": now()},
            "steps": steps if steps is not None else [],
            "error": None,
        },
    }


def checkpoint_value(
    encoded: EncodedCheckpoint,
    *,
    seq: int,
    attempt: int,
    step: str | None,
    steps_completed: int,
    final: bool,
) -> dict[str, Any]:
    return {
        "seq": seq,
        "attempt": attempt,
        "step": step,
        "stepsCompleted": steps_completed,
        "final": final,
        "encoding": ENCODING,
        "sizeBytes": encoded.size_bytes,
        "storedBytes": encoded.stored_bytes,
        "sha256": encoded.sha256,
        "time": now(),
        "data": encoded.data,
    }


def step_checkpoint_patch(
    attempt: int,
    checkpoint: dict[str, Any],
    step_record: dict[str, Any],
    current_step: str | None,
    steps_len: int,
) -> JsonPatch:
    """One write per completed step: the checkpoint, the step record and the current step, fenced."""
    # "add" (not "replace") because it sets an object member whether or not it exists yet.
    patch: JsonPatch = [
        {"op": "test", "path": "/status/attempt", "value": attempt},
        {"op": "add", "path": "/status/checkpoint", "value": checkpoint},
        {"op": "add", "path": "/status/currentStep", "value": current_step},
        {"op": "add", "path": "/status/steps/-", "value": step_record},
    ]
    if steps_len >= MAX_STEP_RECORDS:
        patch.append({"op": "remove", "path": "/status/steps/0"})
    return patch


def final_patch(
    attempt: int, checkpoint: dict[str, Any], result: Any, step_record: dict[str, Any] | None, steps_len: int
) -> JsonPatch:
    patch: JsonPatch = [
        {"op": "test", "path": "/status/attempt", "value": attempt},
        {"op": "add", "path": "/status/checkpoint", "value": checkpoint},
        {"op": "add", "path": "/status/result", "value": result},
    ]
    if step_record is not None:
        patch.append({"op": "add", "path": "/status/steps/-", "value": step_record})
        if steps_len >= MAX_STEP_RECORDS:
            patch.append({"op": "remove", "path": "/status/steps/0"})
    return patch


def error_patch(attempt: int, error: dict[str, Any]) -> JsonPatch:
    return [
        {"op": "test", "path": "/status/attempt", "value": attempt},
        {"op": "add", "path": "/status/error", "value": error},
    ]
