"""Runs in a Kueue queue (spec.queueName): who holds their Job suspended, and what the run shows (pure).

Kueue owns `spec.suspend` of a queued Job: it unsuspends the Job on admission and suspends it again to
preempt it, and it undoes any other writer (an admitted Job found suspended is started again). So for a
queued run the operator never patches the Job's suspend; it steers the run's own suspend through the
Job's Workload (`spec.active`, Kueue's documented stop switch) and records that on the Job
(SUSPENDED_ANNOTATION), so "suspended by the user" and "held by the queue" stay apart.
"""

from __future__ import annotations

from typing import Any

from kube_workflows.models import GROUP, Phase
from kube_workflows.models.names import KUEUE_QUEUE_LABEL

# On a queued Job: "true" while the run's spec.suspend has deactivated its Workload.
SUSPENDED_ANNOTATION = f"{GROUP}/suspended"
# Kueue labels each Workload with the uid of the Job it admits.
WORKLOAD_JOB_UID_LABEL = "kueue.x-k8s.io/job-uid"

PREEMPTED = "Preempted"
WAITING_FOR_ADMISSION = "WaitingForAdmission"


def queue_of(job: dict[str, Any] | None) -> str | None:
    """The LocalQueue the Job waits in (None: not a queued Job)."""
    return (((job or {}).get("metadata") or {}).get("labels") or {}).get(KUEUE_QUEUE_LABEL)


def suspended_by_run(job: dict[str, Any] | None) -> bool:
    """Whether the run's own spec.suspend holds the Job; for a queued Job, Kueue's suspend does not count."""
    if job is None:
        return False
    if queue_of(job):
        return ((job.get("metadata") or {}).get("annotations") or {}).get(SUSPENDED_ANNOTATION) == "true"
    return bool((job.get("spec") or {}).get("suspend"))


def held_by_queue(job: dict[str, Any] | None) -> bool:
    """A queued Job that Kueue has not admitted (yet, or again after a preemption)."""
    return bool(queue_of(job)) and bool(((job or {}).get("spec") or {}).get("suspend")) and not suspended_by_run(job)


def queued_reason(run_status: dict[str, Any]) -> str:
    """Preempted when the run was running (or already Queued after a preemption), else waiting for its
    first admission."""
    if run_status.get("phase") == Phase.RUNNING:
        return PREEMPTED
    earlier = next((c for c in run_status.get("conditions") or [] if c.get("type") == "Queued"), None)
    if run_status.get("phase") == Phase.QUEUED and earlier and earlier.get("reason") == PREEMPTED:
        return PREEMPTED
    return WAITING_FOR_ADMISSION


def queued_message(run_status: dict[str, Any], job: dict[str, Any], reason: str) -> str:
    seq = (run_status.get("checkpoint") or {}).get("seq")
    queue = queue_of(job)
    if reason == PREEMPTED:
        return (
            f"preempted by Kueue at checkpoint {seq or 0}; queued in LocalQueue {queue}, resumes from it when admitted"
        )
    resumes = f"; resumes from checkpoint {seq}" if seq else ""
    return f"waiting for Kueue to admit its Job (LocalQueue {queue}){resumes}"


def workload_selector(job: dict[str, Any]) -> str:
    return f"{WORKLOAD_JOB_UID_LABEL}={job['metadata']['uid']}"
