"""controller/children.py: whether an object found under a child's name is the run's own (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from kube_workflows.builders import build_runner_job
from kube_workflows.controller.children import conflict, left_by_earlier_run

RUN = {
    "metadata": {"name": "col", "namespace": "ns", "uid": "uid-col", "generation": 1},
    "spec": {"workflow": "pkg.mod:Flow"},
}


def owned(controller: dict[str, Any] | None, *others: dict[str, Any]) -> dict[str, Any]:
    refs = [*others, *([{"kind": "WorkflowRun", "controller": True, **controller}] if controller else [])]
    return {"kind": "Job", "metadata": {"name": "col", "ownerReferences": refs}}


# existing object -> a fragment of the conflict message (None: it is the run's own)
CASES: dict[str, tuple[dict[str, Any], str | None]] = {
    "the run's own": (owned({"name": "col", "uid": "uid-col"}), None),
    "another run's": (
        owned({"name": "col-s2", "uid": "uid-other"}),
        "controlled by WorkflowRun col-s2 (uid uid-other)",
    ),
    "a re-created run's (same name, new uid)": (owned({"name": "col", "uid": "uid-old"}), "(uid uid-old)"),
    "nobody's": ({"kind": "Job", "metadata": {"name": "col"}}, "is not controlled by any object"),
    "owned but not controlled": (
        owned(None, {"kind": "WorkflowRun", "name": "col", "uid": "uid-col"}),
        "is not controlled by any object",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_only_an_object_the_run_controls_is_adopted(case: str) -> None:
    existing, fragment = CASES[case]
    why = conflict(build_runner_job(RUN, "img"), existing)
    if fragment is None:
        assert why is None
    else:
        assert why is not None and fragment in why and why.startswith("Job col already exists"), why


def test_an_earlier_run_of_the_same_names_child_is_waited_for_not_a_conflict() -> None:
    job = build_runner_job(RUN, "img")
    assert left_by_earlier_run(job, owned({"name": "col", "uid": "uid-old"}))
    assert not left_by_earlier_run(job, owned({"name": "col", "uid": "uid-col"}))  # its own
    assert not left_by_earlier_run(job, owned({"name": "col-s2", "uid": "uid-other"}))
    assert not left_by_earlier_run(job, {"kind": "Job", "metadata": {"name": "col"}})
