"""Who sweeps: the Lease verdict (pure) and the sweep's gate on it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kube_workflows.controller import sweeper
from kube_workflows.controller import timers as run_timers
from kube_workflows.controller.lease import LEASE_SECONDS, LeaseAction, decide, lease_spec

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def lease(holder: str, renewed_ago: float) -> dict[str, Any]:
    return {"metadata": {"resourceVersion": "7"}, "spec": lease_spec(holder, NOW - timedelta(seconds=renewed_ago))}


@pytest.mark.parametrize(
    ("name", "current", "action"),
    [
        ("no Lease yet", None, LeaseAction.CREATE),
        ("ours", lease("me", 3), LeaseAction.RENEW),
        ("ours, even lapsed", lease("me", 60), LeaseAction.RENEW),
        ("another replica renewing", lease("other", 3), LeaseAction.FOLLOW),
        ("another replica gone quiet", lease("other", LEASE_SECONDS + 1), LeaseAction.TAKE_OVER),
        ("just inside its duration", lease("other", LEASE_SECONDS - 0.5), LeaseAction.FOLLOW),
    ],
)
def test_decide(name: str, current: dict[str, Any] | None, action: LeaseAction) -> None:
    assert decide(current, "me", NOW) == action, name


class Held:
    def __init__(self, held: bool) -> None:
        self.held, self.namespace, self.name, self.calls = held, "ns", "lease", 0

    def hold(self) -> bool:
        self.calls += 1
        return self.held


@pytest.mark.parametrize("held", [False, True])
async def test_the_sweep_acts_only_while_this_replica_holds_the_lease(
    held: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    fired: list[str] = []
    monkeypatch.setattr(sweeper, "expire", lambda timer: fired.append(timer.uid))
    timer = run_timers.Timer(uid="u1", namespace="ns", name="r", deadline=0.0)
    monkeypatch.setattr(sweeper, "_ttl_timers", {"u1": timer})
    gate = Held(held)
    sweeper.use_lease(gate)  # type: ignore[arg-type]
    try:
        task = asyncio.create_task(sweeper.sweep_expired_runs(interval=0.01))
        await asyncio.sleep(0.2)
        task.cancel()
    finally:
        sweeper.use_lease(None)
    assert gate.calls >= 1
    # Not the holder: the due timer stays for the day this replica holds the Lease.
    assert fired == (["u1"] if held else []) and ("u1" in sweeper._ttl_timers) != held
