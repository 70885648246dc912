"""What an event of a run's Job means for the run (pure): one case per numbered step of decide, and the races."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest

from kube_workflows.controller.job_verdict import Fresh, JobVerdict, Kind, decide
from kube_workflows.models.names import RESTARTS_BEFORE_ANNOTATION

OWNER = {"kind": "WorkflowRun", "name": "r", "uid": "u1", "controller": True}


class JobBuilder:
    """A run's Job: created, owned by run r, no pods counted yet."""

    def __init__(self, name: str = "r") -> None:
        self._job: dict[str, Any] = {
            "metadata": {"name": name, "ownerReferences": [dict(OWNER)], "annotations": {}},
            "spec": {"backoffLimit": 3},
            "status": {},
        }

    def unowned(self) -> JobBuilder:
        self._job["metadata"]["ownerReferences"] = [{**OWNER, "controller": False}]
        return self

    def _condition(self, type_: str) -> JobBuilder:
        self._job["status"].setdefault("conditions", []).append({"type": type_, "status": "True"})
        return self

    def completed(self) -> JobBuilder:
        return self._condition("Complete")

    def success_criteria_met(self) -> JobBuilder:
        return self._condition("SuccessCriteriaMet")  # set before Complete, in a separate update

    def suspended(self) -> JobBuilder:
        self._job["spec"]["suspend"] = True
        return self._condition("Suspended")

    def failed(self, pods: int) -> JobBuilder:
        self._job["status"]["failed"] = pods
        return self

    def ready(self) -> JobBuilder:
        self._job["status"].update(active=1, ready=1)
        return self

    def restarts_before(self, count: int) -> JobBuilder:
        self._job["metadata"]["annotations"][RESTARTS_BEFORE_ANNOTATION] = str(count)
        return self

    def obj(self) -> dict[str, Any]:
        return copy.deepcopy(self._job)


class EntryBuilder:
    """Run r as the operator's index holds it (`runs_by_name`), or as a fresh read (`as_run`)."""

    def __init__(self) -> None:
        self._status: dict[str, Any] = {"jobName": "r", "segment": 1}
        self._steer = {"suspend": False, "cancel": False}

    def phase(self, phase: str) -> EntryBuilder:
        self._status["phase"] = phase
        return self

    def job_name(self, name: str | None) -> EntryBuilder:
        self._status["jobName"] = name
        return self

    def waiting(self, event_index: int = 0) -> EntryBuilder:
        self._status["waiting"] = {"eventIndex": event_index, "prompt": "approve?"}
        return self

    def final(self) -> EntryBuilder:
        self._status["checkpoint"] = {"seq": 3, "final": True}
        return self

    def steer(self, **steer: bool) -> EntryBuilder:
        self._steer.update(steer)
        return self

    def obj(self) -> dict[str, Any]:
        return {"uid": "u1", "generation": 1, "status": copy.deepcopy(self._status), "steer": dict(self._steer)}

    def as_run(self) -> dict[str, Any]:
        return {
            "metadata": {"name": "r", "namespace": "ns", "uid": "u1", "generation": 1},
            "spec": {"workflow": "m:W", **self._steer},
            "status": copy.deepcopy(self._status),
        }


def job(name: str = "r") -> JobBuilder:
    return JobBuilder(name)


def entry() -> EntryBuilder:
    return EntryBuilder()


GONE = Fresh(run=None)


@dataclass(frozen=True, kw_only=True)
class Case:
    job: JobBuilder
    entry: EntryBuilder | None
    want: Kind
    fresh: Fresh | None = None
    deleted: bool = False
    phase: str | None = None  # the phase the verdict observed, when it observed one


