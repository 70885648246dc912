from __future__ import annotations

from typing import Any

from kube_workflows.controller.pod_loss import JOB_TRACKING_FINALIZER, as_counted, counted_failure, owner_job_name
from kube_workflows.controller.steering import replace_at_once
from kube_workflows.models import exit_codes

RUNNING_JOB: dict[str, Any] = {
    "metadata": {"name": "chain-abc", "annotations": {"kube-workflows.dev/restarts-before": "0"}},
    "spec": {"backoffLimit": 3},
    "status": {"active": 1, "ready": 1},
}


def failed_pod(
    exit_code: int | None = 137, *, tracked: bool = True, uid: str = "u1", **condition: str
) -> dict[str, Any]:
    state = {"terminated": {"exitCode": exit_code}} if exit_code is not None else {"running": {}}
    return {
        "metadata": {
            "uid": uid,
            "finalizers": [JOB_TRACKING_FINALIZER] if tracked else [],
            "ownerReferences": [{"kind": "Job", "name": "chain-abc", "controller": True}],
        },
        "status": {
            "phase": "Failed",
            "conditions": [{"type": t, "status": s} for t, s in condition.items()],
            "containerStatuses": [{"name": "runner", "state": state}],
        },
    }


def test_a_killed_runner_is_a_failure_its_job_counts() -> None:
    assert counted_failure(failed_pod(137))
    assert counted_failure(failed_pod(exit_codes.INFRASTRUCTURE))
    assert owner_job_name(failed_pod()) == "chain-abc"


def test_failures_the_pod_failure_policy_does_not_count_are_left_to_the_job() -> None:
    for code in (*exit_codes.PERMANENT, *exit_codes.IGNORED):
        assert not counted_failure(failed_pod(code)), code
    assert not counted_failure(failed_pod(137, DisruptionTarget="True"))  # evicted, preempted
    assert not counted_failure({**failed_pod(), "status": {**failed_pod()["status"], "phase": "Running"}})


def test_the_job_as_its_controller_will_write_it_gets_the_first_loss_replaced_at_once() -> None:
    assert not replace_at_once(RUNNING_JOB)  # what the Job says until its controller counts the pod
    counted = as_counted(RUNNING_JOB, failed_pod())
    assert counted is not None and replace_at_once(counted)
    assert counted["status"]["failed"] == 1 and counted["status"]["active"] == 0
    assert RUNNING_JOB["status"] == {"active": 1, "ready": 1}  # not modified in place


def test_a_pod_its_job_has_counted_is_left_to_the_jobs_own_event() -> None:
    assert as_counted(RUNNING_JOB, failed_pod(tracked=False)) is None
    # Counted, finalizer removed, but not yet added to status.failed:
    pending = {**RUNNING_JOB, "status": {"active": 0, "uncountedTerminatedPods": {"failed": ["u1"]}}}
    counted = as_counted(pending, failed_pod(tracked=False))
    assert counted is not None and counted["status"]["failed"] == 1


def test_a_second_loss_still_waits_for_the_job_controllers_backoff() -> None:
    once_failed = {**RUNNING_JOB, "status": {"failed": 1, "active": 1}}
    counted = as_counted(once_failed, failed_pod())
    assert counted is not None and not replace_at_once(counted)
