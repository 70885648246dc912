"""`kwf operator`: configure kopf and run the handlers."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import random
import socket
from typing import Any

import kopf

from kube_workflows.controller import (
    cron,  # noqa: F401  (registers the CronWorkflowRun handlers)
    handlers,  # noqa: F401  (registers the handlers)
    metrics,
    pod_loss,
    sweeper,
)
from kube_workflows.controller.lease import SweepLease

SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def own_namespace() -> str:
    """Where this replica keeps its Lease: its pod's namespace (POD_NAMESPACE, set by the chart)."""
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    if os.path.exists(SERVICE_ACCOUNT_NAMESPACE):
        with open(SERVICE_ACCOUNT_NAMESPACE) as f:
            return f.read().strip()
    return "default"


def replica_identity() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Keep kopf's bookkeeping in status, not in annotations a GitOps tool would diff against.
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf.progress")
    settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage(field="status.kopf.lastHandled")
    # Only the Events we post on purpose; handler log lines stay in the operator's log.
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 30
    # Threads for the (synchronous) handlers: they mostly wait on the API server, and each busy one
    # holds its responses in memory; 16 keep up with 1,000 runs here (see make bench).
    settings.execution.max_workers = 16
    # Server-side filters: the operator gets its own Jobs, and of pods only failed runner pods
    # (pod_loss), not every Job and pod of the watched namespaces.
    settings.watching.label_selectors["batch", "v1", "jobs"] = pod_loss.MANAGED_BY_SELECTOR
    settings.watching.label_selectors["", "v1", "pods"] = pod_loss.WATCH_LABELS
    settings.watching.field_selectors["", "v1", "pods"] = pod_loss.WATCH_FIELDS
    # Watching named namespaces only: no cluster-wide namespace/CRD scanning, so a namespace-scoped
    # install needs no cluster permissions. (Glob patterns need scanning to find their namespaces.)
    if _watched and not any(c in n for n in _watched for c in "*?[!"):
        settings.scanning.disabled = True


_watched: list[str] = []

M_ARENA_MAX = -8  # glibc's mallopt() parameter (malloc.h)


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas (what MALLOC_ARENA_MAX sets), before the handler threads start.

    glibc gives each thread that contends for malloc an arena of its own, up to 8 per core; the 16
    handler threads parse API responses (run bodies) in up to 16 arenas, each keeping what was freed
    in it, so the operator's RSS grew with the runs it follows (make bench M=scale, 500 runs: 156 MB,
    +41 KB a run; with 2 arenas 135-138 MB, +24-30 KB). A no-op where the C library is not glibc."""
    libc = ctypes.util.find_library("c")
    mallopt = getattr(ctypes.CDLL(libc), "mallopt", None) if libc else None
    if mallopt is not None:
        mallopt(M_ARENA_MAX, arenas)


def run_operator(
    namespaces: list[str] | None = None,
    *,
    peering: str | None = None,
    liveness: str | None = None,
    metrics_port: int | None = None,
    priority: int | None = None,
) -> None:
    """Run until SIGTERM/SIGINT. With no namespaces, watch the whole cluster."""
    limit_malloc_arenas()
    if metrics_port:
        metrics.serve(metrics_port)
    _watched[:] = namespaces or []
    if peering is not None:
        sweeper.use_lease(
            SweepLease(namespace=own_namespace(), name=f"kube-workflows-sweep-{peering}", me=replica_identity())
        )
    kopf.configure(verbose=os.environ.get("KWF_DEBUG") == "1")  # kopf's log format; handlers log through it
    asyncio.run(
        kopf.operator(
            clusterwide=not namespaces,
            namespaces=namespaces or [],
            standalone=peering is None,
            peering_name=peering,
            # kopf peering pauses every replica when two share the top priority (it is not leader
            # election), so each replica draws its own unless one is given.
            priority=priority if priority is not None else random.randint(1, 1_000_000),
            liveness_endpoint=liveness,
        )
    )
