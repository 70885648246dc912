"""What an event of a run's Job means for the run (pure): the branching of `handlers.job_changed`.

`decide` looks at the Job, the operator's index entry for its run and, if it asked for one, a
fresh read of the run. The handler does what the verdict says through `actions`. The index can
lag behind the API server (the runner writes status itself), so some steps need the fresh read
before they decide. The handler reads at most once per event and then calls `decide` again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kube_workflows.controller import status as run_status
from kube_workflows.controller.queueing import suspended_by_run
from kube_workflows.controller.steering import job_completed, replace_at_once
from kube_workflows.models import KIND, Phase


class Kind(StrEnum):
    IGNORE = "Ignore"
    READ_FRESH = "ReadFresh"
    RECONCILE = "Reconcile"
    REPLACE_POD = "ReplacePod"
    PARK = "Park"
    MIRROR = "Mirror"


@dataclass(frozen=True, kw_only=True)
class JobVerdict:
    """What to do about a Job event. `run` is the run to act on (RECONCILE, REPLACE_POD, PARK),
    `patch` is its status merge patch (PARK, MIRROR), and `observed` is what the run's Events
    announce (REPLACE_POD, PARK, MIRROR)."""

    kind: Kind
    why: str
    run: dict[str, Any] = field(default_factory=dict)
    patch: dict[str, Any] = field(default_factory=dict)
    observed: run_status.Observed | None = None


@dataclass(frozen=True, kw_only=True)
class Fresh:
    """The run as read from the API server: None when it is gone."""

    run: dict[str, Any] | None


def controller_owner(job: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The WorkflowRun that controls the Job, as its owner reference (None: not a run's Job)."""
    references = (job.get("metadata") or {}).get("ownerReferences") or []
    return next((o for o in references if o.get("kind") == KIND and o.get("controller")), None)


def _ignore(why: str) -> JobVerdict:
    return JobVerdict(kind=Kind.IGNORE, why=why)


def _read_fresh(why: str) -> JobVerdict:
    return JobVerdict(kind=Kind.READ_FRESH, why=why)


def decide(
    job: dict[str, Any], entry: Mapping[str, Any] | None, *, deleted: bool = False, fresh: Fresh | None = None
) -> JobVerdict:
    """The run's next step after an event of its Job. `entry` is the run's index entry (`runs_by_name`).
    A READ_FRESH verdict comes back only while `fresh` is None."""
    name = job["metadata"]["name"]
    # 1. Not a run's Job, or deleted: a deleted Job tells the run nothing its last update did not.
    if deleted or controller_owner(job) is None:
        return _ignore("not a run's Job, or deleted")
    # 2. The run is gone; garbage collection removes the Job.
    if entry is None:
        return _ignore("the run is gone")
    status = entry["status"]
    # 3. Cancelled is final, whatever the Job's pods do while they are removed.
    if status.get("phase") == Phase.CANCELLED:
        return _ignore("the run is cancelled")
    # 4. An earlier segment's Job (from before the run waited for input): the run has moved on.
    if status.get("jobName") not in (None, name):
        return _ignore("an earlier segment's Job")
    # 5. The Job is out of line with spec.cancel or spec.suspend. This is level-triggered too: a spec
    #    edit whose handling was cut short (say, by a restart) still lands. Steering needs the whole run.
    steer = entry.get("steer") or {}
    #    (A queued Job that Kueue holds suspended is in line: see queueing.)
    if steer.get("cancel") or steer.get("suspend") != suspended_by_run(job):
        if fresh is None:
            return _read_fresh("steering acts on the whole, current run")
        if fresh.run is None:
            return _ignore("the run is gone")
        return JobVerdict(kind=Kind.RECONCILE, why="the Job is out of line with spec", run=fresh.run)
    run: dict[str, Any] = {"metadata": {"generation": entry["generation"]}, "status": status}
    # 6. Succeeded, or parked waiting for input: the runner's last write decides, and the index may not
    #    have it yet. This is one read per finished Job.
    if job_completed(job):
        if fresh is None:
            return _read_fresh("a completed Job: the runner's last write decides")
        fresh_status = (fresh.run or {}).get("status") or {}
        # 7. The fresh read says the run is cancelled or gone, or it has moved on to its next Job meanwhile.
        if fresh.run is None or fresh_status.get("phase") == Phase.CANCELLED:
            return _ignore("the run is cancelled or gone")
        if fresh_status.get("jobName") not in (None, name):
            return _ignore("the run moved on to its next Job")
        run = fresh.run
    # 8. The run's first lost pod: replace it now, if the Job is still the run's.
    if replace_at_once(job):
        if fresh is None:
            return _read_fresh("a first lost pod: replace it if the Job is still the run's")
        if fresh.run is not None and (fresh.run.get("status") or {}).get("jobName") == name:
            observed = run_status.observe(fresh.run.get("status") or {}, job)
            return JobVerdict(kind=Kind.REPLACE_POD, why="the run's first lost pod", run=fresh.run, observed=observed)
        # Otherwise the Job is mirrored from the index like any other.
    # 9. The phase the Job and the runner's status say, and what a user would see change.
    observed = run_status.observe(run.get("status") or {}, job)
    patch = run_status.status_patch(run, observed)
    # 10. Parked waiting for input. Only the fresh read of step 6 has the whole run, and the
    #     reconcile after parking needs it (an answer may have arrived, or the run been suspended).
    #     A Job's SuccessCriteriaMet comes before its Complete: until then, Waiting is only mirrored.
    if observed.phase == Phase.WAITING and "metadata" in run and "spec" in run:
        parked = {**run, "status": {**run["status"], **patch}}
        return JobVerdict(kind=Kind.PARK, why="waiting for input", run=parked, patch=patch, observed=observed)
    # 11. Mirror the Job into the run's status, or do nothing when no change would show.
    if patch:
        return JobVerdict(kind=Kind.MIRROR, why="the run's status changed", patch=patch, observed=observed)
    return _ignore("nothing a user would see changed")
