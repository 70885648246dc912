"""controller/timers.py: the TTL and wait-timeout sweep acts only on the run, and the question, its deadline
was computed from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from kube_workflows.controller.timers import Timer, ttl_due, ttl_timer, wait_due, wait_timer

T0 = datetime.fromisoformat("2026-06-01T12:00:00+00:00").timestamp()


def finished(uid: str = "uid-1", ttl: int | None = 60, at: str = "2026-06-01T12:00:00Z") -> dict[str, Any]:
    spec = {} if ttl is None else {"ttlSecondsAfterFinished": ttl}
    return {
        "metadata": {"namespace": "ns", "name": "r", "uid": uid},
        "spec": spec,
        "status": {"phase": "Succeeded", "completionTime": at},
    }


def waiting(uid: str = "uid-1", since: str = "2026-06-01T12:00:00Z", timeout: int = 60) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ns", "name": "r", "uid": uid},
        "spec": {"waitTimeoutSeconds": timeout},
        "status": {"phase": "Waiting", "waiting": {"since": since, "eventIndex": 0}},
    }


def test_ttl_timer() -> None:
    assert ttl_timer(finished()) == Timer(namespace="ns", name="r", uid="uid-1", deadline=T0 + 60)
    assert ttl_timer(finished(ttl=None)) is None
    assert ttl_timer({**finished(), "status": {"phase": "Running"}}) is None


# fresh object the sweeper reads when the timer fires -> delete?
TTL_CASES: dict[str, tuple[dict[str, Any] | None, bool]] = {
    "the same run, past its TTL": (finished(), True),
    "re-created under the same name": (finished(uid="uid-2", at="2026-06-01T11:00:00Z"), False),
    "already gone": (None, False),
    "its TTL raised meanwhile": (finished(ttl=3600), False),
    "its TTL removed meanwhile": (finished(ttl=None), False),
}


@pytest.mark.parametrize("case", list(TTL_CASES))
def test_ttl_due_only_for_the_run_the_timer_was_made_for(case: str) -> None:
    fresh, due = TTL_CASES[case]
    timer = ttl_timer(finished())
    assert timer is not None
    assert ttl_due(timer, fresh, now=T0 + 61) is due


def test_ttl_not_due_before_the_deadline() -> None:
    timer = ttl_timer(finished())
    assert timer is not None and not ttl_due(timer, finished(), now=T0 + 59)


WAIT_CASES: dict[str, tuple[dict[str, Any] | None, bool]] = {
    "the same question, past its timeout": (waiting(), True),
    "answered, and a second question asked": (waiting(since="2026-06-01T12:00:50Z"), False),
    "answered and running again": ({**waiting(), "status": {"phase": "Running"}}, False),
    "re-created under the same name": (waiting(uid="uid-2"), False),
    "its timeout raised meanwhile": (waiting(timeout=3600), False),
    "already gone": (None, False),
}


@pytest.mark.parametrize("case", list(WAIT_CASES))
def test_wait_due_only_for_the_same_question(case: str) -> None:
    fresh, due = WAIT_CASES[case]
    timer = wait_timer(waiting())
    assert timer is not None and timer.since == "2026-06-01T12:00:00Z"
    assert wait_due(timer, fresh, now=T0 + 61) is due
