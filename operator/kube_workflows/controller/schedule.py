"""CronWorkflowRun → what to do now: which run to create, which to cancel or delete, the status (pure).

Steps, in order, each reading only the cron, the runs it owns and the time:
1. the spec must parse (schedule, time zone, run template), else the cron is not Ready and does nothing;
2. the runs it owns split into active and finished; finished ones over the history limits go, oldest first;
3. the due time is the latest scheduled time after the last one acted on (created or skipped), up to now;
4. suspended: nothing starts; past spec.startingDeadlineSeconds: the time is skipped;
5. with a run of an earlier time still active, the concurrency policy decides: Allow starts another,
   Forbid skips this time, Replace cancels the active runs and starts;
6. status: active runs, the last schedule, success and next times, and the Ready condition.

A run is named after its scheduled time (`<cron>-<unix seconds>`), so creating it twice (a restarted
operator, a second replica) finds the first one instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from kube_workflows.controller.status import set_condition
from kube_workflows.models import TERMINAL_PHASES, Phase
from kube_workflows.models.cronworkflowrun import ConcurrencyPolicy, CronWorkflowRunSpec, cron_iter
from kube_workflows.models.names import bounded_name

CRON_LABEL = "kube-workflows.dev/cron"
SCHEDULED_AT_ANNOTATION = "kube-workflows.dev/scheduled-at"


@dataclass(frozen=True)
class CronVerdict:
    create_for: datetime | None = None  # the scheduled time to create a run for
    cancel: list[str] = field(default_factory=list)  # active runs to cancel first (Replace)
    delete: list[str] = field(default_factory=list)  # finished runs over the history limits
    skipped: str | None = None  # why a due time starts no run (for an Event)
    status: dict[str, Any] = field(default_factory=dict)  # merge patch of the cron's status


def run_name(cron_name: str, scheduled: datetime) -> str:
    return bounded_name(cron_name, f"-{int(scheduled.timestamp())}", limit=253)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def scheduled_at(run: dict[str, Any]) -> datetime:
    annotations = (run.get("metadata") or {}).get("annotations") or {}
    moment = parse_time(annotations.get(SCHEDULED_AT_ANNOTATION) or run["metadata"].get("creationTimestamp"))
    return moment or datetime.min.replace(tzinfo=UTC)


def latest_due(spec: CronWorkflowRunSpec, after: datetime, now: datetime) -> datetime | None:
    """The latest scheduled time in (after, now], or None."""
    zone = ZoneInfo(spec.time_zone or "UTC")
    # get_prev from just past `now`, so a time exactly at `now` counts.
    latest = cron_iter(spec.schedule, (now + timedelta(microseconds=1)).astimezone(zone)).get_prev(datetime)
    return latest if latest > after else None


def next_time(spec: CronWorkflowRunSpec, now: datetime) -> datetime:
    moment: datetime = cron_iter(spec.schedule, now.astimezone(ZoneInfo(spec.time_zone or "UTC"))).get_next(datetime)
    return moment


def _history_overflow(finished: list[dict[str, Any]], limit: int) -> list[str]:
    oldest_first = sorted(finished, key=scheduled_at)
    return [r["metadata"]["name"] for r in oldest_first[: max(0, len(oldest_first) - limit)]]


def decide(cron: dict[str, Any], runs: list[dict[str, Any]], now: datetime) -> CronVerdict:
    """What to do for `cron` at `now`, given the runs it owns."""
    status = cron.get("status") or {}
    generation = cron["metadata"].get("generation")
    conditions: list[dict[str, Any]] = [dict(c) for c in status.get("conditions") or []]
    # 1. The spec.
    try:
        spec = CronWorkflowRunSpec.model_validate(cron.get("spec") or {})
    except ValidationError as exc:
        message = "; ".join(f"spec.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        set_condition(conditions, "Ready", "False", "InvalidSpec", message, generation)
        return CronVerdict(status={"conditions": conditions, "observedGeneration": generation})
    # 2. Its runs.
    phase_of = {r["metadata"]["name"]: (r.get("status") or {}).get("phase") for r in runs}
    active = [r for r in runs if phase_of[r["metadata"]["name"]] not in TERMINAL_PHASES]
    succeeded = [r for r in runs if phase_of[r["metadata"]["name"]] == Phase.SUCCEEDED]
    failed = [r for r in runs if phase_of[r["metadata"]["name"]] in (Phase.FAILED, Phase.CANCELLED)]
    delete = _history_overflow(succeeded, spec.successful_runs_history_limit) + _history_overflow(
        failed, spec.failed_runs_history_limit
    )
    # 3. The due time.
    last_acted = max(
        t
        for t in (
            parse_time(status.get("lastScheduleTime")),
            parse_time(status.get("lastSkippedTime")),
            parse_time(cron["metadata"].get("creationTimestamp")),
            datetime.min.replace(tzinfo=UTC),
        )
        if t is not None
    )
    due = latest_due(spec, last_acted, now)
    create_for, cancel, skipped = None, [], None
    new_status: dict[str, Any] = {}
    # 4. Suspended, or too late.
    if due is not None and spec.suspend:
        due = None  # not acted on: should the cron be resumed in time, the deadline still applies
    if due is not None and spec.starting_deadline_seconds is not None:
        late = (now - due).total_seconds()
        if late > spec.starting_deadline_seconds:
            skipped = f"missed the run due at {iso(due)} by {late:.0f}s (spec.startingDeadlineSeconds)"
    # 5. The concurrency policy.
    if due is not None and skipped is None and active:
        if spec.concurrency_policy == ConcurrencyPolicy.FORBID:
            names = ", ".join(sorted(r["metadata"]["name"] for r in active))
            skipped = f"skipped the run due at {iso(due)}: {names} still active (concurrencyPolicy Forbid)"
        elif spec.concurrency_policy == ConcurrencyPolicy.REPLACE:
            cancel = sorted(r["metadata"]["name"] for r in active if not (r.get("spec") or {}).get("cancel"))
    if due is not None:
        if skipped is None:
            create_for = due
            new_status["lastScheduleTime"] = iso(due)
        else:
            new_status["lastSkippedTime"] = iso(due)
    # 6. Status.
    still_active = [r for r in active if r["metadata"]["name"] not in cancel]
    active_refs = [{"name": r["metadata"]["name"], "uid": r["metadata"].get("uid")} for r in still_active]
    if create_for is not None:
        active_refs.append({"name": run_name(cron["metadata"]["name"], create_for)})
    successes = [parse_time((r.get("status") or {}).get("completionTime")) for r in succeeded]
    successes.append(parse_time(status.get("lastSuccessfulTime")))  # its runs may be deleted by now
    if known := [t for t in successes if t is not None]:
        new_status["lastSuccessfulTime"] = iso(max(known))
    new_status["active"] = sorted(active_refs, key=lambda ref: ref["name"])
    new_status["nextScheduleTime"] = None if spec.suspend else iso(next_time(spec, now))
    if spec.suspend:
        set_condition(conditions, "Ready", "True", "Suspended", "suspended (spec.suspend): no new runs", generation)
    else:
        set_condition(
            conditions, "Ready", "True", "Scheduled", f"next run at {new_status['nextScheduleTime']}", generation
        )
    new_status["conditions"] = conditions
    new_status["observedGeneration"] = generation
    return CronVerdict(create_for=create_for, cancel=cancel, delete=delete, skipped=skipped, status=new_status)


def build_run(cron: dict[str, Any], scheduled: datetime) -> dict[str, Any]:
    """The WorkflowRun for `scheduled`, owned by the cron."""
    template = (cron.get("spec") or {}).get("runTemplate") or {}
    meta = template.get("metadata") or {}
    name = cron["metadata"]["name"]
    return {
        "apiVersion": "kube-workflows.dev/v1alpha1",
        "kind": "WorkflowRun",
        "metadata": {
            "name": run_name(name, scheduled),
            "namespace": cron["metadata"]["namespace"],
            "labels": {**(meta.get("labels") or {}), CRON_LABEL: name},
            "annotations": {**(meta.get("annotations") or {}), SCHEDULED_AT_ANNOTATION: iso(scheduled)},
            "ownerReferences": [
                {
                    "apiVersion": "kube-workflows.dev/v1alpha1",
                    "kind": "CronWorkflowRun",
                    "name": name,
                    "uid": cron["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": template.get("spec") or {},
    }
