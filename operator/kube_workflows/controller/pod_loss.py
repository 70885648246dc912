"""A runner pod that failed, seen before its Job controller counts it (pure).

The Job controller batches pod updates: it counts a failed pod in the Job's status about a second
after the pod fails (syncJobBatchPeriod), and only then does the Job's event tell the operator to
replace the run's first lost pod (steering.replace_at_once). The operator also watches runner pods,
narrowed server-side to failed ones (WATCH_LABELS, WATCH_FIELDS): a failure the Job controller will
count is acted on as soon as the node reports it, on the Job as its controller is about to write it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kube_workflows.builders.job import RUNNER_CONTAINER
from kube_workflows.models import exit_codes
from kube_workflows.models.names import MANAGED_BY, RUN_LABEL

# The runner pods of runs, once failed: few objects, so the watch costs the operator next to nothing.
MANAGED_BY_SELECTOR = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())
WATCH_LABELS = f"{MANAGED_BY_SELECTOR},{RUN_LABEL}"
WATCH_FIELDS = "status.phase=Failed"
# The Job controller's finalizer on the pods it has not counted yet.
JOB_TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
# The exit codes the Job's pod failure policy does not count as a failure (see builders.job).
_NOT_COUNTED = frozenset((*exit_codes.PERMANENT, *exit_codes.IGNORED))


def owner_job_name(pod: Mapping[str, Any]) -> str | None:
    references = (pod.get("metadata") or {}).get("ownerReferences") or []
    return next((o["name"] for o in references if o.get("kind") == "Job" and o.get("controller")), None)


def _runner_exit_code(pod: Mapping[str, Any]) -> int | None:
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        if container.get("name") == RUNNER_CONTAINER:
            terminated = (container.get("state") or {}).get("terminated") or {}
            code = terminated.get("exitCode")
            return int(code) if code is not None else None
    return None


def counted_failure(pod: Mapping[str, Any]) -> bool:
    """The pod failed in a way its Job's pod failure policy counts (so not a permanent exit that fails
    the Job, an ignored exit, or a disruption)."""
    status = pod.get("status") or {}
    if status.get("phase") != "Failed":
        return False
    disrupted = any(
        c.get("type") == "DisruptionTarget" and c.get("status") == "True" for c in status.get("conditions") or []
    )
    return not disrupted and _runner_exit_code(pod) not in _NOT_COUNTED


def as_counted(job: Mapping[str, Any], pod: Mapping[str, Any]) -> dict[str, Any] | None:
    """The Job as its controller will write it once it counts the failed pod; None when it already
    has (the Job's own event carries the count then)."""
    meta, status = pod.get("metadata") or {}, dict(job.get("status") or {})
    uncounted = (status.get("uncountedTerminatedPods") or {}).get("failed") or []
    if JOB_TRACKING_FINALIZER not in (meta.get("finalizers") or []) and meta.get("uid") not in uncounted:
        return None
    status["failed"] = int(status.get("failed") or 0) + 1
    status["active"] = max(0, int(status.get("active") or 0) - 1)
    status.pop("ready", None)
    return {**job, "status": status}
