"""spec.checkpoint.store.postgres: the Contexts go to PostgreSQL, status keeps only seq, sha256 and size, and a
run whose pod is SIGKILLed resumes from the database with no completed step run again."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import psycopg

from support import Cluster, OperatorProcess, wait_for, workflow_run

STEPS = 8
UNINTERRUPTED = {"steps": STEPS, "total": sum(range(1, STEPS + 1))}
PAD = 200_000  # incompressible bytes in ctx.store: without the store, each checkpoint would be chunked into ConfigMaps


def recorded_steps(record: Path) -> list[int]:
    return [int(line.split()[1]) for line in record.read_text().splitlines()] if record.exists() else []


def test_a_killed_pod_resumes_from_postgres_and_status_holds_no_context(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path, postgres_dsn: str
) -> None:
    cluster.core.create_namespaced_secret(
        namespace, {"metadata": {"name": "checkpoints-db"}, "stringData": {"dsn": postgres_dsn}}
    )
    record, release = tmp_path / "record", tmp_path / "release"
    store = {"postgres": {"dsnSecretRef": {"name": "checkpoints-db", "key": "dsn"}}}
    cluster.apply(
        workflow_run(
            "chain",
            "kwf_testflows.steps:StepChain",
            {"steps": STEPS, "record": str(record), "hold_at": 4, "release": str(release), "pad": PAD},
            checkpoint={"store": store},
        ),
        namespace,
    )
    # Steps 1-3 are checkpointed; step 4 waits for `release`: the pod dies with it in flight.
    wait_for("steps 1-3 to be recorded", lambda: recorded_steps(record) == [1, 2, 3], timeout=120)
    wait_for(
        "the checkpoint of step 3",
        lambda: (cluster.run(namespace, "chain").get("status") or {}).get("checkpoint", {}).get("stepsCompleted") == 4,
    )
    first_pod = cluster.runner_pods(namespace, "chain")[0].metadata.name
    cluster.crash_pod(namespace, first_pod)
    release.touch()

    done = cluster.wait_phase(namespace, "chain", "Succeeded", "Failed", timeout=180)
    status = done["status"]
    assert status["phase"] == "Succeeded", status.get("error")
    assert status["result"] == UNINTERRUPTED
    assert status["restarts"] == 1 and status["attempt"] == 2
    assert Counter(recorded_steps(record)) == Counter(range(1, STEPS + 1)), "a completed step ran again"
    assert [s["name"] for s in status["steps"]][:4] == ["begin", "work", "work", "work"]
    assert {s["attempt"] for s in status["steps"][4:]} == {2}

    # Status points at the database: no Context inline, no chunks, no checkpoint ConfigMaps.
    checkpoint = status["checkpoint"]
    assert checkpoint["storage"] == "PostgreSQL" and checkpoint["data"] == "" and not checkpoint.get("chunks")
    assert checkpoint["sizeBytes"] > PAD
    assert len(json.dumps(done)) < 16 * 1024
    config_maps = cluster.core.list_namespaced_config_map(namespace).items
    assert not [c.metadata.name for c in config_maps if "-ckpt-" in c.metadata.name]

    # The database holds the final Context under the second pod's attempt, matching status's digest.
    key = f"{namespace}/chain/{done['metadata']['uid']}"
    with psycopg.connect(postgres_dsn) as db:
        attempt = db.execute("SELECT attempt FROM kwf_runs WHERE run_id = %s", (key,)).fetchone()
        kept = db.execute(
            "SELECT attempt, sha256, size_bytes FROM kwf_contexts WHERE run_id = %s AND seq = %s",
            (key, checkpoint["seq"]),
        ).fetchone()
    assert attempt == (2,)
    assert kept == (2, checkpoint["sha256"], checkpoint["sizeBytes"])
