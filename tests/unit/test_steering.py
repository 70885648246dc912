"""What the operator does about spec.cancel, spec.suspend and answers in spec.events (pure)."""

from __future__ import annotations

from typing import Any

from kube_workflows.controller.steering import Action, decide, replace_at_once

COMPLETE = {"status": {"conditions": [{"type": "Complete", "status": "True"}]}, "spec": {}}
RUNNING_JOB: dict[str, Any] = {"status": {"active": 1, "ready": 1}, "spec": {}}
SUSPENDED_JOB: dict[str, Any] = {"status": {}, "spec": {"suspend": True}}
WAITING = {"phase": "Waiting", "waiting": {"eventIndex": 1}, "checkpoint": {"seq": 4}}


def run(spec: dict[str, Any] | None = None, generation: int = 3, **status: Any) -> dict[str, Any]:
    return {"metadata": {"generation": generation}, "spec": {"workflow": "m:W", **(spec or {})}, "status": status}


def test_a_parked_run_gets_a_new_job_once_its_answer_is_there() -> None:
    assert decide(run({"events": [{}]}, **WAITING), COMPLETE).actions == ()  # answers spec.events[1], not there yet
    assert decide(run({"events": [{}, {}]}, **WAITING), COMPLETE).actions == (Action.NEXT_SEGMENT,)


def test_an_answer_rejected_as_it_is_waits_for_an_edit() -> None:
    rejected = {**WAITING, "waiting": {"eventIndex": 1, "rejectedGeneration": 3}}
    assert decide(run({"events": [{}, {}]}, **rejected), COMPLETE).actions == ()
    assert decide(run({"events": [{}, {}]}, generation=4, **rejected), COMPLETE).actions == (Action.NEXT_SEGMENT,)


def test_a_run_still_parking_is_left_to_its_runner() -> None:
    # The runner wrote status.waiting but its pod has not exited: it reads spec.events itself first.
    assert decide(run({"events": [{}, {}]}, **WAITING), RUNNING_JOB).actions == ()


def test_suspend_and_resume() -> None:
    assert decide(run({"suspend": True}, phase="Running"), RUNNING_JOB).actions == (Action.SUSPEND_JOB,)
    assert decide(run({"suspend": True}, phase="Suspended"), SUSPENDED_JOB).actions == ()
    assert decide(run({}, phase="Suspended"), SUSPENDED_JOB).actions == (Action.RESUME_JOB,)
    # A parked run has no pod to stop; resuming it with its answer there goes straight on.
    assert decide(run({"suspend": True}, **WAITING), COMPLETE).actions == (Action.SUSPEND_PARKED,)
    suspended = {**WAITING, "phase": "Suspended"}
    assert decide(run({"events": [{}, {}]}, **suspended), COMPLETE).actions == (
        Action.UNSUSPEND_PARKED,
        Action.NEXT_SEGMENT,
    )


def test_cancel_wins_and_finished_runs_are_left_alone() -> None:
    assert decide(run({"cancel": True, "suspend": True}, phase="Running"), RUNNING_JOB).actions == (Action.CANCEL,)
    assert decide(run({"cancel": True}, phase="Pending"), None).actions == (Action.CANCEL,)
    for phase in ("Succeeded", "Failed", "Cancelled"):
        assert decide(run({"cancel": True, "events": [{}, {}]}, phase=phase), COMPLETE).actions == ()


def lost(failed: int = 1, active: int = 0, before: int = 0, backoff_limit: int = 3, **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"annotations": {"kube-workflows.dev/restarts-before": str(before)}},
        "spec": {"backoffLimit": backoff_limit},
        "status": {"failed": failed, "active": active, **extra},
    }


def test_only_the_runs_first_lost_pod_is_replaced_at_once() -> None:
    assert replace_at_once(lost())
    assert not replace_at_once(lost(failed=2))  # the Job controller's backoff handles a crash loop
    assert not replace_at_once(lost(before=1))  # a later Job of the same run: the same
    assert not replace_at_once(lost(active=1))  # the Job controller replaced it already
    assert not replace_at_once(lost(backoff_limit=0))  # no replacements allowed
    failing = {"conditions": [{"type": "FailureTarget", "status": "True"}]}
    assert not replace_at_once(lost(**failing))  # e.g. the workflow raised (podFailurePolicy FailJob)
