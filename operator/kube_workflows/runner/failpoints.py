"""Test-only fault injection at the runner's write boundaries (as etcd's and TiKV's failpoints).

Off unless `KWF_FAILPOINTS` is set, e.g. `KWF_FAILPOINTS=after-chunk@3:pause`: at the third time the
runner passes `after-chunk`, it pauses itself (SIGSTOP, a stale writer) instead of going on.

    KWF_FAILPOINTS = point[@hit][:action][#attempt][,...]
    point   = after-claim | (before|after)-(chunk|checkpoint|park|final)
    hit     = which pass fires (1-based, default 1), counted per process
    action  = crash (default: exit at once, as after SIGKILL) | pause (SIGSTOP itself)
    attempt = the runner attempt it fires in (default 1)

A failpoint fires in one attempt only, so the pod that replaces a crashed one runs clean. (A run that
waits for input starts a new attempt per answer: `#2` reaches the boundaries after the first answer.)
"""

from __future__ import annotations

import logging
import os
import signal
from collections import Counter
from dataclasses import dataclass

log = logging.getLogger(__name__)

ENV = "KWF_FAILPOINTS"
POINTS = frozenset(
    {
        "after-claim",
        *(f"{when}-{what}" for when in ("before", "after") for what in ("chunk", "checkpoint", "park", "final")),
    }
)
ACTIONS = ("crash", "pause")
CRASH_EXIT_CODE = 128 + signal.SIGKILL


@dataclass(frozen=True)
class Failpoint:
    point: str
    hit: int = 1
    action: str = "crash"
    attempt: int = 1


def parse(spec: str) -> list[Failpoint]:
    """`KWF_FAILPOINTS` → failpoints; ValueError naming the bad entry."""
    points: list[Failpoint] = []
    for entry in filter(None, (e.strip() for e in spec.split(","))):
        entry_body, _, attempt = entry.partition("#")
        where, _, action = entry_body.partition(":")
        point, _, hit = where.partition("@")
        if point not in POINTS:
            raise ValueError(f"{ENV}: {entry!r}: unknown point {point!r} (one of {', '.join(sorted(POINTS))})")
        if action and action not in ACTIONS:
            raise ValueError(f"{ENV}: {entry!r}: unknown action {action!r} (crash or pause)")
        for what, number in (("hit", hit), ("attempt", attempt)):
            if number and not (number.isdigit() and int(number) > 0):
                raise ValueError(f"{ENV}: {entry!r}: {what} must be a positive number")
        points.append(Failpoint(point, int(hit or 1), action or "crash", int(attempt or 1)))
    return points


_armed: dict[str, Failpoint] = {}
_passes: Counter[str] = Counter()


def arm(attempt: int) -> None:
    """Read `KWF_FAILPOINTS` once the attempt is known: only the failpoints of this attempt fire."""
    _armed.clear()
    _passes.clear()
    if os.environ.get(ENV):
        _armed.update({f.point: f for f in parse(os.environ[ENV]) if f.attempt == attempt})
    if _armed:
        log.warning("failpoints armed: %s", ", ".join(sorted(_armed)))


def reached(point: str) -> None:
    """The runner passes `point`; fire when a failpoint is armed for this pass."""
    if not _armed:
        return
    _passes[point] += 1
    failpoint = _armed.get(point)
    if failpoint is None or _passes[point] != failpoint.hit:
        return
    log.warning("failpoint %s@%d: %s", point, failpoint.hit, failpoint.action)
    logging.shutdown()
    if failpoint.action == "pause":
        os.kill(os.getpid(), signal.SIGSTOP)
        return  # SIGCONT: go on as a stale writer
    os._exit(CRASH_EXIT_CODE)
