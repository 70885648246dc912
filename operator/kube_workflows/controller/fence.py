"""Status writes that change who owns a run, fenced against concurrent writers (pure).

`status.attempt` is the run's lease: a runner claims the run by raising it, and every write a runner
makes tests it. The operator raises it too (cancel), so a still-running pod's writes are rejected.
Raising it from an earlier read without a precondition could hand out the number a runner claimed
meanwhile; the JSON patch below applies only if the attempt and phase are still the ones read (or,
before any attempt, if nothing at all changed: the resourceVersion).
"""

from __future__ import annotations

from typing import Any

JsonPatch = list[dict[str, Any]]


def preconditions(run: dict[str, Any]) -> JsonPatch:
    """The `test` ops that hold while the run's attempt and phase are what `run` says: a claim
    (attempt) or an outcome (phase, say the runner's Succeeded) since that read makes them fail."""
    status = run.get("status") or {}
    if status.get("attempt") is None:
        # JSON patch cannot test that a member is absent; a resourceVersion test is stricter and works.
        version = (run.get("metadata") or {}).get("resourceVersion")
        return [{"op": "test", "path": "/metadata/resourceVersion", "value": version}]
    ops: JsonPatch = [{"op": "test", "path": "/status/attempt", "value": status["attempt"]}]
    if status.get("phase") is not None:
        ops.append({"op": "test", "path": "/status/phase", "value": status["phase"]})
    return ops


def fenced_status_patch(run: dict[str, Any], merge: dict[str, Any]) -> JsonPatch:
    """`merge` (top-level status fields; None removes one, as in a merge patch) as a JSON patch that
    applies only under `preconditions(run)`. Each field is replaced whole."""
    status = run.get("status")
    ops = preconditions(run)
    if not status:
        # No status yet: adding a member needs its parent, so the status is added whole.
        return [*ops, {"op": "add", "path": "/status", "value": {k: v for k, v in merge.items() if v is not None}}]
    for key, value in merge.items():
        path = f"/status/{key.replace('~', '~0').replace('/', '~1')}"
        if value is None:
            if key in status:
                ops.append({"op": "remove", "path": path})
        else:
            ops.append({"op": "add", "path": path, "value": value})  # `add` replaces an existing member
    return ops
