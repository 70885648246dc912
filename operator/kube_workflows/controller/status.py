"""Derive a WorkflowRun's phase and conditions from its Job and its runner's reports (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kube_workflows.models import Phase

# Why a Job failed → the run's condition reason.
_JOB_FAILURE_REASONS = {
    "BackoffLimitExceeded": "RetriesExhausted",
    "DeadlineExceeded": "Timeout",
}


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
    """The run's state given its Job (None until created) and the status its runner wrote."""
    job_status = (job or {}).get("status") or {}
    restarts = int(job_status.get("failed") or 0)
    error = run_status.get("error") or {}
    if job is None:
        return Observed(Phase.PENDING, "Unknown", "Pending", "waiting for the runner Job", False, 0)
    if _job_condition(job, "Complete", "SuccessCriteriaMet"):
        return Observed(Phase.SUCCEEDED, "True", "Succeeded", "the workflow returned a result", False, restarts)
    failed = _job_condition(job, "Failed", "FailureTarget")
    if failed:
        job_reason = failed.get("reason") or "Failed"
        if job_reason == "PodFailurePolicy" and error:
            # The runner's own verdict (WorkflowRaised, WorkflowNotImportable, ...) says more.
            reason = str(error.get("reason") or "WorkflowRaised")
            where = f" in step {error['step']}" if error.get("step") else ""
            message = f"{error.get('type') or reason}{where}: {error.get('message', '')}"
        else:
            reason = _JOB_FAILURE_REASONS.get(job_reason, job_reason)
            message = str(error.get("message") or failed.get("message") or job_reason)
            if reason == "RetriesExhausted":
                message = f"{restarts} pods failed (retry.maxRestarts exhausted): {message}"
        # The Job counts the final failed pod too; it was not replaced.
        return Observed(Phase.FAILED, "False", reason, message, False, max(0, restarts - 1))
    # `ready` (not `active`, which counts pods still being scheduled) means the runner runs.
    if int(job_status.get("ready") or 0):
        seq = (run_status.get("checkpoint") or {}).get("seq")
        resumed = f", resumed from checkpoint {seq}" if restarts and seq else ""
        return Observed(Phase.RUNNING, "Unknown", "Running", f"runner pod is running{resumed}", True, restarts)
    if restarts:
        return Observed(
            Phase.RUNNING,
            "Unknown",
            "Resuming",
            "the runner pod was lost; waiting for a new pod to resume from the last checkpoint",
            False,
            restarts,
        )
    return Observed(Phase.PENDING, "Unknown", "Pending", "waiting for the runner pod to start", False, 0)


def _condition(
    previous: list[dict[str, Any]], type_: str, status: str, reason: str, message: str, generation: int | None
) -> dict[str, Any]:
    old = next((c for c in previous if c.get("type") == type_), None)
    changed = old is None or old.get("status") != status
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": now() if changed else old.get("lastTransitionTime") or now(),  # type: ignore[union-attr]
        "observedGeneration": generation,
    }


def status_patch(run: dict[str, Any], observed: Observed) -> dict[str, Any]:
    """Merge patch for the run's status; {} when nothing a user would see has changed."""
    status = run.get("status") or {}
    generation = run.get("metadata", {}).get("generation")
    previous = status.get("conditions") or []
    conditions = [
        _condition(previous, "Succeeded", observed.succeeded, observed.reason, observed.message, generation),
        _condition(
            previous,
            "Running",
            "True" if observed.running else "False",
            "PodRunning" if observed.running else observed.reason,
            observed.message,
            generation,
        ),
    ]
    patch: dict[str, Any] = {}
    if status.get("phase") != observed.phase:
        patch["phase"] = str(observed.phase)
    if observed.restarts != (status.get("restarts") or 0):
        patch["restarts"] = observed.restarts
    if generation != status.get("observedGeneration"):
        patch["observedGeneration"] = generation
    keys = ("type", "status", "reason", "message", "observedGeneration")
    if [{k: c[k] for k in keys} for c in conditions] != [{k: c.get(k) for k in keys} for c in previous]:
        patch["conditions"] = conditions
    if observed.phase in (Phase.SUCCEEDED, Phase.FAILED) and not status.get("completionTime"):
        patch["completionTime"] = now()
    if observed.phase in (Phase.SUCCEEDED, Phase.FAILED) and "currentStep" in status:
        patch["currentStep"] = None  # merge-patch null removes the field: nothing is running any more
    return patch
