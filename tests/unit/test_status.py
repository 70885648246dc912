from typing import Any

import pytest

from kube_workflows.controller.status import MAX_CONDITION_MESSAGE, Observed, observe, set_condition, status_patch
from kube_workflows.models import Phase


def job(active: int = 0, failed: int = 0, condition: str | None = None, reason: str = "") -> dict[str, Any]:
    status: dict[str, Any] = {"active": active, "ready": active, "failed": failed}
    if condition:
        status["conditions"] = [{"type": condition, "status": "True", "reason": reason, "message": "m"}]
    return {"status": status}


def test_pending_until_the_job_exists_and_runs() -> None:
    assert observe({}, None).phase == Phase.PENDING
    assert observe({}, job()).phase == Phase.PENDING
    assert observe({}, {"status": {"active": 1, "ready": 0}}).phase == Phase.PENDING  # pod not started yet
    running = observe({}, job(active=1))
    assert running.phase == Phase.RUNNING and running.running


def test_lost_pod_keeps_running_phase_and_counts_restarts() -> None:
    lost = observe({"checkpoint": {"seq": 4}}, job(failed=1))
    assert lost.phase == Phase.RUNNING and lost.reason == "Resuming" and lost.restarts == 1
    resumed = observe({"checkpoint": {"seq": 4}}, job(active=1, failed=1))
    assert "resumed from checkpoint 4" in resumed.message


FINAL = {"checkpoint": {"seq": 3, "final": True}}


def test_success_and_failures() -> None:
    assert observe(FINAL, job(condition="Complete")).phase == Phase.SUCCEEDED
    raised = observe(
        {"error": {"reason": "WorkflowRaised", "type": "ValueError", "message": "boom", "step": "second"}},
        job(failed=1, condition="Failed", reason="PodFailurePolicy"),
    )
    assert (raised.phase, raised.succeeded, raised.reason) == (Phase.FAILED, "False", "WorkflowRaised")
    assert raised.message == "ValueError in step second: boom"
    exhausted = observe({}, job(failed=4, condition="Failed", reason="BackoffLimitExceeded"))
    assert exhausted.reason == "RetriesExhausted" and "4 pods failed" in exhausted.message
    assert observe({}, job(condition="Failed", reason="DeadlineExceeded")).reason == "Timeout"


def test_patch_only_on_change_and_keeps_transition_time() -> None:
    run: dict[str, Any] = {"metadata": {"generation": 2}, "status": {}}
    first = status_patch(run, observe({}, job(active=1)))
    assert first["phase"] == "Running" and first["observedGeneration"] == 2
    assert {c["type"]: c["status"] for c in first["conditions"]} == {
        "Succeeded": "Unknown",
        "Running": "True",
        "Ready": "False",
        "Reconciling": "True",
    }
    run["status"] = {**first}
    assert status_patch(run, observe({}, job(active=1))) == {}
    done = status_patch(run, observe(FINAL, job(condition="Complete")))
    assert done["phase"] == "Succeeded" and "completionTime" in done
    succeeded = next(c for c in done["conditions"] if c["type"] == "Succeeded")
    assert succeeded["status"] == "True" and succeeded["observedGeneration"] == 2


def test_finished_runs_drop_current_step() -> None:
    run: dict[str, Any] = {"metadata": {"generation": 1}, "status": {"phase": "Running", "currentStep": None}}
    assert status_patch(run, observe(FINAL, job(condition="Complete")))["currentStep"] is None  # merge-patch: remove
    run["status"] = {"phase": "Running"}
    assert "currentStep" not in status_patch(run, observe(FINAL, job(condition="Complete")))


def test_a_completed_job_of_a_waiting_run_means_waiting_not_succeeded() -> None:
    waiting = {"waiting": {"eventIndex": 0, "requests": [{"prefix": "Your name?", "type": "x"}]}}
    observed = observe(waiting, job(condition="Complete"))
    assert observed.phase == Phase.WAITING and not observed.running
    assert observed.message == "waiting for input: Your name?; answer with spec.events[0]"
    patch = status_patch({"metadata": {"generation": 1}, "status": {"phase": "Running"}}, observed)
    assert {c["type"]: c["status"] for c in patch["conditions"]} == {
        "Succeeded": "Unknown",
        "Running": "False",
        "Ready": "False",
        "Waiting": "True",
    }
    final = {**waiting, "checkpoint": {"final": True}}
    assert observe(final, job(condition="Complete")).phase == Phase.SUCCEEDED


