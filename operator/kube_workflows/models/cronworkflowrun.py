"""The CronWorkflowRun API (kube-workflows.dev/v1alpha1): WorkflowRuns on a schedule, as CronJob does Jobs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import Field, field_validator

from kube_workflows.models.workflowrun import (
    AnyObject,
    Condition,
    ObjectMeta,
    WorkflowRunSpec,
    _Model,
)

KIND = "CronWorkflowRun"
PLURAL = "cronworkflowruns"
SINGULAR = "cronworkflowrun"
SHORT_NAMES = ["cwfr"]


def cron_iter(schedule: str, start: datetime) -> croniter:
    """croniter over `schedule`: five fields (minute first), a descriptor such as `@hourly`, or six
    fields with seconds first (a kube-workflows extension, for schedules under a minute)."""
    return croniter(schedule, start, second_at_beginning=len(schedule.split()) == 6)


class ConcurrencyPolicy(StrEnum):
    ALLOW = "Allow"
    FORBID = "Forbid"
    REPLACE = "Replace"


class RunTemplate(_Model):
    """The WorkflowRun each scheduled time creates."""

    metadata: AnyObject = Field(
        default_factory=dict, description="Labels and annotations for the runs (other fields are ignored)."
    )
    spec: WorkflowRunSpec = Field(description="The runs' spec, as in a WorkflowRun.")


class CronWorkflowRunSpec(_Model):
    """When to create runs, and what to do when the last one is still going."""

    schedule: str = Field(
        min_length=1,
        description="Cron schedule: five fields (`*/15 * * * *`), a descriptor (`@hourly`, `@daily`), or six "
        "fields with seconds first (`*/10 * * * * *`).",
    )
    time_zone: str | None = Field(
        default=None, description="IANA time zone the schedule is read in (e.g. `Europe/Paris`). Default UTC."
    )
    concurrency_policy: ConcurrencyPolicy = Field(
        default=ConcurrencyPolicy.ALLOW,
        description="When a run of an earlier time is still active: Allow (start another), Forbid (skip this "
        "time), Replace (cancel the active runs, then start).",
    )
    starting_deadline_seconds: int | None = Field(
        default=None,
        ge=0,
        description="A scheduled time missed by more than this (the operator was down) is skipped. Default: any "
        "missed time starts late; only the most recent missed one starts.",
    )
    suspend: bool = Field(default=False, description="No new runs while true; active runs go on.")
    successful_runs_history_limit: int = Field(default=3, ge=0, description="Succeeded runs kept. Default 3.")
    failed_runs_history_limit: int = Field(default=1, ge=0, description="Failed or Cancelled runs kept. Default 1.")
    run_template: RunTemplate = Field(description="The WorkflowRun to create at each scheduled time.")

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str) -> str:
        fields = len(value.split())
        if not value.startswith("@") and fields not in (5, 6):
            raise ValueError(f"{value!r} has {fields} fields; a cron schedule has 5 (or 6, seconds first)")
        if not croniter.is_valid(value, second_at_beginning=fields == 6):
            raise ValueError(f"{value!r} is not a valid cron schedule")
        return value

    @field_validator("time_zone")
    @classmethod
    def _valid_time_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Paris)") from exc
        return value


class RunReference(_Model):
    name: str
    uid: str | None = None


class CronWorkflowRunStatus(_Model):
    """What the schedule has done."""

    active: list[RunReference] = Field(default_factory=list, description="Runs it created that have not finished.")
    last_schedule_time: datetime | None = Field(default=None, description="The latest time a run was created for.")
    last_successful_time: datetime | None = Field(default=None, description="When its latest run succeeded.")
    next_schedule_time: datetime | None = Field(default=None, description="The next time a run is due.")
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready: True while the schedule is valid and acted on."
    )
    observed_generation: int | None = Field(default=None, description="metadata.generation last acted on.")
    kopf: AnyObject | None = Field(default=None, description="Operator bookkeeping (kopf progress).")


class CronWorkflowRun(_Model):
    """Creates a WorkflowRun at each time of a cron schedule, named after that time, so a restarted or
    second operator never creates one twice."""

    api_version: str = "kube-workflows.dev/v1alpha1"
    kind: str = KIND
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: CronWorkflowRunSpec
    status: CronWorkflowRunStatus | None = None
