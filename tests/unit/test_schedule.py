"""controller/schedule.decide: the CronWorkflowRun policy, step by step, with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kube_workflows.controller import schedule

T0 = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


def cron(**spec: Any) -> dict[str, Any]:
    status = spec.pop("status", {})
    return {
        "metadata": {
            "name": "nightly",
            "namespace": "ns",
            "uid": "cron-uid",
            "generation": 1,
            "creationTimestamp": schedule.iso(T0 - timedelta(seconds=30)),
        },
        "spec": {"schedule": "*/5 * * * *", "runTemplate": {"spec": {"workflow": "pkg.mod:Flow"}}, **spec},
        "status": status,
    }


def run(at: datetime, phase: str | None = "Running", completed: datetime | None = None) -> dict[str, Any]:
    return {
        "metadata": {
            "name": schedule.run_name("nightly", at),
            "uid": f"u{int(at.timestamp())}",
            "annotations": {schedule.SCHEDULED_AT_ANNOTATION: schedule.iso(at)},
        },
        "spec": {},
        "status": {"phase": phase, "completionTime": schedule.iso(completed) if completed else None},
    }


def test_nothing_is_due_before_the_first_scheduled_time() -> None:
    verdict = schedule.decide(cron(), [], T0 - timedelta(seconds=10))
    assert verdict.create_for is None and verdict.status["nextScheduleTime"] == "2026-12-01T12:00:00Z"
    assert verdict.status["conditions"][0]["reason"] == "Scheduled"


def test_a_due_time_creates_one_run_named_after_it() -> None:
    verdict = schedule.decide(cron(), [], T0 + timedelta(seconds=3))
    assert verdict.create_for == T0 and verdict.status["lastScheduleTime"] == "2026-12-01T12:00:00Z"
    assert verdict.status["active"] == [{"name": f"nightly-{int(T0.timestamp())}"}]
    # Once recorded, the same time is not due again (and a lost status write re-creates the same name).
    again = schedule.decide(cron(status=verdict.status), [run(T0)], T0 + timedelta(seconds=4))
    assert again.create_for is None


def test_only_the_latest_missed_time_starts() -> None:
    verdict = schedule.decide(cron(), [], T0 + timedelta(minutes=17))
    assert verdict.create_for == T0 + timedelta(minutes=15)


@pytest.mark.parametrize(
    ("policy", "creates", "cancels"), [("Allow", True, []), ("Forbid", False, []), ("Replace", True, ["nightly-x"])]
)
def test_concurrency_policies(policy: str, creates: bool, cancels: list[str]) -> None:
    before = T0 - timedelta(minutes=5)
    active = run(before)
    active["metadata"]["name"] = "nightly-x"
    c = cron(concurrencyPolicy=policy, status={"lastScheduleTime": schedule.iso(before)})
    verdict = schedule.decide(c, [active], T0 + timedelta(seconds=1))
    assert (verdict.create_for == T0) is creates and verdict.cancel == cancels
    if policy == "Forbid":
        assert "nightly-x still active" in (verdict.skipped or "")
        assert verdict.status["lastSkippedTime"] == schedule.iso(T0)  # skipped, not delayed
        later = schedule.decide(cron(concurrencyPolicy=policy, status=verdict.status), [], T0 + timedelta(seconds=30))
        assert later.create_for is None


def test_a_time_missed_past_the_starting_deadline_is_skipped() -> None:
    verdict = schedule.decide(cron(startingDeadlineSeconds=60), [], T0 + timedelta(seconds=90))
    assert verdict.create_for is None and "missed the run due at 2026-12-01T12:00:00Z by 90s" in (verdict.skipped or "")
    assert schedule.decide(cron(startingDeadlineSeconds=60), [], T0 + timedelta(seconds=50)).create_for == T0


def test_suspended_starts_nothing_and_says_so() -> None:
    verdict = schedule.decide(cron(suspend=True), [], T0 + timedelta(seconds=1))
    assert verdict.create_for is None and verdict.skipped is None and verdict.status["nextScheduleTime"] is None
    assert verdict.status["conditions"][0]["reason"] == "Suspended"


def test_history_limits_delete_the_oldest_finished_runs() -> None:
    times = [T0 - timedelta(minutes=5 * i) for i in range(1, 7)]
    runs = [run(t, "Succeeded", t + timedelta(seconds=2)) for t in times[:4]] + [run(t, "Failed") for t in times[4:]]
    verdict = schedule.decide(
        cron(successfulRunsHistoryLimit=2, failedRunsHistoryLimit=1), runs, T0 - timedelta(seconds=1)
    )
    assert verdict.delete == [runs[3]["metadata"]["name"], runs[2]["metadata"]["name"], runs[5]["metadata"]["name"]]
    assert verdict.status["lastSuccessfulTime"] == schedule.iso(times[0] + timedelta(seconds=2))


def test_six_fields_schedule_seconds_and_time_zones_shift_the_times() -> None:
    verdict = schedule.decide(cron(schedule="*/10 * * * * *"), [], T0 + timedelta(seconds=25))
    assert verdict.create_for == T0 + timedelta(seconds=20)
    paris = cron(schedule="0 13 * * *", timeZone="Europe/Paris")  # 13:00 in Paris is 12:00 UTC in winter
    assert schedule.decide(paris, [], T0 + timedelta(seconds=1)).create_for == T0


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("schedule", "61 * * * *", "not a valid cron schedule"),
        ("schedule", "* * *", "has 3 fields"),
        ("timeZone", "Mars/Olympus", "not an IANA time zone"),
        ("concurrencyPolicy", "Sometimes", "concurrencyPolicy"),
    ],
)
def test_a_bad_spec_is_not_ready_and_does_nothing(field: str, value: str, says: str) -> None:
    verdict = schedule.decide(cron(**{field: value}), [], T0 + timedelta(seconds=1))
    assert verdict.create_for is None and not verdict.delete
    (ready,) = verdict.status["conditions"]
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec") and says in ready["message"]
    assert f"spec.{field}" in ready["message"]


def test_the_run_is_owned_labelled_and_annotated() -> None:
    built = schedule.build_run(
        cron(runTemplate={"metadata": {"labels": {"team": "a"}}, "spec": {"workflow": "p.m:F"}}), T0
    )
    meta = built["metadata"]
    assert meta["name"] == "nightly-1796126400" and meta["labels"] == {"team": "a", schedule.CRON_LABEL: "nightly"}
    assert meta["annotations"][schedule.SCHEDULED_AT_ANNOTATION] == "2026-12-01T12:00:00Z"
    assert meta["ownerReferences"][0]["uid"] == "cron-uid" and meta["ownerReferences"][0]["controller"] is True
    assert built["spec"] == {"workflow": "p.m:F"}


def test_the_example_is_a_valid_schedule() -> None:
    from pathlib import Path

    import yaml

    from kube_workflows.models.cronworkflowrun import CronWorkflowRun

    example = Path(__file__).resolve().parents[2] / "examples" / "nightly-documents.yaml"
    parsed = CronWorkflowRun.model_validate(yaml.safe_load(example.read_text()))
    assert parsed.spec.time_zone == "Europe/Paris" and parsed.spec.run_template.spec.workflow.endswith(
        "DocumentPipeline"
    )
