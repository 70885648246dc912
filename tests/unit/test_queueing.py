"""Runs in a Kueue queue: Kueue owns their Job's suspend, the run shows Queued, and its own suspend goes
through the Workload (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from kube_workflows.builders import build_runner_job
from kube_workflows.controller import job_verdict, queueing
from kube_workflows.controller import status as run_status
from kube_workflows.controller.steering import Action, decide, replace_at_once
from kube_workflows.models import Phase, WorkflowRunSpec
from kube_workflows.models.crd import openapi_schema
from kube_workflows.models.names import KUEUE_PRIORITY_LABEL, KUEUE_QUEUE_LABEL

QUEUE_LABELS = {KUEUE_QUEUE_LABEL: "team-a"}
SUSPENDED = {"type": "Suspended", "status": "True"}


def job(*, suspend: bool, annotations: dict[str, str] | None = None, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "r-job",
            "namespace": "ns",
            "uid": "u-1",
            "labels": QUEUE_LABELS,
            "annotations": annotations or {},
            "ownerReferences": [{"kind": "WorkflowRun", "name": "r", "uid": "r-uid", "controller": True}],
        },
        "spec": {"suspend": suspend, "backoffLimit": 3},
        "status": {"conditions": [SUSPENDED] if suspend else [], **status},
    }


BY_USER = {queueing.SUSPENDED_ANNOTATION: "true"}


def run(spec: dict[str, Any] | None = None, **status: Any) -> dict[str, Any]:
    spec = {"workflow": "m:W", "queueName": "team-a", **(spec or {})}
    return {
        "metadata": {"name": "r", "namespace": "ns", "uid": "r-uid", "generation": 1},
        "spec": spec,
        "status": status,
    }


def test_a_queued_runs_job_is_created_suspended_with_kueues_labels() -> None:
    built = build_runner_job(run({"priorityClass": "high"}), "img")
    assert built["spec"]["suspend"] is True
    assert built["metadata"]["labels"][KUEUE_QUEUE_LABEL] == "team-a"
    assert built["metadata"]["labels"][KUEUE_PRIORITY_LABEL] == "high"
    plain = build_runner_job(run({"queueName": None}), "img")
    assert "suspend" not in plain["spec"] and KUEUE_QUEUE_LABEL not in plain["metadata"]["labels"]


def test_a_job_kueue_holds_shows_queued_not_suspended() -> None:
    observed = run_status.observe({"phase": "Pending"}, job(suspend=True))
    assert (observed.phase, observed.reason) == (Phase.QUEUED, queueing.WAITING_FOR_ADMISSION)
    assert "LocalQueue team-a" in observed.message
    # Suspended by the run's own spec.suspend (recorded on the Job): Suspended, as for any run.
    assert run_status.observe({"phase": "Running"}, job(suspend=True, annotations=BY_USER)).phase == Phase.SUSPENDED


def test_a_running_run_whose_job_kueue_suspends_was_preempted_and_keeps_saying_so() -> None:
    status = {"phase": "Running", "checkpoint": {"seq": 7}}
    observed = run_status.observe(status, job(suspend=True))
    assert (observed.phase, observed.reason, observed.restarts) == (Phase.QUEUED, queueing.PREEMPTED, 0)
    assert "checkpoint 7" in observed.message
    conditions = run_status.conditions_for([], observed, 1)
    queued = next(c for c in conditions if c["type"] == "Queued")
    assert (queued["status"], queued["reason"]) == ("True", queueing.PREEMPTED)
    # The next mirror of the same Job (phase now Queued) still says Preempted.
    again = run_status.observe({**status, "phase": "Queued", "conditions": conditions}, job(suspend=True))
    assert again.reason == queueing.PREEMPTED
    # Admitted again: Running, and the Queued condition turns False.
    admitted = run_status.observe({**status, "phase": "Queued"}, job(suspend=False, ready=1))
    assert admitted.phase == Phase.RUNNING
    after = {c["type"]: c for c in run_status.conditions_for(conditions, admitted, 1)}
    assert (after["Queued"]["status"], after["Queued"]["reason"]) == ("False", "Admitted")


def test_the_operator_never_unsuspends_a_job_kueue_suspended() -> None:
    assert decide(run(phase="Queued"), job(suspend=True)).actions == ()
    assert decide(run(phase="Running"), job(suspend=False)).actions == ()
    # The run's own suspend is steered (through the Workload), and so is its resume.
    assert decide(run({"suspend": True}, phase="Running"), job(suspend=False)).actions == (Action.SUSPEND_JOB,)
    assert decide(run({"suspend": True}, phase="Queued"), job(suspend=True)).actions == (Action.SUSPEND_JOB,)
    assert decide(run(phase="Suspended"), job(suspend=True, annotations=BY_USER)).actions == (Action.RESUME_JOB,)


def test_a_job_kueue_holds_is_in_line_with_the_runs_spec() -> None:
    entry = {"generation": 1, "status": {"phase": "Queued", "jobName": "r-job"}, "steer": {"suspend": False}}
    verdict = job_verdict.decide(job(suspend=True), entry)
    assert verdict.kind != job_verdict.Kind.READ_FRESH  # not "out of line with spec"
    user = {**entry, "steer": {"suspend": True}}
    assert job_verdict.decide(job(suspend=True), user).kind == job_verdict.Kind.READ_FRESH


def test_a_queued_jobs_lost_pod_is_replaced_by_its_own_job_keeping_the_admission() -> None:
    lost = job(suspend=False, failed=1)
    assert not replace_at_once(lost)
    lost["metadata"]["labels"] = {}
    assert replace_at_once(lost)


def test_a_priority_class_needs_a_queue() -> None:
    with pytest.raises(ValidationError, match=r"spec\.priorityClass needs spec\.queueName"):
        WorkflowRunSpec.model_validate({"workflow": "m:W", "priorityClass": "high"})
    rules = openapi_schema()["properties"]["spec"]["x-kubernetes-validations"]
    assert any(r["fieldPath"] == ".priorityClass" and "queueName" in r["rule"] for r in rules)
    assert any(r["fieldPath"] == ".queueName" and "oldSelf" in r["rule"] for r in rules)
