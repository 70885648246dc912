"""Derive a WorkflowRun's phase and conditions from its Job and its runner's reports (pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kube_workflows.controller import queueing
from kube_workflows.models import TERMINAL_PHASES, Phase
from kube_workflows.models.names import RESTARTS_BEFORE_ANNOTATION

# Why a Job failed → the run's condition reason.
_JOB_FAILURE_REASONS = {
    "BackoffLimitExceeded": "RetriesExhausted",
    "DeadlineExceeded": "Timeout",
}


RUNNER_EXITED_WITHOUT_RESULT = "RunnerExitedWithoutResult"
EXITED_WITHOUT_RESULT_MESSAGE = (
    "the runner exited 0 without recording a result (no final checkpoint): the workflow did not return; "
    "did spec.workflow or a step call sys.exit()?"
)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Observed:
    """What the operator concluded: the new phase plus the Succeeded condition's status/reason/message."""

    phase: Phase
    succeeded: str
    reason: str
    message: str
    running: bool
    restarts: int


def _job_condition(job: dict[str, Any], *types: str) -> dict[str, Any] | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in types and condition.get("status") == "True":
            return dict(condition)
    return None


def observe(run_status: dict[str, Any], job: dict[str, Any] | None) -> Observed:
    """The run's state given its current Job (None until created) and the status its runner wrote."""
    job_status = (job or {}).get("status") or {}
    annotations = ((job or {}).get("metadata") or {}).get("annotations") or {}
    # Each resume after a wait for input is a new Job; restarts count across all of them.
    before = int(annotations.get(RESTARTS_BEFORE_ANNOTATION) or 0)
    failed = int(job_status.get("failed") or 0)
    restarts = before + failed
    error = run_status.get("error") or {}
    if job is None:
        return Observed(Phase.PENDING, "Unknown", "Pending", "waiting for the runner Job", False, 0)
    if _job_condition(job, "Complete", "SuccessCriteriaMet"):
        final = (run_status.get("checkpoint") or {}).get("final")
        if run_status.get("waiting") and not final:
            return Observed(Phase.WAITING, "Unknown", "WaitingForInput", waiting_message(run_status), False, restarts)
        if not final:
            # Exit 0 alone proves nothing (spec.workflow "sys:exit", sys.exit(0) in a step): every real
            # completion records its result with a final checkpoint, so without one there is no result.
            return Observed(
                Phase.FAILED, "False", RUNNER_EXITED_WITHOUT_RESULT, EXITED_WITHOUT_RESULT_MESSAGE, False, restarts
            )
        return Observed(Phase.SUCCEEDED, "True", "Succeeded", "the workflow returned a result", False, restarts)
    failed_condition = _job_condition(job, "Failed", "FailureTarget")
    if failed_condition:
        job_reason = failed_condition.get("reason") or "Failed"
        if job_reason == "PodFailurePolicy" and error:
            # The runner's own verdict (WorkflowRaised, WorkflowNotImportable, ...) says more.
            reason = str(error.get("reason") or "WorkflowRaised")
            where = f" in step {error['step']}" if error.get("step") else ""
            message = f"{error.get('type') or reason}{where}: {error.get('message', '')}"
        else:
            reason = _JOB_FAILURE_REASONS.get(job_reason, job_reason)
            message = str(error.get("message") or failed_condition.get("message") or job_reason)
            if reason == "RetriesExhausted":
                message = f"{failed} pods failed (retry.maxRestarts exhausted): {message}"
        # The Job counts the final failed pod too; it was not replaced.
        return Observed(Phase.FAILED, "False", reason, message, False, max(before, restarts - 1))
    if queueing.held_by_queue(job):
        reason = queueing.queued_reason(run_status)
        return Observed(
            Phase.QUEUED, "Unknown", reason, queueing.queued_message(run_status, job, reason), False, restarts
        )
    if _job_condition(job, "Suspended"):
        seq = (run_status.get("checkpoint") or {}).get("seq")
        at = f" at checkpoint {seq}" if seq else ""
        return Observed(Phase.SUSPENDED, "Unknown", "Suspended", f"suspended{at} (spec.suspend)", False, restarts)
    # `ready` (not `active`, which counts pods still being scheduled) means the runner runs; so does the
    # runner's own claim (it sets phase Running), which can land before the Job controller counts the pod.
    if int(job_status.get("ready") or 0) or (run_status.get("phase") == Phase.RUNNING and not failed):
        seq = (run_status.get("checkpoint") or {}).get("seq")
        resumed = f", resumed from checkpoint {seq}" if restarts and seq else ""
        return Observed(Phase.RUNNING, "Unknown", "Running", f"runner pod is running{resumed}", True, restarts)
    if failed:
        return Observed(
            Phase.RUNNING,
            "Unknown",
            "Resuming",
            "the runner pod was lost; waiting for a new pod to resume from the last checkpoint",
            False,
            restarts,
        )
    return Observed(Phase.PENDING, "Unknown", "Pending", "waiting for the runner pod to start", False, restarts)


