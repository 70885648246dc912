"""Runs in a Kueue queue, with Kueue's own manager (built from its Go module, webhooks on) against the
real control plane: quota admits only what fits, the rest shows Queued; a preempted run checkpoints,
queues again and resumes from that checkpoint with no completed step re-run."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support import Cluster, OperatorProcess, count_reruns, wait_for, workflow_run

KUEUE = "kueue.x-k8s.io"


@pytest.fixture(scope="module")
def kueue(cluster: Cluster) -> Iterator[None]:
    from kube_workflows_devtools.controlplane import ClusterError, DevCluster
    from kube_workflows_devtools.kueue import Kueue

    if cluster.data_dir is None:
        pytest.fail("tests/e2e/test_kueue.py starts Kueue on the dev cluster (KWF_TEST_CLUSTER=local)")
    manager = Kueue(DevCluster(cluster.data_dir))
    try:
        manager.start()
    except (ClusterError, OSError) as exc:  # never a skip: Kueue is built by the repo
        pytest.fail(f"Kueue did not start: {exc}", pytrace=False)
    cluster.custom.create_cluster_custom_object(
        KUEUE,
        "v1beta2",
        "resourceflavors",
        {"apiVersion": f"{KUEUE}/v1beta2", "kind": "ResourceFlavor", "metadata": {"name": "default-flavor"}},
    )
    for name, value in (("low", 10), ("high", 1000)):
        cluster.custom.create_cluster_custom_object(
            KUEUE,
            "v1beta2",
            "workloadpriorityclasses",
            {
                "apiVersion": f"{KUEUE}/v1beta2",
                "kind": "WorkloadPriorityClass",
                "metadata": {"name": name},
                "value": value,
            },
        )
    try:
        yield
    finally:
        manager.stop()


@pytest.fixture
def cluster_queues(cluster: Cluster) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for name in made:
        cluster.custom.delete_cluster_custom_object(KUEUE, "v1beta2", "clusterqueues", name)


def queue(cluster: Cluster, namespace: str, cpu: str, made: list[str]) -> None:
    """A ClusterQueue with `cpu` of quota (preempting lower priorities) and a LocalQueue `team` onto it."""
    made.append(namespace)
    cluster.custom.create_cluster_custom_object(
        KUEUE,
        "v1beta2",
        "clusterqueues",
        {
            "apiVersion": f"{KUEUE}/v1beta2",
            "kind": "ClusterQueue",
            "metadata": {"name": namespace},
            "spec": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                "preemption": {"withinClusterQueue": "LowerPriority"},
                "resourceGroups": [
                    {
                        "coveredResources": ["cpu"],
                        "flavors": [{"name": "default-flavor", "resources": [{"name": "cpu", "nominalQuota": cpu}]}],
                    }
                ],
            },
        },
    )
    cluster.custom.create_namespaced_custom_object(
        KUEUE,
        "v1beta2",
        namespace,
        "localqueues",
        {
            "apiVersion": f"{KUEUE}/v1beta2",
            "kind": "LocalQueue",
            "metadata": {"name": "team"},
            "spec": {"clusterQueue": namespace},
        },
    )


def queued_run(name: str, steps: int, delay: float, record: Path, **spec: Any) -> dict[str, Any]:
    return workflow_run(
        name,
        "kwf_testflows.steps:StepChain",
        {"steps": steps, "delay": delay, "record": str(record)},
        queueName="team",
        template={"resources": {"requests": {"cpu": "250m"}}},
        **spec,
    )


def phases(cluster: Cluster, namespace: str) -> Counter[str]:
    runs = cluster.custom.list_namespaced_custom_object("kube-workflows.dev", "v1alpha1", namespace, "workflowruns")
    return Counter((r.get("status") or {}).get("phase") or "" for r in runs["items"])


def steps_done(cluster: Cluster, namespace: str, name: str) -> int:
    return int(((cluster.run(namespace, name).get("status") or {}).get("checkpoint") or {}).get("stepsCompleted") or 0)


def running_pods(cluster: Cluster, namespace: str) -> int:
    pods = cluster.core.list_namespaced_pod(namespace, label_selector="kube-workflows.dev/run").items
    return sum(1 for p in pods if p.status.phase in ("Pending", "Running") and not p.metadata.deletion_timestamp)


def events(cluster: Cluster, namespace: str, name: str) -> list[str]:
    found = cluster.core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
    return [e.reason for e in found]


def test_a_queue_with_quota_for_two_runs_runs_two_and_queues_three_and_all_five_finish(
    cluster: Cluster, operator: OperatorProcess, kueue: None, namespace: str, tmp_path: Path, cluster_queues: list[str]
) -> None:
    queue(cluster, namespace, cpu="500m", made=cluster_queues)  # 2 runs of 250m
    steps = 6
    for i in range(5):
        cluster.apply(queued_run(f"run-{i}", steps, 0.5, tmp_path / f"record-{i}"), namespace)
    seen = wait_for(
        "2 runs running and 3 Queued",
        lambda: (p := phases(cluster, namespace))["Running"] == 2 and p["Queued"] == 3 and p,
        timeout=120,
    )
    table = cluster.kubectl("get", "wfr", "-n", namespace).stdout
    print(f"\n{table}")
    most = 0
    deadline = time.monotonic() + 300
    while phases(cluster, namespace)["Succeeded"] < 5 and time.monotonic() < deadline:
        most = max(most, running_pods(cluster, namespace))
        assert not phases(cluster, namespace)["Failed"], phases(cluster, namespace)
        time.sleep(0.2)
    assert phases(cluster, namespace)["Succeeded"] == 5, phases(cluster, namespace)
    assert most <= 2, f"{most} runner pods at once with quota for 2"
    assert seen["Queued"] == 3
    for i in range(5):
        status = cluster.run(namespace, f"run-{i}")["status"]
        assert status["result"] == {"steps": steps, "total": sum(range(1, steps + 1))}
        assert status.get("restarts", 0) == 0
        queued = next(c for c in status["conditions"] if c["type"] == "Queued")
        assert (queued["status"], queued["reason"]) == ("False", "Admitted")


def test_a_preempted_run_resumes_from_its_checkpoint_with_no_completed_step_rerun(
    cluster: Cluster, operator: OperatorProcess, kueue: None, namespace: str, tmp_path: Path, cluster_queues: list[str]
) -> None:
    queue(cluster, namespace, cpu="250m", made=cluster_queues)  # one run at a time
    steps = 10
    low_record, high_record = tmp_path / "low", tmp_path / "high"
    cluster.apply(queued_run("low", steps, 0.5, low_record, priorityClass="low"), namespace)
    wait_for("the low-priority run's 3rd step", lambda: steps_done(cluster, namespace, "low") >= 3, timeout=120)
    cluster.apply(queued_run("high", 3, 0.2, high_record, priorityClass="high"), namespace)
    preempted = cluster.wait_phase(namespace, "low", "Queued", timeout=60)
    condition = next(c for c in preempted["status"]["conditions"] if c["type"] == "Queued")
    assert (condition["status"], condition["reason"]) == ("True", "Preempted"), condition
    at = preempted["status"]["checkpoint"]["stepsCompleted"]
    assert at < steps + 1, "preempted too late to show anything"
    print(f"\n{cluster.kubectl('get', 'wfr', '-n', namespace).stdout}")

    high = cluster.wait_phase(namespace, "high", "Succeeded", "Failed", timeout=120)
    assert high["status"]["phase"] == "Succeeded"
    low = cluster.wait_phase(namespace, "low", "Succeeded", "Failed", timeout=180)
    status = low["status"]
    assert status["phase"] == "Succeeded", json.dumps(status.get("conditions"))
    assert status["result"] == {"steps": steps, "total": sum(range(1, steps + 1))}  # the uninterrupted result
    assert count_reruns(status, low_record, steps) == (0, 0)
    counts = Counter(int(line.split()[1]) for line in low_record.read_text().splitlines())
    assert counts == Counter(range(1, steps + 1)), counts  # every step's side effect exactly once
    assert status.get("restarts", 0) == 0  # a preemption is not a pod failure
    assert status["attempt"] >= 2  # one pod before the preemption, one after
    assert "Preempted" in events(cluster, namespace, "low")


def test_suspending_a_queued_run_stops_it_until_resumed_though_kueue_has_room(
    cluster: Cluster, operator: OperatorProcess, kueue: None, namespace: str, tmp_path: Path, cluster_queues: list[str]
) -> None:
    queue(cluster, namespace, cpu="500m", made=cluster_queues)
    steps, record = 8, tmp_path / "record"
    cluster.apply(queued_run("paused", steps, 0.5, record), namespace)
    wait_for("2 steps", lambda: steps_done(cluster, namespace, "paused") >= 2, timeout=120)
    assert cluster.kwf("suspend", "paused", "-n", namespace).returncode == 0
    cluster.wait_phase(namespace, "paused", "Suspended", timeout=60)
    wait_for("the pod to stop", lambda: running_pods(cluster, namespace) == 0, timeout=60)
    # Kueue starts an admitted Job that someone else suspended; a deactivated Workload it leaves alone.
    time.sleep(5)
    assert cluster.run(namespace, "paused")["status"]["phase"] == "Suspended"
    assert running_pods(cluster, namespace) == 0
    assert cluster.kwf("resume", "paused", "-n", namespace).returncode == 0
    status = cluster.wait_phase(namespace, "paused", "Succeeded", "Failed", timeout=180)["status"]
    assert status["phase"] == "Succeeded" and status["result"] == {"steps": steps, "total": sum(range(1, steps + 1))}
    assert count_reruns(status, record, steps) == (0, 0)
    assert status.get("restarts", 0) == 0


def test_a_queued_runs_lost_pod_is_replaced_in_its_admitted_job(
    cluster: Cluster, operator: OperatorProcess, kueue: None, namespace: str, tmp_path: Path, cluster_queues: list[str]
) -> None:
    queue(cluster, namespace, cpu="250m", made=cluster_queues)
    steps, record = 8, tmp_path / "record"
    cluster.apply(queued_run("crashy", steps, 0.5, record), namespace)
    wait_for("2 steps", lambda: steps_done(cluster, namespace, "crashy") >= 2, timeout=120)
    job = cluster.run(namespace, "crashy")["status"]["jobName"]
    pod = next(p.metadata.name for p in cluster.runner_pods(namespace, "crashy") if p.status.phase == "Running")
    assert cluster.crash_pod(namespace, pod)
    status = cluster.wait_phase(namespace, "crashy", "Succeeded", "Failed", timeout=180)["status"]
    assert status["phase"] == "Succeeded" and status["result"] == {"steps": steps, "total": sum(range(1, steps + 1))}
    assert status["jobName"] == job  # the same, still admitted Job: no second trip through the queue
    assert status["restarts"] == 1
    assert count_reruns(status, record, steps)[0] == 0