CASES: dict[str, Case] = {
    # 1. Not ours, or deleted.
    "a Job no run controls": Case(job=job().unowned().failed(1), entry=entry(), want=Kind.IGNORE),
    "a deleted Job": Case(job=job().failed(1), entry=entry(), deleted=True, want=Kind.IGNORE),
    # 2. The run is gone.
    "the run is gone": Case(job=job().completed(), entry=None, want=Kind.IGNORE),
    # 3. A Cancelled run's Job events: its pods end while they are removed, and nothing changes.
    "a cancelled run's Job loses its first pod": Case(
        job=job().failed(1), entry=entry().phase("Cancelled"), want=Kind.IGNORE
    ),
    "a cancelled run's Job completes": Case(job=job().completed(), entry=entry().phase("Cancelled"), want=Kind.IGNORE),
    # 4. An earlier segment's Job event arriving after the run moved on: no read, no write.
    "an earlier segment's Job completes late": Case(
        job=job().completed(), entry=entry().phase("Running").job_name("r-s2"), want=Kind.IGNORE
    ),
    "an earlier segment's Job loses a pod": Case(
        job=job().failed(1), entry=entry().phase("Running").job_name("r-s2"), want=Kind.IGNORE
    ),
    # 5. Suspend and cancel edits whose handling was cut short: level-triggered, from a fresh read.
    "suspended, the Job still runs": Case(
        job=job().ready(), entry=entry().phase("Running").steer(suspend=True), want=Kind.READ_FRESH
    ),
    "suspended, the Job still runs (read)": Case(
        job=job().ready(),
        entry=entry().phase("Running").steer(suspend=True),
        fresh=Fresh(run=entry().phase("Running").steer(suspend=True).as_run()),
        want=Kind.RECONCILE,
    ),
    "resumed, the Job still suspended (read)": Case(
        job=job().suspended(),
        entry=entry().phase("Suspended"),
        fresh=Fresh(run=entry().phase("Suspended").as_run()),
        want=Kind.RECONCILE,
    ),
    "cancelled, not yet Cancelled": Case(
        job=job().ready(), entry=entry().phase("Running").steer(cancel=True), want=Kind.READ_FRESH
    ),
    "cancelled, and the run is gone by the read": Case(
        job=job().ready(), entry=entry().phase("Running").steer(cancel=True), fresh=GONE, want=Kind.IGNORE
    ),
    # 6. A completed Job whose index entry still lags: the runner's last write decides.
    "a completed Job, the index says Running": Case(
        job=job().completed(), entry=entry().phase("Running"), want=Kind.READ_FRESH
    ),
    # 7. The fresh read says cancelled, gone or moved on.
    "a completed Job, the run is gone by the read": Case(
        job=job().completed(), entry=entry().phase("Running"), fresh=GONE, want=Kind.IGNORE
    ),
    "a completed Job, the run was cancelled meanwhile": Case(
        job=job().completed(),
        entry=entry().phase("Running"),
        fresh=Fresh(run=entry().phase("Cancelled").as_run()),
        want=Kind.IGNORE,
    ),
    "a completed Job, the run moved on meanwhile": Case(
        job=job().completed(),
        entry=entry().phase("Waiting").waiting(),
        fresh=Fresh(run=entry().phase("Running").job_name("r-s2").as_run()),
        want=Kind.IGNORE,
    ),
    # 8. A first lost pod is replaced at once; a later one waits out the Job controller's backoff.
    "the first lost pod": Case(job=job().failed(1), entry=entry().phase("Running"), want=Kind.READ_FRESH),
    "the first lost pod (read)": Case(
        job=job().failed(1),
        entry=entry().phase("Running"),
        fresh=Fresh(run=entry().phase("Running").as_run()),
        want=Kind.REPLACE_POD,
        phase="Running",
    ),
    "the first lost pod, the run moved on by the read": Case(
        job=job().failed(1),
        entry=entry().phase("Running"),
        fresh=Fresh(run=entry().phase("Running").job_name("r-s2").as_run()),
        want=Kind.MIRROR,
        phase="Running",
    ),
    "the first lost pod, the run is gone by the read": Case(
        job=job().failed(1), entry=entry().phase("Running"), fresh=GONE, want=Kind.MIRROR, phase="Running"
    ),
    "the first lost pod, the fresh run names no Job": Case(
        job=job().failed(1),
        entry=entry().phase("Running"),
        fresh=Fresh(run=entry().phase("Running").job_name(None).as_run()),
        want=Kind.MIRROR,
        phase="Running",
    ),
    "a second lost pod": Case(job=job().failed(2), entry=entry().phase("Running"), want=Kind.MIRROR, phase="Running"),
    "a later segment's first lost pod": Case(
        job=job().failed(1).restarts_before(1), entry=entry().phase("Running"), want=Kind.MIRROR, phase="Running"
    ),
    # 9. and 11. The observed phase, mirrored into status.
    "the pod is ready": Case(job=job().ready(), entry=entry().phase("Pending"), want=Kind.MIRROR, phase="Running"),
    "a completed Job with a result": Case(
        job=job().completed(),
        entry=entry().phase("Running"),
        fresh=Fresh(run=entry().phase("Running").final().as_run()),
        want=Kind.MIRROR,
        phase="Succeeded",
    ),
    "a completed Job with no result": Case(
        job=job().completed(),
        entry=entry().phase("Running"),
        fresh=Fresh(run=entry().phase("Running").as_run()),
        want=Kind.MIRROR,
        phase="Failed",
    ),
    # 10. Waiting for input: park, from the fresh read only.
    "success criteria met, not yet Complete: mirrored from the index, not parked": Case(
        job=job().success_criteria_met(),
        entry=entry().phase("Running").waiting(),
        want=Kind.MIRROR,
        phase="Waiting",
    ),
    "a completed Job, the runner waits for input": Case(
        job=job().completed(),
        entry=entry().phase("Running"),
        fresh=Fresh(run=entry().phase("Running").waiting().as_run()),
        want=Kind.PARK,
        phase="Waiting",
    ),
}


def _decide(case: Case) -> JobVerdict:
    return decide(
        case.job.obj(), None if case.entry is None else case.entry.obj(), deleted=case.deleted, fresh=case.fresh
    )


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_decide(case: Case) -> None:
    verdict = _decide(case)
    assert verdict.kind is case.want, verdict.why
    assert (verdict.observed and verdict.observed.phase) == case.phase
    if case.want in (Kind.RECONCILE, Kind.REPLACE_POD):
        assert case.fresh is not None and verdict.run == case.fresh.run  # the whole, current run
    if case.want in (Kind.PARK, Kind.MIRROR):
        assert verdict.patch["phase"] == case.phase


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_one_fresh_read_is_enough(case: Case) -> None:
    """The handler reads at most once per event: with a read in hand, decide never asks for another."""
    for fresh in (GONE, Fresh(run=entry().phase("Running").as_run())):
        again = decide(case.job.obj(), None if case.entry is None else case.entry.obj(), fresh=fresh)
        assert again.kind is not Kind.READ_FRESH


def test_parking_reconciles_the_run_as_patched() -> None:
    # The reconcile after parking may start the next segment at once: it must see phase Waiting.
    verdict = _decide(CASES["a completed Job, the runner waits for input"])
    assert verdict.run["status"]["phase"] == "Waiting"
    assert verdict.run["spec"]["workflow"] == "m:W"


def test_a_mirrored_status_is_not_written_twice() -> None:
    index = entry().phase("Pending").obj()
    first = decide(job().ready().obj(), index)
    assert first.kind is Kind.MIRROR
    index["status"].update(first.patch)
    again = decide(job().ready().obj(), index)
    assert again.kind is Kind.IGNORE, again.patch