def waiting_message(run_status: dict[str, Any]) -> str:
    waiting = run_status.get("waiting") or {}
    requests = waiting.get("requests") or []
    asked = ""
    if requests:
        fields = {k: v for k, v in requests[-1].items() if k != "type"}
        asked = ": " + (str(next(iter(fields.values()))) if len(fields) == 1 else json.dumps(fields))[:200]
    rejected = f" ({waiting['error']})" if waiting.get("error") else ""
    return f"waiting for input{asked}; answer with spec.events[{waiting.get('eventIndex', 0)}]{rejected}"


# metav1.Condition allows 32 KiB, but people read conditions (kubectl describe, Argo CD, Flux), and a
# workflow's exception message can be any length.
MAX_CONDITION_MESSAGE = 1024


def set_condition(
    conditions: list[dict[str, Any]],
    type_: str,
    status: str,
    reason: str,
    message: str,
    generation: int | None,
    previous: list[dict[str, Any]] | None = None,
) -> None:
    """Set condition `type_` in `conditions` (in place), the one way every writer builds a condition:
    the message is truncated to MAX_CONDITION_MESSAGE, and lastTransitionTime is kept from the same
    condition in `previous` (default: `conditions`) unless its status changed."""
    old = next((c for c in (conditions if previous is None else previous) if c.get("type") == type_), None)
    if len(message) > MAX_CONDITION_MESSAGE:
        message = message[: MAX_CONDITION_MESSAGE - 1] + "…"
    since = old.get("lastTransitionTime") if old is not None and old.get("status") == status else None
    condition = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since or now(),
        "observedGeneration": generation,
    }
    at = next((i for i, c in enumerate(conditions) if c.get("type") == type_), None)
    if at is None:
        conditions.append(condition)
    else:
        conditions[at] = condition


# kstatus (sigs.k8s.io/cli-utils/pkg/kstatus), which Flux's `wait: true` uses: Reconciling=True means
# in progress and Stalled=True means failed, whatever else the object says; Ready=True means done.
_RECONCILING_PHASES = (Phase.PENDING, Phase.QUEUED, Phase.RUNNING)
_STALLED_PHASES = (Phase.FAILED, Phase.CANCELLED)


def conditions_for(previous: list[dict[str, Any]], observed: Observed, generation: int | None) -> list[dict[str, Any]]:
    """Every condition the operator keeps, for `observed`: Succeeded and Running (the run's own),
    Ready, Reconciling and Stalled (kstatus), Waiting and Queued. The abnormal-true ones (Reconciling,
    Stalled, Waiting, Queued) appear once they apply and then stay, False, as kstatus asks."""
    conditions: list[dict[str, Any]] = []

    def put(type_: str, status: bool | str, reason: str, message: str) -> None:
        value = status if isinstance(status, str) else ("True" if status else "False")
        set_condition(conditions, type_, value, reason, message, generation, previous)

    def applies(type_: str, now_true: bool) -> bool:
        return now_true or any(c.get("type") == type_ for c in previous)

    put("Succeeded", observed.succeeded, observed.reason, observed.message)
    put("Running", observed.running, "PodRunning" if observed.running else observed.reason, observed.message)
    put("Ready", observed.phase == Phase.SUCCEEDED, observed.reason, observed.message)
    reconciling = observed.phase in _RECONCILING_PHASES
    if applies("Reconciling", reconciling):
        put("Reconciling", reconciling, observed.reason, observed.message)
    stalled = observed.phase in _STALLED_PHASES
    if applies("Stalled", stalled):
        put("Stalled", stalled, observed.reason, observed.message)
    queued = observed.phase == Phase.QUEUED
    if applies("Queued", queued):
        put("Queued", queued, observed.reason if queued else "Admitted", observed.message if queued else "admitted")
    waiting = observed.phase == Phase.WAITING
    if applies("Waiting", waiting):
        put(
            "Waiting",
            waiting,
            "InputRequired" if waiting else "Answered",
            observed.message if waiting else "not waiting for input",
        )
    return conditions


def status_patch(run: dict[str, Any], observed: Observed) -> dict[str, Any]:
    """Merge patch for the run's status; {} when nothing a user would see has changed."""
    status = run.get("status") or {}
    generation = run.get("metadata", {}).get("generation")
    previous = status.get("conditions") or []
    conditions = conditions_for(previous, observed, generation)
    patch: dict[str, Any] = {}
    if observed.restarts != (status.get("restarts") or 0):
        patch["restarts"] = observed.restarts
    if generation != status.get("observedGeneration"):
        patch["observedGeneration"] = generation
    keys = ("type", "status", "reason", "message", "observedGeneration")
    if [{k: c[k] for k in keys} for c in conditions] != [{k: c.get(k) for k in keys} for c in previous]:
        patch["conditions"] = conditions
    if patch or status.get("phase") != observed.phase:
        # Always with the rest: the status this is computed from can lag behind (the operator's index),
        # and a write of conditions alone could leave a phase written meanwhile in place.
        patch["phase"] = str(observed.phase)
    if observed.phase in TERMINAL_PHASES and not status.get("completionTime"):
        patch["completionTime"] = now()
    if observed.phase in (*TERMINAL_PHASES, Phase.WAITING, Phase.SUSPENDED, Phase.QUEUED) and "currentStep" in status:
        patch["currentStep"] = None  # merge-patch null removes the field: nothing is running any more
    return patch
