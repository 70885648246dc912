"""Which operator replica runs the TTL and wait-timeout sweep: the holder of a coordination.k8s.io Lease.

kopf peering pauses standby replicas' handlers, but it is not leader election (kopf#1266), and a replica
that was active keeps the timers it had; a Lease is the one-holder primitive Kubernetes itself uses
(kube-controller-manager, the scheduler). Only with peering: a standalone operator is the only one.

`decide` is pure; `SweepLease.hold()` reads the Lease and writes it under its resourceVersion, so two
replicas that decide at once cannot both win.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kube_workflows import kube

log = logging.getLogger(__name__)

LEASE_SECONDS = 15


class LeaseAction(StrEnum):
    CREATE = "Create"  # no Lease yet
    RENEW = "Renew"  # ours
    TAKE_OVER = "TakeOver"  # its holder stopped renewing
    FOLLOW = "Follow"  # another replica holds it


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def decide(lease: dict[str, Any] | None, me: str, now: datetime) -> LeaseAction:
    if lease is None:
        return LeaseAction.CREATE
    spec = lease.get("spec") or {}
    if spec.get("holderIdentity") == me:
        return LeaseAction.RENEW
    renewed = _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime"))
    duration = int(spec.get("leaseDurationSeconds") or LEASE_SECONDS)
    if renewed is None or now >= renewed + timedelta(seconds=duration):
        return LeaseAction.TAKE_OVER
    return LeaseAction.FOLLOW


def lease_spec(me: str, now: datetime, acquired: Any = None) -> dict[str, Any]:
    stamp = now.isoformat(timespec="microseconds").replace("+00:00", "Z")
    return {
        "holderIdentity": me,
        "leaseDurationSeconds": LEASE_SECONDS,
        "acquireTime": acquired or stamp,
        "renewTime": stamp,
    }


@dataclass
class SweepLease:
    namespace: str
    name: str
    me: str

    def hold(self) -> bool:
        """Renew or take the Lease when it is ours to have; True while this replica holds it."""
        api = client.CoordinationV1Api(kube.api_client())
        now = datetime.now(UTC)
        try:
            current: Any = api.read_namespaced_lease(self.name, self.namespace, _preload_content=False)
            lease: dict[str, Any] | None = kube.parsed(current)
        except ApiException as exc:
            if exc.status != 404:
                raise
            lease = None
        action = decide(lease, self.me, now)
        if action == LeaseAction.FOLLOW:
            return False
        try:
            if lease is None:
                body: Any = {"metadata": {"name": self.name}, "spec": lease_spec(self.me, now)}
                kube.discard(api.create_namespaced_lease(self.namespace, body, _preload_content=False))
            else:
                acquired = (lease.get("spec") or {}).get("acquireTime") if action == LeaseAction.RENEW else None
                body = {
                    "metadata": {"name": self.name, "resourceVersion": lease["metadata"]["resourceVersion"]},
                    "spec": lease_spec(self.me, now, acquired),
                }
                kube.discard(api.replace_namespaced_lease(self.name, self.namespace, body, _preload_content=False))
        except ApiException as exc:
            if exc.status == 409:  # another replica wrote it first
                return False
            raise
        if action != LeaseAction.RENEW:
            log.info("%s now runs the TTL and wait-timeout sweep (Lease %s/%s)", self.me, self.namespace, self.name)
        return True