def test_a_runner_that_exits_0_without_a_result_fails_the_run() -> None:
    # spec.workflow "sys:exit", or sys.exit(0) in a step: the Job completes, but nothing was returned.
    for status in ({}, {"checkpoint": {"seq": 2, "final": False}}, {"phase": "Running", "attempt": 1}):
        observed = observe(status, job(condition="Complete"))
        assert (observed.phase, observed.succeeded, observed.reason) == (
            Phase.FAILED,
            "False",
            "RunnerExitedWithoutResult",
        ), status
        assert "exited 0 without recording a result" in observed.message
    patch = status_patch({"metadata": {"generation": 1}, "status": {"phase": "Running"}}, observed)
    assert patch["phase"] == "Failed" and "completionTime" in patch


def test_the_runners_claim_counts_as_running_before_the_job_reports_ready() -> None:
    assert observe({"phase": "Running"}, job(active=0)).phase == Phase.RUNNING
    assert observe({"phase": "Pending"}, job(active=0)).phase == Phase.PENDING


def test_restarts_count_across_the_jobs_of_a_run() -> None:
    later = job(active=1, failed=1)
    later["metadata"] = {"annotations": {"kube-workflows.dev/restarts-before": "2"}}
    assert observe({}, later).restarts == 3


def conditions_of(patch: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in patch["conditions"]}


# (phase the run reaches, its Job) -> the kstatus conditions Flux's `wait: true` reads.
KSTATUS_CASES: dict[str, tuple[dict[str, Any], dict[str, Any] | None, dict[str, tuple[str, str]]]] = {
    "pending": ({}, None, {"Ready": ("False", "Pending"), "Reconciling": ("True", "Pending")}),
    "running": ({}, job(active=1), {"Ready": ("False", "Running"), "Reconciling": ("True", "Running")}),
    "resuming": (
        {"checkpoint": {"seq": 2}},
        job(failed=1),
        {"Ready": ("False", "Resuming"), "Reconciling": ("True", "Resuming")},
    ),
    "succeeded": (FINAL, job(condition="Complete"), {"Ready": ("True", "Succeeded")}),
    "failed": (
        {},
        job(failed=4, condition="Failed", reason="BackoffLimitExceeded"),
        {"Ready": ("False", "RetriesExhausted"), "Stalled": ("True", "RetriesExhausted")},
    ),
    "no-result": (
        {},
        job(condition="Complete"),
        {"Ready": ("False", "RunnerExitedWithoutResult"), "Stalled": ("True", "RunnerExitedWithoutResult")},
    ),
    "suspended": ({}, job(condition="Suspended"), {"Ready": ("False", "Suspended")}),
}


@pytest.mark.parametrize("case", list(KSTATUS_CASES))
def test_kstatus_conditions(case: str) -> None:
    run_status, run_job, expected = KSTATUS_CASES[case]
    patch = status_patch({"metadata": {"generation": 1}, "status": {}}, observe(run_status, run_job))
    kstatus = {t: v for t, v in conditions_of(patch).items() if t in ("Ready", "Reconciling", "Stalled")}
    assert kstatus == expected


def test_cancelled_is_stalled_and_reconciling_turns_false_once_it_applied() -> None:
    run: dict[str, Any] = {"metadata": {"generation": 1}, "status": {}}
    run["status"] = status_patch(run, observe({}, job(active=1)))
    cancelled = Observed(Phase.CANCELLED, "False", "Cancelled", "cancelled (spec.cancel)", False, 0)
    conditions = conditions_of(status_patch(run, cancelled))
    assert conditions["Reconciling"] == ("False", "Cancelled")  # kstatus: absent or False once done
    assert conditions["Stalled"] == ("True", "Cancelled") and conditions["Ready"] == ("False", "Cancelled")


def test_set_condition_truncates_and_keeps_the_transition_time_while_status_holds() -> None:
    conditions: list[dict[str, Any]] = [
        {"type": "Ready", "status": "False", "reason": "Running", "lastTransitionTime": "2026-01-01T00:00:00Z"}
    ]
    set_condition(conditions, "Ready", "False", "Failed", "x" * 5000, 3)
    (ready,) = conditions
    assert len(ready["message"]) == MAX_CONDITION_MESSAGE and ready["message"].endswith("…")
    assert ready["lastTransitionTime"] == "2026-01-01T00:00:00Z" and ready["observedGeneration"] == 3
    set_condition(conditions, "Ready", "True", "Succeeded", "done", 3)
    assert conditions[0]["lastTransitionTime"] != "2026-01-01T00:00:00Z"
    set_condition(conditions, "Stalled", "False", "Succeeded", "done", 3)
    assert [c["type"] for c in conditions] == ["Ready", "Stalled"]


def test_a_long_workflow_error_is_truncated_in_every_condition() -> None:
    raised = observe(
        {"error": {"reason": "WorkflowRaised", "type": "ValueError", "message": "boom " * 1000}},
        job(failed=1, condition="Failed", reason="PodFailurePolicy"),
    )
    patch = status_patch({"metadata": {"generation": 1}, "status": {}}, raised)
    assert all(len(c["message"]) <= MAX_CONDITION_MESSAGE for c in patch["conditions"])
