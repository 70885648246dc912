"""The TTL and wait-timeout sweep: deletes finished runs after spec.ttlSecondsAfterFinished and fails
runs that waited longer than spec.waitTimeoutSeconds. The decisions are timers.py's; this keeps the
timers (fed by the run watch in handlers.observe_run) and acts on the fresh object when one fires.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Mapping
from typing import Any

import kopf
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kube_workflows import kube
from kube_workflows.controller import actions
from kube_workflows.controller import timers as run_timers
from kube_workflows.controller.lease import LEASE_SECONDS, SweepLease

log = logging.getLogger(__name__)

# Finished runs with spec.ttlSecondsAfterFinished, and runs waiting for input with
# spec.waitTimeoutSeconds: run uid → its timer (see timers.py). A plain background sweep instead of a
# kopf timer: timers make kopf put a finalizer on every run, and a run deleting itself through its own
# timer can leave that finalizer stuck.
_ttl_timers: dict[str, run_timers.Timer] = {}
_wait_timers: dict[str, run_timers.Timer] = {}


def _timed_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The few fields the timers read (not the whole run: its status can hold a large checkpoint)."""
    meta, spec, status = body["metadata"], body.get("spec") or {}, body.get("status") or {}
    return {
        "metadata": {k: meta.get(k) for k in ("namespace", "name", "uid")},
        "spec": {k: spec.get(k) for k in ("ttlSecondsAfterFinished", "waitTimeoutSeconds")},
        "status": {
            "phase": status.get("phase"),
            "completionTime": status.get("completionTime"),
            "waiting": {"since": (status.get("waiting") or {}).get("since")},
        },
    }


# kopf.event() works only where kopf set up its Event queue: in a handler's context, which a task
# started by an on.startup activity does not have. The sweep runs its actions (which post Events) in
# a copy of the context of the handler that fed it a timer.
_handler_context: contextvars.Context | None = None


def track(body: Mapping[str, Any], deleted: bool) -> None:
    """Keep the run's timers in line with a watch event of it (called from a kopf handler)."""
    global _handler_context
    if _handler_context is None:
        _handler_context = contextvars.copy_context()
    run = _timed_fields(body)
    uid = run["metadata"]["uid"]
    for timers, make in ((_ttl_timers, run_timers.ttl_timer), (_wait_timers, run_timers.wait_timer)):
        timer = None if deleted else make(run)
        if timer is None:
            timers.pop(uid, None)
        else:
            timers[uid] = timer


def _due(timers: dict[str, run_timers.Timer], now: float) -> list[run_timers.Timer]:
    due = [t for t in timers.values() if now >= t.deadline]
    for timer in due:
        if timers.get(timer.uid) is timer:  # not replaced by a newer event meanwhile
            del timers[timer.uid]
    return due


# With peering (HA), the replica holding this Lease sweeps; the others keep their timers for the day
# they hold it. None: a standalone operator, the only one.
_lease: SweepLease | None = None
RENEW_SECONDS = LEASE_SECONDS / 3
HELD_SECONDS = LEASE_SECONDS * 2 / 3  # what a renewal is trusted for: well inside the Lease's duration


def use_lease(lease: SweepLease | None) -> None:
    global _lease
    _lease = lease


async def sweep_expired_runs(interval: float = 1.0) -> None:
    held_until = next_renewal = 0.0
    while True:
        await asyncio.sleep(interval)
        now = time.time()
        if _lease is not None:
            if now >= next_renewal:
                try:
                    held = await asyncio.to_thread(_lease.hold)
                except Exception:
                    log.exception("could not renew the sweep's Lease %s/%s", _lease.namespace, _lease.name)
                    held = False
                held_until, next_renewal = (now + HELD_SECONDS if held else 0.0), now + RENEW_SECONDS
            if now >= held_until:
                continue  # another replica sweeps; due timers stay until this one holds the Lease
        for act, timer in [(expire, t) for t in _due(_ttl_timers, now)] + [
            (time_out, t) for t in _due(_wait_timers, now)
        ]:
            try:
                context = (_handler_context or contextvars.copy_context()).copy()
                await asyncio.to_thread(context.run, act, timer)
            except Exception:
                # One run's trouble (an API error, say) must not end the sweep for every other run.
                log.exception("%s/%s: %s failed", timer.namespace, timer.name, act.__name__)


def _retrack(timers: dict[str, run_timers.Timer], timer: run_timers.Timer | None) -> None:
    """A timer that fired on stale memory (say, the TTL was raised since): keep the fresh one, unless
    a watch event has set one meanwhile. One that is still stale fires again, reads again, does nothing."""
    if timer is not None:
        timers.setdefault(timer.uid, timer)


def expire(timer: run_timers.Timer) -> None:
    """A TTL timer fired: delete the run if the fresh object says it is due."""
    fresh = actions.read_run(timer.namespace, timer.name)
    if not run_timers.ttl_due(timer, fresh, time.time()):
        if fresh is not None and fresh["metadata"]["uid"] == timer.uid:
            _retrack(_ttl_timers, run_timers.ttl_timer(fresh))
        return
    delete_run(timer.namespace, timer.name, timer.uid)


def time_out(timer: run_timers.Timer) -> None:
    """A wait timer fired: fail the run if it still waits, past its timeout, on the same question."""
    fresh = actions.read_run(timer.namespace, timer.name)
    if fresh is None or fresh["metadata"]["uid"] != timer.uid:
        return
    if not actions.wait_timed_out(timer, fresh):
        _retrack(_wait_timers, run_timers.wait_timer(fresh))


def delete_run(namespace: str, name: str, uid: str) -> None:
    """Delete the run with this uid, and nothing else: a run re-created under the same name since has
    another uid, and the API server refuses the delete (409)."""
    options = client.V1DeleteOptions(propagation_policy="Background", preconditions=client.V1Preconditions(uid=uid))
    try:
        kube.custom_objects().delete_namespaced_custom_object(
            namespace=namespace, name=name, body=options, **kube.WORKFLOWRUN
        )
    except ApiException as exc:
        if exc.status == 409:
            log.info("%s/%s: not deleted, it is another run now (uid)", namespace, name)
        elif exc.status != 404:
            log.warning("could not delete expired run %s/%s: %s", namespace, name, exc)


@kopf.on.startup()
async def start_ttl_sweeper(memo: kopf.Memo, **_: Any) -> None:
    memo["ttl_sweeper"] = asyncio.create_task(sweep_expired_runs())


@kopf.on.cleanup()
async def stop_ttl_sweeper(memo: kopf.Memo, **_: Any) -> None:
    task = memo.get("ttl_sweeper")
    if task is not None:
        task.cancel()
