"""What the operator does about spec.cancel, spec.suspend and answers in spec.events (pure).

A run is *parked* when its Job completed with the run waiting for input. The operator then deletes
that Job (and so its pod): nothing of the run runs or lingers while it waits. The next Job (a new
"segment") starts once spec.events holds the answer. Suspending a running run
suspends its Job, which stops the pod gracefully (SIGTERM: the runner stops after the running
step's checkpoint); a parked run is suspended by phase alone, since nothing runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kube_workflows.controller.queueing import queue_of, suspended_by_run
from kube_workflows.models import TERMINAL_PHASES, Phase
from kube_workflows.models.names import RESTARTS_BEFORE_ANNOTATION


class Action(StrEnum):
    CANCEL = "Cancel"
    SUSPEND_JOB = "SuspendJob"
    RESUME_JOB = "ResumeJob"
    SUSPEND_PARKED = "SuspendParked"
    UNSUSPEND_PARKED = "UnsuspendParked"
    NEXT_SEGMENT = "NextSegment"


@dataclass(frozen=True)
class Decision:
    actions: tuple[Action, ...]


def job_completed(job: dict[str, Any] | None) -> bool:
    conditions = ((job or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Complete" and c.get("status") == "True" for c in conditions)


def parked(status: dict[str, Any], job: dict[str, Any] | None) -> bool:
    """Waiting for input with no pod: the Job finished (and is deleted, or about to be) after the
    runner recorded what it waits for."""
    final = (status.get("checkpoint") or {}).get("final")
    done = job_completed(job) or (job is None and status.get("phase") in (Phase.WAITING, Phase.SUSPENDED))
    return bool(status.get("waiting")) and not final and done


def answer_pending(run: dict[str, Any]) -> bool:
    """spec.events has the entry the parked run waits for, and it was not already rejected as it is."""
    status, spec = run.get("status") or {}, run.get("spec") or {}
    waiting = status.get("waiting") or {}
    index = int(waiting.get("eventIndex") or 0)
    rejected = waiting.get("rejectedGeneration")
    generation = (run.get("metadata") or {}).get("generation")
    return len(spec.get("events") or []) > index and (rejected is None or (generation or 0) > rejected)


def decide(run: dict[str, Any], job: dict[str, Any] | None) -> Decision:
    """The steps that bring the run's Job and phase in line with its spec."""
    spec, status = run.get("spec") or {}, run.get("status") or {}
    phase = status.get("phase")
    if phase in TERMINAL_PHASES:
        return Decision(())
    if spec.get("cancel"):
        return Decision((Action.CANCEL,))
    is_parked = parked(status, job)
    # A queued Job's suspend is Kueue's (see queueing): only the run's own suspend is steered here.
    job_suspended = suspended_by_run(job)
    if spec.get("suspend"):
        if is_parked:
            return Decision((Action.SUSPEND_PARKED,) if phase != Phase.SUSPENDED else ())
        return Decision((Action.SUSPEND_JOB,) if job is not None and not job_suspended else ())
    if is_parked:
        actions: list[Action] = []
        if phase == Phase.SUSPENDED:
            actions.append(Action.UNSUSPEND_PARKED)
        if answer_pending(run):
            actions.append(Action.NEXT_SEGMENT)
        return Decision(tuple(actions))
    return Decision((Action.RESUME_JOB,) if job_suspended else ())


def replace_at_once(job: dict[str, Any]) -> bool:
    """The run's first lost pod: replace it now with a new Job instead of after the Job controller's
    pod-failure backoff (10 s, doubling). Later losses wait out that backoff, so a crash loop still
    slows down."""
    spec, status = job.get("spec") or {}, job.get("status") or {}
    annotations = (job.get("metadata") or {}).get("annotations") or {}
    first_loss = int(status.get("failed") or 0) == 1 and int(annotations.get(RESTARTS_BEFORE_ANNOTATION) or 0) == 0
    ended = any(
        c.get("status") == "True" and c.get("type") in ("Failed", "FailureTarget", "Complete", "SuccessCriteriaMet")
        for c in status.get("conditions") or []
    )
    return (
        first_loss
        and not ended
        and not int(status.get("active") or 0)
        and int(spec.get("backoffLimit") or 0) > 0
        and not spec.get("suspend")
        # A queued Job keeps its admission: its own pod replacement (after the backoff) beats a new Job
        # that queues again behind others.
        and not queue_of(job)
    )
