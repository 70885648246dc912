"""Fencing, API-server outages and operator restarts: nothing lost, no completed step re-run."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from kube_workflows_devtools.controlplane import DevCluster
from support import KWF, Cluster, OperatorProcess, wait_for, workflow_run


def records(path: Path) -> list[tuple[int, str, int]]:
    """(step, pod, attempt) per side effect the workflow recorded."""
    if not path.exists():
        return []
    return [(int(s), pod, int(a)) for _, s, pod, a in (line.split() for line in path.read_text().splitlines())]


def steps_completed(cluster: Cluster, namespace: str, name: str) -> int:
    return int(((cluster.run(namespace, name).get("status") or {}).get("checkpoint") or {}).get("stepsCompleted", 0))


def test_a_paused_stale_pod_cannot_write_after_its_replacement_took_over(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    record, release = tmp_path / "record", tmp_path / "release"
    cluster.apply(
        workflow_run(
            "fenced",
            "kwf_testflows.steps:StepChain",
            {"steps": 6, "record": str(record), "hold_at": 3, "release": str(release)},
        ),
        namespace,
    )
    wait_for("steps 1-2 checkpointed", lambda: steps_completed(cluster, namespace, "fenced") == 3)
    stale = cluster.runner_pods(namespace, "fenced")[0].metadata.name
    cluster.crash_pod(namespace, stale, signal.SIGSTOP)  # e.g. a node that stopped answering
    # Its replacement (same run, another pod) claims the run and finishes it.
    release.touch()
    replacement = subprocess.run(
        [KWF, "runner"],
        env={**cluster.env(), "KWF_RUN_NAME": "fenced", "KWF_RUN_NAMESPACE": namespace, "KWF_POD_NAME": "replacement"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert replacement.returncode == 0, replacement.stderr
    finished = cluster.run(namespace, "fenced")["status"]
    assert finished["attempt"] == 2 and finished["checkpoint"]["final"] is True

    cluster.crash_pod(namespace, stale, signal.SIGCONT)

    def stale_exit_code() -> int | None:
        pods = {p.metadata.name: p for p in cluster.runner_pods(namespace, "fenced")}
        statuses = pods[stale].status.container_statuses or []
        terminated = statuses[0].state.terminated if statuses else None
        return terminated.exit_code if terminated else None

    assert wait_for("the stale pod to step aside", stale_exit_code, timeout=60) == 6  # exit_codes.SUPERSEDED
    after = cluster.run(namespace, "fenced")["status"]
    # The stale pod finished step 3 (its side effect happened) but none of its writes landed.
    assert after["checkpoint"] == finished["checkpoint"] and after["result"] == finished["result"]
    assert [s["attempt"] for s in after["steps"]] == [1, 1, 1, 2, 2, 2, 2]
    assert {(step, attempt) for step, _, attempt in records(record) if attempt == 1} == {(1, 1), (2, 1), (3, 1)}
    assert cluster.wait_phase(namespace, "fenced", "Succeeded", "Failed")["status"]["phase"] == "Succeeded"


def test_api_server_restart_mid_run_loses_nothing(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    record = tmp_path / "record"
    cluster.apply(
        workflow_run("outage", "kwf_testflows.steps:StepChain", {"steps": 10, "delay": 0.4, "record": str(record)}),
        namespace,
    )
    wait_for("3 steps checkpointed", lambda: steps_completed(cluster, namespace, "outage") >= 4, timeout=120)
    assert cluster.data_dir is not None
    DevCluster(cluster.data_dir).restart("kube-apiserver", downtime=3)
    status = cluster.wait_phase(namespace, "outage", "Succeeded", "Failed", timeout=240)["status"]
    assert status["phase"] == "Succeeded", status.get("error")
    assert status["result"] == {"steps": 10, "total": 55}
    assert Counter(step for step, _, _ in records(record)) == Counter(range(1, 11))  # each step once
    assert not status.get("restarts")  # the runner rode out the outage; no new pod was needed


def test_operator_killed_repeatedly_never_duplicates_or_loses_runs(
    cluster: Cluster, solo_namespace: str, tmp_path: Path
) -> None:
    operator = OperatorProcess(cluster, tmp_path / "operator.log", "--namespace", solo_namespace)
    operator.start()
    names = [f"run-{i}" for i in range(4)]
    try:
        for name in names:
            cluster.apply(
                workflow_run(name, "kwf_testflows.steps:StepChain", {"steps": 5, "delay": 0.3}), solo_namespace
            )
        for _ in range(4):
            time.sleep(1.0)
            operator.stop(signal.SIGKILL)
            time.sleep(0.5)
            operator.start()
        for name in names:
            status = cluster.wait_phase(solo_namespace, name, "Succeeded", "Failed", timeout=180)["status"]
            assert status["phase"] == "Succeeded" and status["result"] == {"steps": 5, "total": 15}
    finally:
        operator.stop()
    jobs = Counter(
        j.metadata.labels["kube-workflows.dev/run"] for j in cluster.batch.list_namespaced_job(solo_namespace).items
    )
    assert jobs == Counter(names), "an operator restart created a second Job"
    pods = Counter(
        p.metadata.labels["kube-workflows.dev/run"] for p in cluster.core.list_namespaced_pod(solo_namespace).items
    )
    assert pods == Counter(names), "a run got more than one pod"
