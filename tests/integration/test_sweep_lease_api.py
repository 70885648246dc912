"""The sweep's Lease on the real API server: one replica holds it, the other follows, and takes over
once the holder stops renewing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kube_workflows.controller.lease import LEASE_SECONDS, SweepLease
from support import Cluster


def test_one_replica_holds_the_lease_and_another_takes_over_when_it_lapses(cluster: Cluster, namespace: str) -> None:
    first, second = (SweepLease(namespace, "kube-workflows-sweep-test", me) for me in ("replica-a", "replica-b"))
    assert first.hold() is True
    assert second.hold() is False  # a renews: b follows
    assert first.hold() is True and second.hold() is False
    # a stops renewing (a crash): its last renewal is older than the Lease's duration.
    from kubernetes import client

    api = client.CoordinationV1Api(cluster.api)
    lapsed = datetime.now(UTC) - timedelta(seconds=LEASE_SECONDS + 5)
    api.patch_namespaced_lease(
        "kube-workflows-sweep-test", namespace, {"spec": {"renewTime": lapsed.isoformat().replace("+00:00", "Z")}}
    )
    assert second.hold() is True
    assert first.hold() is False  # back again, it finds b holding it
    assert api.read_namespaced_lease("kube-workflows-sweep-test", namespace).spec.holder_identity == "replica-b"
