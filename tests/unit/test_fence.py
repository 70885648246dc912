"""controller/fence.py: the JSON patch an ownership change sends, and that it applies only to the read it was
built from (applied here as the API server applies JSON patches)."""

from __future__ import annotations

from typing import Any

import jsonpatch
import pytest

from kube_workflows.controller.fence import fenced_status_patch


def run(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "r", "resourceVersion": "7"}, "spec": {}, "status": status}


def test_the_attempt_read_is_the_precondition() -> None:
    read = run(attempt=1, phase="Running", currentStep="work")
    ops = fenced_status_patch(read, {"attempt": 2, "phase": "Cancelled", "currentStep": None})
    assert ops[:2] == [
        {"op": "test", "path": "/status/attempt", "value": 1},
        {"op": "test", "path": "/status/phase", "value": "Running"},
    ]
    applied = jsonpatch.apply_patch(read, ops)
    assert applied["status"] == {"attempt": 2, "phase": "Cancelled"}


def test_a_claim_in_between_makes_the_write_fail() -> None:
    read = run(attempt=1, phase="Running")
    claimed = run(attempt=2, phase="Running")  # a new pod claimed after the operator's read
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(claimed, fenced_status_patch(read, {"attempt": 2, "phase": "Cancelled"}))


def test_an_outcome_in_between_makes_the_write_fail() -> None:
    read = run(attempt=1, phase="Running")
    succeeded = run(attempt=1, phase="Succeeded")  # the runner's final write: same attempt
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(succeeded, fenced_status_patch(read, {"attempt": 2, "phase": "Cancelled"}))


def test_without_an_attempt_the_resource_version_is_the_precondition() -> None:
    read = run(phase="Pending")
    ops = fenced_status_patch(read, {"attempt": 1, "phase": "Cancelled"})
    assert ops[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "7"}
    assert jsonpatch.apply_patch(read, ops)["status"] == {"phase": "Cancelled", "attempt": 1}
    changed = {**read, "metadata": {**read["metadata"], "resourceVersion": "8"}}
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(changed, ops)


def test_without_a_status_it_is_added_whole() -> None:
    read = {"metadata": {"name": "r", "resourceVersion": "3"}, "spec": {}}
    ops = fenced_status_patch(read, {"attempt": 1, "phase": "Cancelled", "currentStep": None})
    assert jsonpatch.apply_patch(read, ops)["status"] == {"attempt": 1, "phase": "Cancelled"}
