"""When a finished run is deleted (spec.ttlSecondsAfterFinished) and a waiting run fails
(spec.waitTimeoutSeconds): the deadlines and the decisions, pure.

The operator keeps the deadlines in memory, from watch events, and acts once one has passed. What it
remembered can be stale by then: the run may be gone and re-created under the same name, its TTL
edited, or its question answered and a new one asked. So a timer records what its deadline was
computed from (the run's uid, and for a wait the question's `since`), and the operator acts only if
the fresh object still says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kube_workflows.models import Phase


@dataclass(frozen=True, kw_only=True)
class Timer:
    namespace: str
    name: str
    uid: str
    deadline: float  # POSIX seconds
    since: str | None = None  # wait timers: status.waiting.since of the question it times


def _deadline(start: Any, seconds: Any) -> float:
    return (datetime.fromisoformat(str(start).replace("Z", "+00:00")) + timedelta(seconds=int(seconds))).timestamp()


def _parts(run: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    return run.get("metadata") or {}, run.get("spec") or {}, run.get("status") or {}


def ttl_timer(run: dict[str, Any]) -> Timer | None:
    """When the run is to be deleted: completionTime + spec.ttlSecondsAfterFinished, if both are set."""
    meta, spec, status = _parts(run)
    ttl, finished = spec.get("ttlSecondsAfterFinished"), status.get("completionTime")
    if ttl is None or not finished:
        return None
    return Timer(namespace=meta["namespace"], name=meta["name"], uid=meta["uid"], deadline=_deadline(finished, ttl))


def wait_timer(run: dict[str, Any]) -> Timer | None:
    """When the run's current question times out: waiting.since + spec.waitTimeoutSeconds."""
    meta, spec, status = _parts(run)
    timeout, since = spec.get("waitTimeoutSeconds"), (status.get("waiting") or {}).get("since")
    if timeout is None or not since or status.get("phase") != Phase.WAITING:
        return None
    return Timer(
        namespace=meta["namespace"],
        name=meta["name"],
        uid=meta["uid"],
        deadline=_deadline(since, timeout),
        since=str(since),
    )


def ttl_due(timer: Timer, fresh: dict[str, Any] | None, now: float) -> bool:
    """Delete now: the fresh object is the run the timer was made for, and its own TTL has passed."""
    if fresh is None or (fresh.get("metadata") or {}).get("uid") != timer.uid:
        return False
    current = ttl_timer(fresh)
    return current is not None and now >= current.deadline


def wait_due(timer: Timer, fresh: dict[str, Any] | None, now: float) -> bool:
    """Fail now: the fresh object is the same run, still waiting on the same question, past its timeout."""
    if fresh is None or (fresh.get("metadata") or {}).get("uid") != timer.uid:
        return False
    current = wait_timer(fresh)
    return current is not None and current.since == timer.since and now >= current.deadline
