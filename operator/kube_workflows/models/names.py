"""Child object names and labels derived from a WorkflowRun."""

from __future__ import annotations

import hashlib

from kube_workflows.models.resource import GROUP

RUN_LABEL = f"{GROUP}/run"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kube-workflows"}
# On a run's Job: pods its earlier Jobs lost, so status.restarts counts across resumes.
RESTARTS_BEFORE_ANNOTATION = f"{GROUP}/restarts-before"
# Kueue's opt-in labels on a Job (spec.queueName, spec.priorityClass).
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
KUEUE_PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
# Labels are ≤63 characters, and the Job controller copies the Job's name into a pod label.
_MAX = 63


def bounded_name(name: str, suffix: str = "", limit: int = _MAX) -> str:
    """`name` + `suffix`, shortened with a stable hash when over `limit` (still unique per run)."""
    full = f"{name}{suffix}"
    if len(full) <= limit:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{full[: limit - 9].rstrip('-.')}-{digest}"


def run_labels(run_name: str) -> dict[str, str]:
    return {**MANAGED_BY, "app.kubernetes.io/name": "kube-workflows", RUN_LABEL: bounded_name(run_name)}
