"""Measure: per-step wall time of a run whose Contexts go to PostgreSQL (spec.checkpoint.store.postgres) ÷ the
same run on the status store, in the same bench run, with a small Context (inline in status) and a 200 KB one
(offloaded to ConfigMaps on the status store). Target ≤ 1.0: keeping the state out of etcd should not cost
a step more than keeping it there.

PostgreSQL is a server of the bench's own on 127.0.0.1 (tests/local_postgres.py, Debian's `postgresql`),
fsyncing its commits as etcd does its writes.
"""

from __future__ import annotations

from typing import Any

from bench.cluster import BenchCluster
from bench.report import Row
from bench.step_overhead import in_pod_step_seconds
from local_postgres import LocalPostgres

TARGET = 1.0
PAD = 200_000  # incompressible bytes in ctx.store: about 270 KB stored, over the 32 KiB inline limit


def best_step_seconds(bench: BenchCluster, namespace: str, name: str, repeats: int, **spec: Any) -> float:
    return min(in_pod_step_seconds(bench, namespace, f"{name}-{i}", **spec)[0] for i in range(repeats))


def run(bench: BenchCluster, steps: int = 40, delay: float = 0.01, repeats: int = 2) -> list[Row]:
    server = LocalPostgres(durable=True)
    server.start()
    try:
        namespace = bench.namespace("pg-store")
        bench.cluster.core.create_namespaced_secret(
            namespace, {"metadata": {"name": "bench-db"}, "stringData": {"dsn": server.database()}}
        )
        store = {"store": {"postgres": {"dsnSecretRef": {"name": "bench-db", "key": "dsn"}}}}
        rows = []
        for label, pad in (("small Context, inline in status", 0), (f"{PAD // 1000} KB Context", PAD)):
            start = {"pad": pad} if pad else {}
            status = best_step_seconds(
                bench, namespace, f"status-{pad}", repeats, steps=steps, delay=delay, start=start
            )
            postgres = best_step_seconds(
                bench, namespace, f"pg-{pad}", repeats, steps=steps, delay=delay, start=start, checkpoint=store
            )
            rows.append(
                Row(
                    measure=f"postgres_store_vs_status ({label})",
                    value=f"{postgres * 1000:.1f} ms",
                    anchor=f"{status * 1000:.1f} ms",
                    ratio=postgres / status,
                    target=TARGET,
                    detail=f"per {delay * 1000:.0f} ms step, a checkpoint after each, best of {repeats}: the Context "
                    "in PostgreSQL (status keeps seq, sha256, size) vs in the WorkflowRun"
                    + (" (its ConfigMap chunks)" if pad else ""),
                )
            )
        bench.delete_namespace(namespace)
        return rows
    finally:
        server.stop()
